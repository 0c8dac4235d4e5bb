package nslab

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Buffer collects a process's output while others read it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Proc is a program running in a host, with its output kept.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	out  Buffer
	done chan struct{}
}

// StartProc starts argv inside the host, in a process group of its own (a
// Ctrl-C at the terminal reaches only the caller, which stops its children
// in order). The lab kills it when it closes, if it still runs.
func (h *Host) StartProc(name string, argv ...string) (*Proc, error) {
	p := &Proc{Name: name, done: make(chan struct{})}
	p.Cmd = exec.Command(argv[0], argv[1:]...)
	p.Cmd.Stdout, p.Cmd.Stderr = &p.out, &p.out
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.Start(p.Cmd); err != nil {
		return nil, err
	}
	go func() {
		_ = p.Cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Output is what the process has written to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Tail is the last n lines of the output.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM and waits up to grace for the process to exit;
// after that it kills it. The error says if it had to, or if the process
// exited unsuccessfully.
func (p *Proc) Terminate(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s still running %v after SIGTERM; killed", p.Name, grace)
	}
	if !p.Cmd.ProcessState.Success() {
		return fmt.Errorf("%s: %v after SIGTERM", p.Name, p.Cmd.ProcessState)
	}
	return nil
}
