package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis, as the kernel shows it.
	line := "4242 (a b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 37 0 0 20 0 3 0 12345 1000000 200 18446744073709551615"
	c, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if c.User != 1500*time.Millisecond || c.System != 370*time.Millisecond || c.Total() != 1870*time.Millisecond {
		t.Errorf("got %+v, want user 1.5s system 370ms", c)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	m := parseStatus("Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t3\n")
	if m.RSS != 1<<20 || m.HWM != 2<<20 {
		t.Errorf("got %+v, want RSS 1 MiB, HWM 2 MiB", m)
	}
}

// TestSelf reads this process: it has used some CPU, holds memory and
// runs threads.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := ReadCPU(pid); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("memory %+v", m)
	}
	if n := Threads(pid); n < 1 {
		t.Errorf("%d threads", n)
	}
	if _, err := ReadCPU(-1); err == nil {
		t.Errorf("ReadCPU of no process succeeded")
	}
}
