package vmtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config says what to run in the guest. The zero value of every field is
// a usable default.
type Config struct {
	// Package is the Go package whose test binary runs in the guest, as
	// given to `go test -c` from the module root: "./ipvs" or a full
	// import path. It is built with CGO_ENABLED=0 and placed at
	// /lvskit/test.bin in the guest. Empty means no test binary; then
	// Command must be set.
	Package string

	// Run is the -test.run pattern. Empty runs every test of Package
	// (host-side tests then skip themselves in the guest).
	Run string

	// Args are extra arguments for the test binary, after -test.run and
	// -test.v, for example "-test.count=1" or "-test.bench=.".
	Args []string

	// Command, when set, runs instead of the test binary: Command[0] is an
	// absolute path in the guest (a file from Files, /lvskit/test.bin,
	// or a guest tool such as /sbin/ip). Its exit status decides pass or
	// fail like the test binary's.
	Command []string

	// Files are extra host files copied into the guest, keyed by absolute
	// guest path (for example a static binary for Command). Host
	// permissions are kept.
	Files map[string]string

	// Env are extra "KEY=value" variables for the guest program. The
	// guest always has LVSKIT_IN_VM=1, GOMAXPROCS set to CPUs, and CI
	// copied from the host when set.
	Env []string

	// MemoryMiB is the guest's memory. Zero means 1024.
	MemoryMiB int

	// CPUs is the number of virtual CPUs. Zero means 1.
	CPUs int

	// Timeout bounds the boot and run of the VM (not the build, nor the
	// wait for a VM slot). Zero means 5 minutes; it is shortened to fit
	// the test's own deadline. The guest test binary gets -test.timeout
	// 30s shorter, so a hung guest test dumps its goroutines first.
	Timeout time.Duration

	// CacheDir holds the kernel package and base initramfs. Empty means
	// .cache/vmtest under the module root.
	CacheDir string
}

// Result is what a guest run produced.
type Result struct {
	// ExitStatus is the guest program's exit status, -1 if no marker was seen.
	ExitStatus int
	// Console holds every console line, without carriage returns.
	Console []string
}

// guestEnv is set by the guest's /init.
const guestEnv = "LVSKIT_IN_VM"

// exitMarker starts the line the guest prints after the program ended:
// "LVSKIT-VM-EXIT <nonce> <status>".
const exitMarker = "LVSKIT-VM-EXIT"

// installHint is appended to every "missing tool" message.
const installHint = "run scripts/install-test-deps.sh as root"

// InGuest reports whether the code runs inside the vmtest guest.
func InGuest() bool { return os.Getenv(guestEnv) == "1" }

// RequireGuest skips the test unless it runs inside the vmtest guest.
// Guest tests are started from the host by a test that calls Run.
func RequireGuest(t testing.TB) {
	t.Helper()
	if !InGuest() {
		t.Skip("vmtest: runs only inside the IPVS kernel VM; started from the host by vmtest.Run")
	}
}

// skipOrFail skips, or fails when CI=true where the test must run.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("vmtest: %s (CI=true: this test must run here)", msg)
	}
	t.Skipf("vmtest: %s", msg)
}

// Run builds what cfg names, boots the IPVS kernel under qemu (TCG) with
// it, streams every console line into t.Log as it arrives, and fails t
// when the guest program fails, the VM times out, or no exit marker is
// seen. It skips when not root or when host tools are missing (and fails
// instead under CI=true), and skips inside the guest, so a guest pattern
// that also matches the host half is harmless.
func Run(t testing.TB, cfg Config) *Result {
	t.Helper()
	res := &Result{ExitStatus: -1}
	if InGuest() {
		// The host half matched the guest's -test.run pattern.
		t.Skip("vmtest: host half of a kernel test; skipped inside the guest")
		return res
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (chroot to build the initramfs; tests run as root in the guest)")
		return res
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		skipOrFail(t, "qemu-system-x86_64 not found (package qemu-system-x86); %s", installHint)
		return res
	}
	if _, _, err := findHostPrograms(); err != nil {
		skipOrFail(t, "%v; %s", err, installHint)
		return res
	}
	if cfg.Package == "" && len(cfg.Command) == 0 {
		t.Fatal("vmtest: Config needs Package or Command")
		return res
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("vmtest: %v", err)
		return res
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(root, ".cache", "vmtest")
	}

	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancelBuild()
	start := time.Now()
	boot, err := ensureBoot(buildCtx, cacheDir, t.Logf)
	if err != nil {
		if errors.Is(err, errMissing) {
			skipOrFail(t, "%v; %s", err, installHint)
			return res
		}
		t.Fatalf("vmtest: prepare kernel and initramfs: %v", err)
		return res
	}
	work := t.TempDir()
	var testBin string
	if cfg.Package != "" {
		testBin = filepath.Join(work, "test.bin")
		if err := buildTestBinary(buildCtx, root, cfg.Package, testBin); err != nil {
			t.Fatalf("vmtest: %v", err)
			return res
		}
	}
	nonce := newNonce()
	initrd := filepath.Join(work, "initrd")
	if err := writeRunInitrd(initrd, boot.initrd, cfg, testBin, nonce); err != nil {
		t.Fatalf("vmtest: %v", err)
		return res
	}
	t.Logf("vmtest: kernel %s ready and guest program built in %v", boot.release, time.Since(start).Round(time.Millisecond))

	// One TCG guest keeps a host CPU busy. More VMs than CPUs (go test
	// runs packages in parallel) would only slow each other down until
	// their timeouts hit, so VMs wait for a slot and their timeout starts
	// once they have one.
	slotCtx, cancelSlot := context.WithTimeout(context.Background(), slotWait(t))
	release, err := acquireVMSlot(slotCtx, filepath.Join(os.TempDir(), "lvskit-vmtest"), t.Logf)
	cancelSlot()
	if err != nil {
		t.Fatalf("vmtest: wait for a VM slot: %v", err)
		return res
	}
	defer release()
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok {
			// Leave time to report before go test's own timeout panics.
			if left := time.Until(dl) - 10*time.Second; left < timeout {
				timeout = max(left, 10*time.Second)
			}
		}
	}
	res.Console, res.ExitStatus, err = boot.run(t, qemu, initrd, cfg, nonce, timeout)
	if err != nil {
		t.Errorf("vmtest: %v\nlast console lines:\n%s", err, tail(res.Console, 40))
		return res
	}
	if res.ExitStatus != 0 {
		t.Errorf("vmtest: guest program exited with status %d\nlast console lines:\n%s", res.ExitStatus, tail(res.Console, 40))
	}
	return res
}

// acquireVMSlot takes one of runtime.NumCPU() machine-wide VM slots
// (flocks in dir, shared by every checkout) and returns its release.
func acquireVMSlot(ctx context.Context, dir string, logf func(string, ...any)) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var slots []string
	for i := range max(runtime.NumCPU(), 1) {
		slots = append(slots, filepath.Join(dir, fmt.Sprintf("vm-slot-%d", i)))
	}
	quick, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	release, err := lockAny(quick, slots)
	cancel()
	if err == nil {
		return release, nil
	}
	logf("vmtest: all %d VM slots busy (one per host CPU); waiting", len(slots))
	start := time.Now()
	release, err = lockAny(ctx, slots)
	if err == nil {
		logf("vmtest: got a VM slot after %v", time.Since(start).Round(time.Millisecond))
	}
	return release, err
}

// slotWait bounds the wait for a VM slot: until shortly before the test's
// deadline, or 15 minutes.
func slotWait(t testing.TB) time.Duration {
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok {
			return max(time.Until(dl)-time.Minute, time.Second)
		}
	}
	return 15 * time.Minute
}

func tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}

func newNonce() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// moduleRoot is the folder holding go.mod, from `go env GOMOD`.
func moduleRoot() (string, error) {
	out, err := runOutput(context.Background(), "", "go", "env", "GOMOD")
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	mod := strings.TrimSpace(out)
	if mod == "" || mod == os.DevNull {
		return "", errors.New("find module root: not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

// buildTestBinary runs `go test -c` for pkg with cgo off, so the binary
// is static and runs in the guest without libraries.
func buildTestBinary(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build test binary of %s: %w\n%s", pkg, err, msg)
	}
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("build test binary of %s: no binary written (package without tests?)", pkg)
	}
	return nil
}

// BuildBinary builds the main package pkg (as given to `go build` from the
// module root, e.g. "./examples/demo") as a static binary for the guest
// and returns its host path, for Config.Files. It fails t on error.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("vmtest: %v", err)
	}
	out := filepath.Join(t.TempDir(), path.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vmtest: build %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// shellQuote quotes s for the guest's sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runScript is /lvskit/run.sh: environment, working folder, the program,
// and the exit marker with the nonce the host waits for.
func runScript(cfg Config, hasTestBin bool, nonce string) (string, error) {
	cpus := cfg.CPUs
	if cpus <= 0 {
		cpus = 1
	}
	var b strings.Builder
	b.WriteString("# generated by internal/vmtest for one run\n")
	env := []string{"GOMAXPROCS=" + strconv.Itoa(cpus)}
	if ci, ok := os.LookupEnv("CI"); ok {
		env = append(env, "CI="+ci)
	}
	env = append(env, cfg.Env...)
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n'\"$;&|") {
			return "", fmt.Errorf("set guest env: entry %q in Config.Env is not KEY=value", kv)
		}
		b.WriteString("export " + shellQuote(kv) + "\n")
	}
	b.WriteString("cd /tmp/work || exit 1\n")
	argv := cfg.Command
	if len(argv) == 0 {
		if !hasTestBin {
			return "", errors.New("write run script: nothing to run, set Config.Package or Config.Command")
		}
		argv = []string{"/lvskit/test.bin", "-test.v"}
		if cfg.Run != "" {
			argv = append(argv, "-test.run", cfg.Run)
		}
		if cfg.Timeout <= 0 || cfg.Timeout > time.Minute {
			// Let the test binary dump its goroutines before the VM is killed.
			to := cfg.Timeout
			if to <= 0 {
				to = 5 * time.Minute
			}
			argv = append(argv, "-test.timeout", (to - 30*time.Second).String())
		}
		argv = append(argv, cfg.Args...)
	} else if !path.IsAbs(argv[0]) {
		return "", fmt.Errorf("run command: Config.Command[0] %q is not an absolute guest path", argv[0])
	}
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(shellQuote(a))
	}
	b.WriteString("\nstatus=$?\necho\n")
	fmt.Fprintf(&b, "echo \"%s %s $status\"\n", exitMarker, nonce)
	return b.String(), nil
}

// writeRunInitrd writes the per-run initrd: the cached base archive
// followed by an uncompressed archive with run.sh, the test binary and
// Files. The kernel unpacks concatenated archives in order.
func writeRunInitrd(dst, base string, cfg Config, testBin, nonce string) error {
	script, err := runScript(cfg, testBin != "", nonce)
	if err != nil {
		return err
	}
	if err := copyFile(dst, base, 0o644); err != nil {
		return fmt.Errorf("write initrd: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("write initrd: %w", err)
	}
	defer f.Close()
	cw := newCPIOWriter(f)
	cw.File("lvskit/run.sh", 0o755, []byte(script))
	if testBin != "" {
		cw.FileFrom("lvskit/test.bin", 0o755, testBin)
	}
	guestPaths := make([]string, 0, len(cfg.Files))
	for g := range cfg.Files {
		guestPaths = append(guestPaths, g)
	}
	sort.Strings(guestPaths)
	for _, g := range guestPaths {
		if !path.IsAbs(g) {
			return fmt.Errorf("add file: guest path %q in Config.Files is not absolute", g)
		}
		host := cfg.Files[g]
		st, err := os.Stat(host)
		if err != nil {
			return fmt.Errorf("add file: %w", err)
		}
		cw.FileFrom(g, uint32(st.Mode().Perm()), host)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("write initrd: %w", err)
	}
	return f.Close()
}

// kernelCmdline is the guest's kernel command line.
func kernelCmdline() string {
	return strings.Join([]string{
		"console=ttyS0",
		"panic=-1", // with -no-reboot, a panic ends qemu
		"oops=panic",
		"loglevel=3",
		"random.trust_cpu=on", // -cpu max has RDRAND: no wait for entropy
		"mitigations=off",     // faster under TCG; nothing to protect here
		"nokaslr",
		"tsc=reliable",
		"no_timer_check",
		"rdinit=/init",
	}, " ")
}

// qemuArgs is the qemu command line for one run.
func (b bootFiles) qemuArgs(initrd string, cfg Config) []string {
	mem := cfg.MemoryMiB
	if mem <= 0 {
		mem = 1024
	}
	cpus := cfg.CPUs
	if cpus <= 0 {
		cpus = 1
	}
	return []string{
		"-accel", "tcg", // never KVM: it hangs on these machines
		"-cpu", "max",
		"-m", strconv.Itoa(mem),
		"-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-reboot", "-display", "none",
		"-serial", "stdio",
		"-kernel", b.kernel,
		"-initrd", initrd,
		"-append", kernelCmdline(),
	}
}

// parseExitMarker reads the status from a console line carrying the
// marker with this run's nonce.
func parseExitMarker(line, nonce string) (int, bool) {
	_, rest, ok := strings.Cut(line, exitMarker+" "+nonce+" ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.Fields(rest + " x")[0])
	if err != nil {
		return 0, false
	}
	return n, true
}

// run boots qemu and streams its console into t.Log until it exits or
// the timeout passes.
func (b bootFiles) run(t testing.TB, qemu, initrd string, cfg Config, nonce string, timeout time.Duration) ([]string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, b.qemuArgs(initrd, cfg)...)
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, -1, fmt.Errorf("start qemu: %w", err)
	}
	var (
		mu      sync.Mutex
		lines   []string
		status  = -1
		killer  *time.Timer
		scanned = make(chan struct{})
	)
	go func() {
		defer close(scanned)
		// Lines longer than the buffer come in pieces rather than
		// stopping the stream (and losing the exit marker).
		br := bufio.NewReaderSize(pr, 64<<10)
		for {
			chunk, err := br.ReadSlice('\n')
			if len(chunk) == 0 && err != nil {
				break
			}
			line := strings.ReplaceAll(strings.TrimSuffix(string(chunk), "\n"), "\r", "")
			t.Logf("vm %5.1fs: %s", time.Since(start).Seconds(), line)
			mu.Lock()
			lines = append(lines, line)
			if s, ok := parseExitMarker(line, nonce); ok && status < 0 {
				status = s
				// The result is in; a guest that then fails to power
				// off must not hold the test until the timeout.
				killer = time.AfterFunc(15*time.Second, func() { cmd.Process.Kill() })
			}
			mu.Unlock()
		}
	}()
	waitErr := cmd.Wait()
	pw.Close()
	<-scanned
	t.Logf("vmtest: qemu ran %v", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if killer != nil {
		killer.Stop()
	}
	switch {
	case status >= 0:
		// The guest reported; how qemu ended after that does not matter.
	case ctx.Err() != nil:
		return lines, status, fmt.Errorf("VM timed out after %v without the guest reporting an exit status", timeout)
	case status < 0 && waitErr != nil:
		return lines, status, fmt.Errorf("qemu failed before the guest program finished: %w", waitErr)
	case status < 0:
		return lines, status, fmt.Errorf("VM stopped without the %s marker (guest crashed or /init failed)", exitMarker)
	}
	return lines, status, nil
}
