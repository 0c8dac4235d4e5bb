package vrrp

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Transition is one state change of an instance or a sync group.
type Transition struct {
	Group    bool // a sync group rather than an instance
	Name     string
	From, To State
	Priority uint8
	Time     time.Time
}

// keepalivedState is the word keepalived's notify uses; a stop is "STOP".
func (t Transition) keepalivedState() string {
	if t.To == StateInit {
		return "STOP"
	}
	return t.To.String()
}

// Notify lists who hears about transitions. All are optional.
type Notify struct {
	// Func is called for every transition, in order, from a goroutine of
	// the instance's own; it should not block for long.
	Func func(Transition)
	// Chan receives every transition; a full channel drops it (logged).
	Chan chan<- Transition
	// Script is keepalived's "notify": run as
	// Script... INSTANCE|GROUP name MASTER|BACKUP|FAULT|STOP priority.
	Script []string
	// Master, Backup, Fault and Stop are notify_master etc.: run as given.
	Master, Backup, Fault, Stop []string
	// ScriptCredential, MasterCredential, BackupCredential,
	// FaultCredential and StopCredential, when set, run the script of the
	// same name as that user and group (keepalived's script_user, or the
	// user given after the script); nil runs it as this process. Changing
	// user needs root.
	ScriptCredential, MasterCredential, BackupCredential, FaultCredential, StopCredential *syscall.Credential
	// FIFO is a named pipe (vrrp_notify_fifo) receiving lines like
	// `INSTANCE "VI_1" MASTER 100`.
	FIFO string
	// ScriptTimeout bounds each script, on the instance's clock (the
	// first member's for a sync group): then its process group gets
	// SIGTERM, and SIGKILL 2 s later; 0 means 10s.
	ScriptTimeout time.Duration
}

// notifier runs the notifications of one instance or group in order.
type notifier struct {
	cfg   Notify
	clock Clock
	ch    chan Transition
	done  chan struct{}
	log   func(msg string, args ...any)
}

func newNotifier(cfg Notify, clk Clock, log func(string, ...any)) *notifier {
	n := &notifier{cfg: cfg, clock: clk, ch: make(chan Transition, 64), done: make(chan struct{}), log: log}
	go n.run()
	return n
}

func (n *notifier) send(t Transition) {
	select {
	case n.ch <- t:
	default:
		n.log("notify queue full, transition dropped", "to", t.To)
	}
}

// close waits until queued notifications ran.
func (n *notifier) close() { close(n.ch); <-n.done }

func (n *notifier) run() {
	defer close(n.done)
	for t := range n.ch {
		n.deliver(t)
	}
}

func (n *notifier) deliver(t Transition) {
	if n.cfg.Func != nil {
		n.cfg.Func(t)
	}
	if n.cfg.Chan != nil {
		select {
		case n.cfg.Chan <- t:
		default:
			n.log("notify channel full, transition dropped", "to", t.To)
		}
	}
	kind := "INSTANCE"
	if t.Group {
		kind = "GROUP"
	}
	var specific []string
	var cred *syscall.Credential
	switch t.To {
	case StateMaster:
		specific, cred = n.cfg.Master, n.cfg.MasterCredential
	case StateBackup:
		specific, cred = n.cfg.Backup, n.cfg.BackupCredential
	case StateFault:
		specific, cred = n.cfg.Fault, n.cfg.FaultCredential
	case StateInit:
		specific, cred = n.cfg.Stop, n.cfg.StopCredential
	}
	// keepalived runs notify_<state> first, then notify.
	if len(specific) > 0 {
		n.run1(specific, cred)
	}
	if len(n.cfg.Script) > 0 {
		args := append(append([]string(nil), n.cfg.Script...), kind, t.Name, t.keepalivedState(), fmt.Sprint(t.Priority))
		n.run1(args, n.cfg.ScriptCredential)
	}
	if n.cfg.FIFO != "" {
		line := fmt.Sprintf("%s %q %s %d\n", kind, t.Name, t.keepalivedState(), t.Priority)
		if err := writeFIFO(n.cfg.FIFO, line); err != nil {
			n.log("notify fifo", "err", err)
		}
	}
}

func (n *notifier) run1(argv []string, cred *syscall.Credential) {
	to := n.cfg.ScriptTimeout
	if to == 0 {
		to = 10 * time.Second
	}
	if out, err := runProgram(context.Background(), n.clock, to, true, cred, argv); err != nil {
		n.log("notify script failed", "script", argv[0], "err", err, "output", string(out))
	}
}

// writeFIFO writes without blocking when no reader is there (the line is
// then lost, and the error says so). A missing FIFO is made, as keepalived does.
func writeFIFO(path, line string) error {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if err := mkfifo(path); err != nil {
			return fmt.Errorf("make notify fifo: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|syscallNonblock, 0)
	if err != nil {
		return fmt.Errorf("open notify fifo: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("write notify fifo: %w", err)
	}
	return nil
}
