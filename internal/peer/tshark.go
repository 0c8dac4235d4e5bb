package peer

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// Capture is a tshark capture running on one interface of a test host.
type Capture struct {
	t    testing.TB
	path string
	cmd  *exec.Cmd
	log  *nslab.Buffer
	done chan struct{}
}

// StartCapture starts capturing on iface in host h with a BPF capture
// filter ("" for everything). It returns once tshark is capturing.
func StartCapture(t testing.TB, h *netnstest.Host, iface, filter string) *Capture {
	t.Helper()
	bin := need(t, "tshark")
	c := &Capture{t: t, path: filepath.Join(t.TempDir(), iface+".pcap"), log: new(nslab.Buffer), done: make(chan struct{})}
	args := []string{"-n", "-q", "-i", iface, "-w", c.path}
	if filter != "" {
		args = append(args, "-f", filter)
	}
	c.cmd = h.Command(context.Background(), bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("peer: start tshark in %s: %v", h.Name(), err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.Stop)
	// tshark prints "Capturing on" before it even starts dumpcap; it logs
	// "Capture started" when dumpcap reports its file, which dumpcap does
	// once it has opened the interface and set the filter: from then on
	// every packet is captured. (The 200 ms this waited after "Capturing
	// on" need not be enough for dumpcap's start on a busy machine.)
	// A bound for a broken tshark, not a timing: its start (dissectors,
	// Lua) takes many seconds on a busy machine.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(c.log.String(), "Capture started") {
		select {
		case <-c.done:
			t.Fatalf("peer: tshark in %s exited: %s", h.Name(), c.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer: tshark in %s did not start capturing: %s", h.Name(), c.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// Path is the pcap file the capture writes.
func (c *Capture) Path() string { return c.path }

// Stop ends the capture (SIGINT, so tshark flushes the file). Idempotent.
func (c *Capture) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// Read runs `tshark -r` on the capture with the extra arguments (a display
// filter with -Y, -V, -T fields ...) and returns its standard output.
// It stops the capture first.
func (c *Capture) Read(args ...string) string {
	c.t.Helper()
	c.Stop()
	cmd := exec.Command("tshark", append([]string{"-n", "-r", c.path}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("peer: tshark -r %s %v: %v", c.path, args, err)
	}
	return string(out)
}

// WaitFor waits until a packet matching displayFilter is in the capture
// file, and reports whether one was before the timeout. It reads the file
// as dumpcap has written it so far (dumpcap flushes it at each of its
// updates while packets come) and leaves the capture running: a test
// that wants a packet on the wire waits for it here rather than sleeping
// before Read, which stops the capture and loses what dumpcap has not yet
// taken from the kernel.
func (c *Capture) WaitFor(displayFilter string, timeout time.Duration) bool {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// A file read in the middle of a write ends in a packet cut
		// short: tshark says so and exits non-zero after printing the
		// whole ones, which count.
		out, _ := exec.Command("tshark", "-n", "-r", c.path, "-Y", displayFilter, "-T", "fields", "-e", "frame.number").Output()
		if strings.TrimSpace(string(out)) != "" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Fields returns, for each packet matching displayFilter, the values of the
// named fields (tshark -T fields).
func (c *Capture) Fields(displayFilter string, fields ...string) [][]string {
	c.t.Helper()
	args := []string{"-T", "fields", "-E", "separator=/t"}
	if displayFilter != "" {
		args = append(args, "-Y", displayFilter)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(c.Read(args...), "\n"), "\n") {
		if line == "" {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows
}

// Problems returns the expert-info lines of severity warning or error
// (malformed packets, bad checksums) tshark reports for the capture.
func (c *Capture) Problems() []string {
	c.t.Helper()
	out := c.Read("-q", "-z", "expert,warn")
	var probs []string
	section := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Errors"), strings.HasPrefix(line, "Warns"):
			section = true
		case strings.HasPrefix(line, "Notes"), strings.HasPrefix(line, "Chats"), strings.HasPrefix(line, "===="):
			section = false
		case section && strings.TrimSpace(line) != "":
			probs = append(probs, strings.TrimSpace(line))
		}
	}
	return probs
}
