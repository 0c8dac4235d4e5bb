// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): datagrams of newline-separated KEY=VALUE assignments sent
// to the Unix socket named by $NOTIFY_SOCKET, a path or, with a leading
// '@', a name in the abstract namespace. It is what a Type=notify unit
// needs: READY=1 once the service works, RELOADING=1 and READY=1 around a
// reload, STATUS= lines systemctl status shows, STOPPING=1, and WATCHDOG=1
// pings when the unit sets WatchdogSec=.
//
// Outside systemd ($NOTIFY_SOCKET unset) New returns nil and every method
// of a nil *Notifier does nothing, so callers need no special case.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends notifications to the service manager.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a notifier for the socket named in the environment, or nil
// when the process was not started by a service manager that listens.
func New() *Notifier {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Send sends the assignments in one datagram.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify service manager: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(assignments, "\n") + "\n")); err != nil {
		return fmt.Errorf("notify service manager: %w", err)
	}
	return nil
}

// Ready says the service is up (after start or after a reload), with a
// status line.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "STATUS="+oneLine(status))
}

// Reloading says a reload has begun (Type=notify-reload wants the
// monotonic time with it).
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.Send("RELOADING=1")
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(ts.Nano()/1000, 10))
}

// Status sets the line systemctl status shows.
func (n *Notifier) Status(status string) error {
	return n.Send("STATUS=" + oneLine(status))
}

// Stopping says the service is shutting down.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Watchdog pings the service manager's watchdog.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// WatchdogInterval returns how often to ping the watchdog (half of
// WatchdogSec=, as sd_watchdog_enabled(3) recommends), and false when the
// unit has no watchdog for this process.
func WatchdogInterval() (time.Duration, bool) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}

// UnderJournal reports whether standard error goes to systemd's journal,
// which stamps every line itself: a logger then leaves out its own time.
func UnderJournal() bool {
	stream := os.Getenv("JOURNAL_STREAM") // "DEV:INODE" of the journal's stream
	dev, ino, ok := strings.Cut(stream, ":")
	if !ok {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(2, &st); err != nil {
		return false
	}
	return strconv.FormatUint(uint64(st.Dev), 10) == dev && strconv.FormatUint(st.Ino, 10) == ino
}

// oneLine keeps a status to one line: a newline would start a new
// assignment.
func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}
