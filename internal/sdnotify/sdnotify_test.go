package sdnotify

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/sdnotify/sdnotifytest"
)

// recv reads one notification from the socket the test listens on.
func recv(t *testing.T, s *sdnotifytest.Socket) []string {
	t.Helper()
	got, ok := s.Next(10 * time.Second)
	if !ok {
		t.Fatal("no notification within 10s")
	}
	return got
}

func TestSendPathAndAbstract(t *testing.T) {
	for _, name := range []string{
		filepath.Join(t.TempDir(), "notify"),
		"@lvskit-sdnotify-test-" + strconv.Itoa(os.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			c := sdnotifytest.ListenAt(t, name)
			n := New()
			if err := n.Ready("2 instances, 1 virtual server\nsynced"); err != nil {
				t.Fatal(err)
			}
			got := recv(t, c)
			if len(got) != 2 || got[0] != "READY=1" || got[1] != "STATUS=2 instances, 1 virtual server synced" {
				t.Errorf("Ready sent %q", got)
			}
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			got = recv(t, c)
			if got[0] != "RELOADING=1" || len(got) != 2 || !strings.HasPrefix(got[1], "MONOTONIC_USEC=") {
				t.Errorf("Reloading sent %q", got)
			}
			usec, _ := strconv.ParseInt(strings.TrimPrefix(got[1], "MONOTONIC_USEC="), 10, 64)
			var ts unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			if usec <= 0 || usec > ts.Nano()/1000 {
				t.Errorf("MONOTONIC_USEC %d not a past monotonic time (now %d)", usec, ts.Nano()/1000)
			}
			for _, tc := range []struct {
				send func() error
				want string
			}{
				{func() error { return n.Status("reload failed") }, "STATUS=reload failed"},
				{n.Stopping, "STOPPING=1"},
				{n.Watchdog, "WATCHDOG=1"},
			} {
				if err := tc.send(); err != nil {
					t.Fatal(err)
				}
				if got := recv(t, c); len(got) != 1 || got[0] != tc.want {
					t.Errorf("sent %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestWithoutServiceManager(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := New()
	if n != nil {
		t.Fatalf("New without NOTIFY_SOCKET = %v, want nil", n)
	}
	if err := n.Ready("x"); err != nil {
		t.Errorf("nil Notifier's Ready = %v", err)
	}
}

func TestSendToMissingSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	if err := New().Ready("x"); err == nil {
		t.Error("Ready to a missing socket succeeded")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"", "", 0, false},
		{"junk", "", 0, false},
		{"0", "", 0, false},
		{"20000000", "", 10 * time.Second, true},
		{"20000000", strconv.Itoa(os.Getpid()), 10 * time.Second, true},
		{"20000000", "1", 0, false}, // meant for another process
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		got, ok := WatchdogInterval()
		if got != tc.want || ok != tc.ok {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, %v; want %v, %v", tc.usec, tc.pid, got, ok, tc.want, tc.ok)
		}
	}
}

func TestUnderJournal(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Fstat(2, &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(st.Ino, 10))
	if !UnderJournal() {
		t.Error("UnderJournal = false with JOURNAL_STREAM naming stderr")
	}
	t.Setenv("JOURNAL_STREAM", "1:1")
	if UnderJournal() {
		t.Error("UnderJournal = true with JOURNAL_STREAM naming another file")
	}
	t.Setenv("JOURNAL_STREAM", "")
	if UnderJournal() {
		t.Error("UnderJournal = true without JOURNAL_STREAM")
	}
}
