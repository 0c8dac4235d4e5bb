package compat

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

// KeepalivedResult is what keepalived made of a configuration.
type KeepalivedResult struct {
	// TestExit is keepalived -t's exit code (128+N when signal N ended
	// it): 0 clean, 4 a fatal configuration error, 5 errors it
	// corrected or ignored, 6 a script security error.
	TestExit int
	// Messages are -t's messages about the file.
	Messages []Message
	// Dumped says the VRRP process ran and dumped its configuration;
	// Stopped that it exited on the configuration; NoIPVS that it needed
	// IPVS (lvs_sync_daemon), which this kernel does not have.
	Dumped, Stopped, NoIPVS bool
	// Values are the VRRP values of the dump.
	Values Values
	// Output is -t's output and the run's log, for reports.
	Output string
}

// Message is one of keepalived's configuration messages; Line is 0 for
// one keepalived prints without a line.
type Message struct {
	Line int
	Text string
}

func (m Message) String() string {
	if m.Line == 0 {
		return m.Text
	}
	return fmt.Sprintf("line %d: %s", m.Line, m.Text)
}

// keepalivedRun bounds one keepalived process.
const keepalivedRun = 30 * time.Second

// runKeepalived runs keepalived -t on conf in host h, then its VRRP
// process with --dump-conf when the file has a vrrp_instance. id is the
// config-id (-i).
func runKeepalived(ctx context.Context, h *nslab.Host, dir, conf, id string, hasVRRP bool) (KeepalivedResult, error) {
	var r KeepalivedResult
	tctx, cancel := context.WithTimeout(ctx, keepalivedRun)
	defer cancel()
	c := exec.CommandContext(tctx, "ip", "netns", "exec", h.Name(), "keepalived", "-t", "-n", "-l", "-D", "-i", id, "-f", conf,
		"-p", filepath.Join(dir, "t.pid"), "-r", filepath.Join(dir, "tv.pid"), "-c", filepath.Join(dir, "tc.pid"))
	out, err := c.CombinedOutput()
	r.Output = "keepalived -t:\n" + string(out)
	r.TestExit = 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return r, fmt.Errorf("run keepalived -t: %w", err)
		}
		r.TestExit = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.TestExit = 128 + int(ws.Signal())
		}
	}
	r.Messages = parseMessages(string(out))
	if !hasVRRP {
		return r, nil
	}
	log, err := dumpVRRP(ctx, h, dir, conf, id)
	r.Output += "\nkeepalived --vrrp --dump-conf:\n" + log
	if err != nil {
		return r, err
	}
	r.NoIPVS = strings.Contains(log, "Can't initialize ipvs")
	r.Stopped = strings.Contains(log, "exited with permanent error")
	if i := strings.Index(log, "------< VRRP Topology >------"); i >= 0 {
		r.Dumped = true
		r.Values = parseDump(log)
	}
	return r, nil
}

// dumpVRRP runs keepalived's VRRP process on conf until it has dumped its
// configuration (or exited), stops it, and returns its log.
func dumpVRRP(ctx context.Context, h *nslab.Host, dir, conf, id string) (string, error) {
	p, err := h.StartProc("keepalived", "ip", "netns", "exec", h.Name(), "keepalived", "--vrrp", "--dump-conf", "-n", "-l", "-D", "-i", id, "-f", conf,
		"-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "v.pid"), "-c", filepath.Join(dir, "c.pid"))
	if err != nil {
		return "", fmt.Errorf("start keepalived: %w", err)
	}
	deadline := time.NewTimer(keepalivedRun)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-p.Done():
			return p.Output(), nil
		case <-ctx.Done():
			running = false
		case <-deadline.C:
			running = false
		case <-tick.C:
			running = !strings.Contains(p.Output(), "------< Interfaces >------")
		}
	}
	// keepalived stops its VRRP child on SIGTERM.
	_ = p.Terminate(10 * time.Second)
	return p.Output(), nil
}

var (
	lineMsg   = regexp.MustCompile(`^\((?:[^()]*: )?Line (\d+)\) ?(.*)$`)
	timestamp = regexp.MustCompile(`^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: `)
	// machineOnly are messages about the test machine, not the file.
	machineOnly = regexp.MustCompile(`does not support multicast|disabling ARP|max_auto_priority|` +
		`default user 'keepalived_script'|Script user '.*' does not exist|SECURITY VIOLATION|` +
		`interface .* doesn't exist|Non-existent interface|tracked interface .* doesn't exist|` +
		`^Opening file|^Configuration file|^\s*$`)
)

// parseMessages reads keepalived -t's output.
func parseMessages(out string) []Message {
	var ms []Message
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(timestamp.ReplaceAllString(l, ""), " \t\r")
		m := Message{Text: l}
		if g := lineMsg.FindStringSubmatch(l); g != nil {
			m.Line, _ = strconv.Atoi(g[1])
			m.Text = strings.TrimSpace(g[2])
		}
		if machineOnly.MatchString(m.Text) {
			continue
		}
		ms = append(ms, m)
	}
	return ms
}

// Verdict is keepalived's: refused when keepalived -t failed hard (a
// fatal error or a crash) or its VRRP process exited on the file; runs
// with warnings when -t reported anything; runs otherwise.
func (r KeepalivedResult) Verdict() Verdict {
	switch {
	case r.TestExit != 0 && r.TestExit != 5 && r.TestExit != 6:
		return Refused
	case r.Stopped && !r.NoIPVS:
		return Refused
	case len(r.Messages) > 0:
		return RunsWithWarnings
	}
	return Runs
}
