package vrrp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/clock/clocktest"
)

// fakeProc is a directory laid out like /proc, for the scans.
type fakeProc struct {
	t   *testing.T
	dir string
	pid int
}

func newFakeProc(t *testing.T) *fakeProc { return &fakeProc{t: t, dir: t.TempDir(), pid: 100} }

// add makes a process with comm, state and command line (words).
func (f *fakeProc) add(comm string, state byte, argv ...string) string {
	f.pid++
	d := filepath.Join(f.dir, fmt.Sprint(f.pid))
	if err := os.Mkdir(d, 0o755); err != nil {
		f.t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (%s) %c 1 1 1 0 -1", f.pid, comm, state)
	cmdline := ""
	for _, a := range argv {
		cmdline += a + "\x00"
	}
	for name, b := range map[string]string{"stat": stat, "cmdline": cmdline} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(b), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	return d
}

func (f *fakeProc) count(c ProcessConfig) int {
	f.t.Helper()
	p := &procTracker{cfg: c, root: f.dir}
	n, err := p.count()
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// Matching as keepalived's read_procs and check_params: by comm without
// parameters (zombies left out), by argv[0] with them or full_command, and
// the parameters exactly, as whole leading words (partial), or as a
// leading string (initial).
func TestProcessMatch(t *testing.T) {
	f := newFakeProc(t)
	f.add("nginx", 'S', "nginx: master process", "-g", "daemon off;")
	f.add("nginx", 'S', "/usr/sbin/nginx", "-c", "/etc/nginx.conf")
	f.add("nginx", 'Z')
	f.add("bash", 'S', "/usr/sbin/nginx")
	f.add("my (odd) name", 'R', "x")
	for _, tc := range []struct {
		name string
		c    ProcessConfig
		want int
	}{
		{"comm", ProcessConfig{Name: "nginx"}, 2},
		{"comm with parentheses", ProcessConfig{Name: "my (odd) name"}, 1},
		{"full command", ProcessConfig{Name: "/usr/sbin/nginx", FullCommand: true}, 2},
		{"exact", ProcessConfig{Name: "/usr/sbin/nginx", Params: []string{"-c", "/etc/nginx.conf"}}, 1},
		{"exact, fewer", ProcessConfig{Name: "/usr/sbin/nginx", Params: []string{"-c"}}, 0},
		{"exact without params", ProcessConfig{Name: "/usr/sbin/nginx", ParamMatch: ParamMatchExact}, 1},
		{"partial", ProcessConfig{Name: "/usr/sbin/nginx", Params: []string{"-c"}, ParamMatch: ParamMatchPartial}, 1},
		{"partial, part of a word", ProcessConfig{Name: "/usr/sbin/nginx", Params: []string{"-c", "/etc"}, ParamMatch: ParamMatchPartial}, 0},
		{"initial, part of a word", ProcessConfig{Name: "/usr/sbin/nginx", Params: []string{"-c", "/etc"}, ParamMatch: ParamMatchInitial}, 1},
		{"argv0 with spaces", ProcessConfig{Name: "nginx: master process", FullCommand: true}, 1},
	} {
		if got := f.count(tc.c); got != tc.want {
			t.Errorf("%s: %d processes, want %d", tc.name, got, tc.want)
		}
	}
}

// The priority change of keepalived's track_process: weight while the
// quorum holds (positive) or not (negative), reverse negating it, weight
// 0 FAULT without quorum (with it, reversed).
func TestProcessLevel(t *testing.T) {
	type lv struct {
		delta int
		fault bool
	}
	for _, tc := range []struct {
		weight   int
		reverse  bool
		up, down lv
	}{
		{0, false, lv{0, false}, lv{0, true}},
		{0, true, lv{0, true}, lv{0, false}},
		{10, false, lv{10, false}, lv{0, false}},
		{-10, false, lv{0, false}, lv{-10, false}},
		{10, true, lv{-10, false}, lv{0, false}},
		{-10, true, lv{0, false}, lv{10, false}},
	} {
		c := ProcessConfig{Weight: tc.weight, Reverse: tc.reverse}
		d, f := c.level(true)
		if (lv{d, f}) != tc.up {
			t.Errorf("weight %d reverse %v, quorum: %v %v, want %+v", tc.weight, tc.reverse, d, f, tc.up)
		}
		d, f = c.level(false)
		if (lv{d, f}) != tc.down {
			t.Errorf("weight %d reverse %v, no quorum: %v %v, want %+v", tc.weight, tc.reverse, d, f, tc.down)
		}
	}
	for _, tc := range []struct {
		c    ProcessConfig
		n    int
		want bool
	}{
		{ProcessConfig{}, 0, false}, {ProcessConfig{}, 1, true}, {ProcessConfig{}, 9, true},
		{ProcessConfig{Quorum: 2, QuorumMax: 3}, 1, false}, {ProcessConfig{Quorum: 2, QuorumMax: 3}, 3, true},
		{ProcessConfig{Quorum: 2, QuorumMax: 3}, 4, false},
		{ProcessConfig{Absent: true}, 0, true}, {ProcessConfig{Absent: true}, 1, false},
	} {
		if got := tc.c.quorum(tc.n); got != tc.want {
			t.Errorf("quorum %d..%d absent %v with %d: %v", tc.c.Quorum, tc.c.QuorumMax, tc.c.Absent, tc.n, got)
		}
	}
}

type procReport struct {
	At    time.Duration // on the tracker's clock, from the start
	Delta int
	Fault bool
}

// runProc runs a process tracker over root on a fake clock and returns
// its reports as they come.
func runProc(t *testing.T, c ProcessConfig, root string, clk *clocktest.Clock) <-chan procReport {
	t.Helper()
	start := clk.Now()
	p := &procTracker{cfg: c, clock: clk, root: root}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan procReport, 16)
	done := make(chan error, 1)
	go func() {
		done <- p.trackLevel(ctx, func(d int, f bool) { ch <- procReport{clk.Now().Sub(start), d, f} })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tracker: %v", err)
		}
	})
	return ch
}

func recv(t *testing.T, ch <-chan procReport) procReport {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no report from the process tracker")
	}
	return procReport{}
}

// The scan and the delays run on the tracker's clock: a process is seen
// at the next scan, the quorum it makes counts fork_delay later, a loss
// terminate_delay later, and a change that goes back within its delay is
// never reported. (In a synctest bubble: after each step of the fake
// clock the tracker has scanned and waits again.)
func TestProcessTrackerDelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeProc(t)
		epoch := time.Unix(0, 0)
		clk := clocktest.New(epoch)
		ch := runProc(t, ProcessConfig{Name: "web", Weight: 20, Interval: time.Second,
			ForkDelay: 3 * time.Second, TerminateDelay: 2 * time.Second}, f.dir, clk)
		var got []procReport
		take := func() {
			synctest.Wait()
			for {
				select {
				case r := <-ch:
					got = append(got, r)
					continue
				default:
				}
				return
			}
		}
		until := func(at time.Duration) {
			for clk.Now().Sub(epoch) < at {
				clk.AdvanceToNext()
				take()
			}
		}
		take() // no process at the start
		p := f.add("web", 'S', "web")
		until(4 * time.Second) // seen at 1s: counts at 4s
		os.RemoveAll(p)
		until(5 * time.Second) // gone at 5s: the terminate delay starts
		p = f.add("web", 'S', "web")
		until(6 * time.Second) // back at 6s, within the delay
		os.RemoveAll(p)
		until(12 * time.Second) // gone at 7s: counts at 9s
		want := []procReport{{0, 0, false}, {4 * time.Second, 20, false}, {9 * time.Second, 0, false}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	})
}

// TestProcessTrackerRealProcesses: real processes the test starts, named
// by the link they are run through, counted in the real /proc; a quorum
// of two.
func TestProcessTrackerRealProcesses(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	name := fmt.Sprintf("lvsk%d", os.Getpid()%1000000)
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(sleep, link); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		c := exec.Command(link, "300")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	clk := clocktest.New(time.Unix(0, 0))
	ch := runProc(t, ProcessConfig{Name: name, Quorum: 2, Interval: time.Second}, "/proc", clk)
	step := func(want bool) procReport {
		t.Helper()
		for i := 0; ; i++ {
			clk.BlockUntil(1)
			clk.Advance(time.Second)
			select {
			case r := <-ch:
				return r
			case <-time.After(100 * time.Millisecond):
			}
			if i > 300 {
				t.Fatalf("no report of quorum %v", want)
			}
		}
	}
	if r := recv(t, ch); !r.Fault {
		t.Fatalf("no process, quorum 2: %+v, want FAULT", r)
	}
	a := start()
	start()
	if r := step(true); r.Fault {
		t.Fatalf("two processes: %+v", r)
	}
	a.Process.Kill()
	a.Wait()
	if r := step(false); !r.Fault {
		t.Fatalf("one process left: %+v", r)
	}
}
