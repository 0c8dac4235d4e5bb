package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// kernelMeta is the name (linux-image-amd64) whose dependency selects the
// kernel package, as on any Debian 12 machine.
const kernelMeta = "linux-image-amd64"

// kernelPkg identifies a downloaded Debian kernel package.
type kernelPkg struct {
	name    string // linux-image-6.1.0-56-amd64
	version string // Debian version, 6.1.192-2
	deb     string // path of the .deb in the cache
}

// release is the kernel release (uname -r), e.g. 6.1.0-56-amd64.
func (k kernelPkg) release() string { return strings.TrimPrefix(k.name, "linux-image-") }

// versionedImage matches the generic amd64 flavour only (not -rt-amd64 or
// -cloud-amd64): 6.1.0-56-amd64 on Debian 12, 6.12.43+deb13-amd64 later.
var versionedImage = regexp.MustCompile(`^linux-image-[0-9][0-9a-z.+~]*(-[0-9]+)?-amd64$`)

// parseAptDepends finds the versioned kernel package in the output of
// `apt-cache depends linux-image-amd64`.
func parseAptDepends(out string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "|")
		dep, ok := strings.CutPrefix(line, "Depends:")
		if !ok {
			continue
		}
		dep = strings.TrimSpace(dep)
		if versionedImage.MatchString(dep) {
			return dep, true
		}
	}
	return "", false
}

// parseAptCandidate finds the candidate version in `apt-cache policy PKG`.
func parseAptCandidate(out string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Candidate:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || v == "(none)" {
			return "", false
		}
		return v, true
	}
	return "", false
}

// debFileName is the name apt-get download gives a package file.
func debFileName(name, version string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_amd64.deb"
}

func runOutput(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("run %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// resolveKernel asks apt which versioned kernel linux-image-amd64 depends
// on and its candidate version, running apt-get update once when the
// package lists are empty.
func resolveKernel(ctx context.Context, logf func(string, ...any)) (name, version string, err error) {
	for attempt := 0; ; attempt++ {
		out, derr := runOutput(ctx, "", "apt-cache", "depends", kernelMeta)
		name, ok := parseAptDepends(out)
		if derr == nil && ok {
			pol, perr := runOutput(ctx, "", "apt-cache", "policy", name)
			if v, ok := parseAptCandidate(pol); perr == nil && ok {
				return name, v, nil
			}
		}
		if attempt > 0 {
			if derr != nil {
				return "", "", fmt.Errorf("resolve kernel package: %w", derr)
			}
			return "", "", fmt.Errorf("resolve kernel package: apt knows no candidate for %s (output %q)", kernelMeta, out)
		}
		logf("vmtest: apt lists do not resolve %s; running apt-get update", kernelMeta)
		if _, err := runOutput(ctx, "", "apt-get", "update", "-qq"); err != nil {
			return "", "", fmt.Errorf("resolve kernel package: %w", err)
		}
	}
}

// cachedKernels lists kernel packages already in debDir, newest name first.
func cachedKernels(debDir string) []kernelPkg {
	matches, _ := filepath.Glob(filepath.Join(debDir, "linux-image-*_amd64.deb"))
	var ks []kernelPkg
	for _, m := range matches {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(m), ".deb"), "_")
		if len(parts) != 3 || !versionedImage.MatchString(parts[0]) {
			continue
		}
		ks = append(ks, kernelPkg{name: parts[0], version: strings.ReplaceAll(parts[1], "%3a", ":"), deb: m})
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].deb > ks[j].deb })
	return ks
}

// fetchKernel makes sure the kernel package is in cacheDir/debs and
// returns it. It downloads with apt-get download only when the resolved
// package is not cached yet, and falls back to a cached package when apt
// cannot resolve one (for instance offline with stale lists).
func fetchKernel(ctx context.Context, cacheDir string, logf func(string, ...any)) (kernelPkg, error) {
	debDir := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return kernelPkg{}, fmt.Errorf("create cache: %w", err)
	}
	name, version, err := resolveKernel(ctx, logf)
	if err != nil {
		if ks := cachedKernels(debDir); len(ks) > 0 {
			logf("vmtest: %v; using cached %s", err, filepath.Base(ks[0].deb))
			return ks[0], nil
		}
		return kernelPkg{}, err
	}
	k := kernelPkg{name: name, version: version, deb: filepath.Join(debDir, debFileName(name, version))}
	if _, err := os.Stat(k.deb); err == nil {
		return k, nil
	}
	// The caller holds the cache lock: leftovers are from killed processes.
	stale, _ := filepath.Glob(filepath.Join(debDir, "download-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}
	tmp, err := os.MkdirTemp(debDir, "download-")
	if err != nil {
		return kernelPkg{}, fmt.Errorf("download kernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	logf("vmtest: downloading %s=%s with apt-get download", name, version)
	if err := download(ctx, tmp, k); err != nil {
		if ks := cachedKernels(debDir); len(ks) > 0 {
			logf("vmtest: %v; using cached %s", err, filepath.Base(ks[0].deb))
			return ks[0], nil
		}
		return kernelPkg{}, err
	}
	// Only the newest kernel is kept; each package is 70 MB.
	for _, old := range cachedKernels(debDir) {
		if old.deb != k.deb {
			os.Remove(old.deb)
		}
	}
	return k, nil
}

func download(ctx context.Context, tmp string, k kernelPkg) error {
	if _, err := runOutput(ctx, tmp, "apt-get", "download", "-qq", k.name+"="+k.version); err != nil {
		return fmt.Errorf("download kernel: %w", err)
	}
	got, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(got) != 1 {
		return fmt.Errorf("download kernel: expected one .deb from apt-get download, found %d", len(got))
	}
	if err := os.Rename(got[0], k.deb); err != nil {
		return fmt.Errorf("download kernel: %w", err)
	}
	return nil
}
