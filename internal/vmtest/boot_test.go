package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// TestKernelBoot boots the IPVS kernel and runs TestGuestBoot inside it.
// It fails if the VM cannot boot, the modules do not load, the tools are
// missing in the guest, or the exit status does not come back.
func TestKernelBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	t.Parallel()
	res := Run(t, Config{Package: "./internal/vmtest", Run: "^TestGuestBoot$"})
	if t.Failed() || t.Skipped() {
		return
	}
	// The guest test must actually have run (not skipped) and passed.
	var sawPass bool
	for _, l := range res.Console {
		if strings.Contains(l, "--- SKIP: TestGuestBoot") {
			t.Errorf("guest test skipped itself: %s", l)
		}
		if strings.Contains(l, "--- PASS: TestGuestBoot") {
			sawPass = true
		}
	}
	if !sawPass {
		t.Errorf("console has no \"--- PASS: TestGuestBoot\" line")
	}
}

// TestKernelBootReportsFailure checks the harness's negative paths: a
// guest program (from Config.Files, run by Config.Command) that exits 3
// must come back as status 3 and fail the test, and a guest that never
// finishes must be stopped at the timeout and fail the test.
func TestKernelBootReportsFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two VMs")
	}
	t.Parallel()
	t.Run("exit_status", func(t *testing.T) {
		t.Parallel()
		prog := BuildBinary(t, "./internal/vmtest/testdata/guestprog")
		res, rec := runRecorded(t, Config{
			Files:   map[string]string{"/opt/lvskit/guestprog": prog},
			Command: []string{"/opt/lvskit/guestprog", "3", "two words"},
		})
		if rec.skipped {
			t.Skip(rec.msg)
		}
		if res == nil {
			t.Fatalf("Run stopped early: %s", rec.msg)
		}
		if res.ExitStatus != 3 {
			t.Errorf("ExitStatus = %d, want 3", res.ExitStatus)
		}
		if !rec.failed || !strings.Contains(rec.msg, "exited with status 3") {
			t.Errorf("Run did not fail the test for the guest's exit status 3 (recorded: %q)", rec.msg)
		}
		// The program came from Files, ran as root in the guest with
		// IPVS, and got its arguments intact.
		want := `guestprog: in-vm=1 uid=0 ipvs=true args=["3" "two words"]`
		if !slices.Contains(res.Console, want) {
			t.Errorf("console lacks the guest program's line %q", want)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		// The guest may not even finish booting in 10s; either way it
		// reports nothing in time, which is the path under test.
		res, rec := runRecorded(t, Config{
			Command: []string{"/bin/sleep", "3600"},
			Timeout: 10 * time.Second,
		})
		if rec.skipped {
			t.Skip(rec.msg)
		}
		if res == nil {
			t.Fatalf("Run stopped early: %s", rec.msg)
		}
		if !rec.failed || !strings.Contains(rec.msg, "timed out") {
			t.Errorf("Run did not fail the test for a VM that never finished (recorded: %q)", rec.msg)
		}
		if res.ExitStatus != -1 {
			t.Errorf("ExitStatus = %d, want -1 (no marker)", res.ExitStatus)
		}
	})
}

// runRecorded calls Run with a testing.TB that records failures and skips
// instead of acting on them, in its own goroutine so a recorded Fatal or
// Skip (runtime.Goexit) only ends that goroutine.
func runRecorded(t *testing.T, cfg Config) (*Result, *recordingTB) {
	rec := &recordingTB{TB: t}
	var res *Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = Run(rec, cfg)
	}()
	<-done
	return res, rec
}

// recordingTB records failures and skips instead of acting on them.
type recordingTB struct {
	testing.TB
	mu              sync.Mutex
	failed, skipped bool
	msg             string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	r.TB.Logf("(recorded error) "+format, args...)
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func (r *recordingTB) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// TestGuestBoot runs inside the VM: IPVS is there, ipvsadm changes and
// reads the kernel's table, every scheduler loads, and network namespaces
// with veth links carry traffic.
func TestGuestBoot(t *testing.T) {
	RequireGuest(t)

	t.Run("proc_net_ip_vs", func(t *testing.T) {
		b, err := os.ReadFile("/proc/net/ip_vs")
		if err != nil {
			t.Fatalf("IPVS not loaded: %v", err)
		}
		if !strings.Contains(string(b), "IP Virtual Server version") {
			t.Errorf("/proc/net/ip_vs = %q, want the IPVS banner", b)
		}
	})

	t.Run("modules", func(t *testing.T) {
		b, err := os.ReadFile("/proc/modules")
		if err != nil {
			t.Fatal(err)
		}
		loaded := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				loaded[f[0]] = true
			}
		}
		for _, m := range guestModules {
			if !m.optional && !loaded[m.name] {
				t.Errorf("module %s not loaded", m.name)
			}
		}
		for _, m := range []string{"nf_tables", "nft_masq", "macvlan", "ipip", "sctp", "ip_vs_mh"} {
			if !loaded[m] {
				t.Errorf("module %s (shipped by Debian's 6.1 kernel) not loaded", m)
			}
		}
		// modules.dep works: unload a scheduler and load it back by name.
		run(t, "/sbin/rmmod", "ip_vs_sh")
		run(t, "/sbin/modprobe", "ip_vs_sh")
		if _, err := os.Stat("/sys/module/ip_vs_sh"); err != nil {
			t.Errorf("modprobe ip_vs_sh did not load it: %v", err)
		}
	})

	t.Run("tools", func(t *testing.T) {
		if out := run(t, "/sbin/ip", "-V"); !strings.Contains(out, "iproute2") {
			t.Errorf("/sbin/ip -V = %q, want full iproute2", out)
		}
		if out := run(t, "/sbin/ipvsadm", "--version"); !strings.Contains(out, "ipvsadm") {
			t.Errorf("/sbin/ipvsadm --version = %q", out)
		}
		if p, err := exec.LookPath("ip"); err != nil || p != "/sbin/ip" {
			t.Errorf("LookPath(ip) = %q, %v; want /sbin/ip", p, err)
		}
		if _, err := os.Stat("/usr/sbin/nft"); err == nil {
			run(t, "/usr/sbin/nft", "add", "table", "inet", "vmtest")
			if out := run(t, "/usr/sbin/nft", "list", "tables"); !strings.Contains(out, "table inet vmtest") {
				t.Errorf("nft list tables = %q", out)
			}
			run(t, "/usr/sbin/nft", "delete", "table", "inet", "vmtest")
		}
	})

	t.Run("ipvsadm_add_list", func(t *testing.T) {
		ipvsadm(t, "-C")
		t.Cleanup(func() { ipvsadm(t, "-C") })
		ipvsadm(t, "-A", "-t", "10.0.0.1:80", "-s", "rr")
		ipvsadm(t, "-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2:8080", "-m", "-w", "3")
		out := ipvsadm(t, "-Ln")
		for _, want := range []string{"TCP  10.0.0.1:80 rr", "-> 10.0.0.2:8080", "Masq    3"} {
			if !strings.Contains(out, want) {
				t.Errorf("ipvsadm -Ln lacks %q:\n%s", want, out)
			}
		}
		proc, err := os.ReadFile("/proc/net/ip_vs")
		if err != nil {
			t.Fatal(err)
		}
		// The kernel's own view: 10.0.0.1:80 and 10.0.0.2:8080 in hex.
		for _, want := range []string{"TCP  0A000001:0050 rr", "-> 0A000002:1F90"} {
			if !strings.Contains(string(proc), want) {
				t.Errorf("/proc/net/ip_vs lacks %q:\n%s", want, proc)
			}
		}
	})

	t.Run("schedulers", func(t *testing.T) {
		ipvsadm(t, "-C")
		t.Cleanup(func() { ipvsadm(t, "-C") })
		scheds := []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}
		for i, s := range scheds {
			ipvsadm(t, "-A", "-t", fmt.Sprintf("10.0.1.1:%d", 1000+i), "-s", s)
		}
		out := ipvsadm(t, "-Ln")
		for i, s := range scheds {
			if want := fmt.Sprintf("TCP  10.0.1.1:%d %s", 1000+i, s); !strings.Contains(out, want) {
				t.Errorf("ipvsadm -Ln lacks %q", want)
			}
		}
	})

	t.Run("netns_veth_ping", func(t *testing.T) {
		// One namespace the way the library's tests make them
		// (vishvananda/netns bind mount), one with iproute2.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			t.Fatal(err)
		}
		a, err := netns.NewNamed("vmtest-a")
		if serr := netns.Set(orig); serr != nil {
			t.Fatalf("restore netns: %v", serr)
		}
		orig.Close()
		runtime.UnlockOSThread()
		if err != nil {
			t.Fatalf("create named netns: %v", err)
		}
		a.Close()
		t.Cleanup(func() { netns.DeleteNamed("vmtest-a") })
		run(t, "/sbin/ip", "netns", "add", "vmtest-b")
		t.Cleanup(func() { exec.Command("/sbin/ip", "netns", "del", "vmtest-b").Run() })

		if out := run(t, "/sbin/ip", "netns", "list"); !strings.Contains(out, "vmtest-a") || !strings.Contains(out, "vmtest-b") {
			t.Fatalf("ip netns list = %q, want vmtest-a and vmtest-b", out)
		}
		run(t, "/sbin/ip", "-n", "vmtest-a", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", "vmtest-b")
		run(t, "/sbin/ip", "-n", "vmtest-a", "addr", "add", "10.200.0.1/24", "dev", "va")
		run(t, "/sbin/ip", "-n", "vmtest-b", "addr", "add", "10.200.0.2/24", "dev", "vb")
		for _, ns := range []string{"vmtest-a", "vmtest-b"} {
			run(t, "/sbin/ip", "-n", ns, "link", "set", "lo", "up")
		}
		run(t, "/sbin/ip", "-n", "vmtest-a", "link", "set", "va", "up")
		run(t, "/sbin/ip", "-n", "vmtest-b", "link", "set", "vb", "up")
		out := run(t, "/sbin/ip", "netns", "exec", "vmtest-a", "ping", "-c", "1", "-W", "5", "10.200.0.2")
		if !strings.Contains(out, "1 packets received") {
			t.Errorf("ping output lacks a reply:\n%s", out)
		}
	})
}

func ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "/sbin/ipvsadm", args...)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
