package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/vmtest"
)

// The virtual servers of every case and sample as keepalived 2.2.7 runs
// them, next to the director's: keepalived's checker process needs IPVS,
// so it runs in the VM (TestGuestCompatLVS), with the samples copied in.
func TestKernelCompatLVS(t *testing.T) {
	const bin = "/usr/sbin/keepalived"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("keepalived is not installed (scripts/install-test-deps.sh)")
		}
		t.Skip("keepalived is not installed")
	}
	files, err := vmtest.ProgramFiles(bin)
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join(SamplesDir, "keepalived.conf.*"))
	for _, s := range samples {
		files[s] = s
	}
	vmtest.Run(t, vmtest.Config{Package: "./internal/compat", Run: "^TestGuestCompatLVS$", Files: files, Timeout: 10 * time.Minute})
}

var virtualServer = regexp.MustCompile(`(?m)^\s*virtual_server\s`)

// The guest half: each file with a virtual_server through keepalived's
// checker process (--dump-conf) and the director; the values must agree,
// but for the differences LVSDifferences names.
func TestGuestCompatLVS(t *testing.T) {
	vmtest.RequireGuest(t)
	cases, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	samples, err := Samples(SamplesDir)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	var table strings.Builder
	table.WriteString("| case | virtual servers | values equal? |\n|---|---|---|\n")
	for _, c := range append(cases, samples...) {
		if !virtualServer.Match(c.Text) {
			continue
		}
		conf := filepath.Join(t.TempDir(), "keepalived.conf")
		if err := os.WriteFile(conf, c.Text, 0o644); err != nil {
			t.Fatal(err)
		}
		log := runChecker(t, conf)
		cfg, _, perr := keepalived.ParseFile(conf, keepalived.Options{Host: host})
		plan, _, lerr := director.Load(conf, host)
		if !strings.Contains(log, "------< LVS Topology >------") || perr != nil || lerr != nil {
			// One side does not run the file: the netns suite compares
			// the verdicts.
			table.WriteString("| " + c.Name + " | n/a (not run by both) | n/a |\n")
			continue
		}
		k := parseLVSDump(log)
		diffs := diffLVS(k, planLVSValues(cfg, plan))
		services := strings.Count(strings.Join(keysOf(k), "\n"), "SERVICE ")
		_, named := LVSDifferences[c.Name]
		switch {
		case len(diffs) > 0 && !named:
			t.Errorf("%s: the director runs the virtual servers differently:\n%s\nkeepalived:\n%s", c.Name, strings.Join(diffs, "\n"), log)
		case len(diffs) == 0 && named:
			t.Errorf("%s is named in LVSDifferences but no longer differs", c.Name)
		}
		equal := "yes"
		if len(diffs) > 0 {
			equal = "no: " + strings.Join(diffs, "; ") + " — " + LVSDifferences[c.Name]
		}
		table.WriteString("| " + c.Name + " | " + strconv.Itoa(services) + " | " + equal + " |\n")
	}
	t.Logf("virtual servers as keepalived 2.2.7 and the director run them:\n%s", table.String())
}

func keysOf(v Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	return out
}

// runChecker runs keepalived's checker process on conf until it has dumped
// its configuration (or exited), stops it, and returns its log.
func runChecker(t *testing.T, conf string) string {
	t.Helper()
	dir := t.TempDir()
	var log nslab.Buffer
	c := exec.Command("/usr/sbin/keepalived", "--check", "--dump-conf", "-n", "-l", "-D", "-f", conf,
		"-p", filepath.Join(dir, "k.pid"), "-c", filepath.Join(dir, "c.pid"))
	c.Stdout, c.Stderr = &log, &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	end := time.Now().Add(30 * time.Second)
	for time.Now().Before(end) && !strings.Contains(log.String(), "Activating") {
		select {
		case <-done:
			return log.String()
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = c.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
	_ = exec.Command("/sbin/ipvsadm", "-C").Run()
	return log.String()
}
