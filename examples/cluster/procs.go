package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

// proc is one role's process in a namespace, its output kept for the report
// of a failure.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// binDir is where the role binaries are: next to this program (make build
// puts them all in bin/).
func binDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.Dir(exe), nil
}

func startProc(h *nslab.Host, name string, bin string, args ...string) (*proc, error) {
	dir, err := binDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, bin)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("role binary %s missing (run `make build`): %w", path, err)
	}
	p := &proc{name: name, out: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Its own process group, so a Ctrl-C at the terminal reaches only the
	// demo, which then stops the roles in order.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.Start(p.cmd); err != nil {
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to stop (SIGTERM), then kills it after a grace time.
func (p *proc) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var directorConf = template.Must(template.New("conf").Parse(`# keepalived.conf for {{.Name}}, written by the lvskit cluster demo
global_defs {
    router_id {{.Name}}
}

vrrp_instance VI_1 {
    state {{.State}}
    interface eth0
    virtual_router_id 51
    priority {{.Priority}}
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass lvskit
    }
    virtual_ipaddress {
        {{.VIP}}/24 dev eth0 label eth0:1
    }
}

virtual_server {{.VIP}} 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind {{.Kind}}
    protocol TCP
{{range .Servers}}
    real_server {{.Addr}} 80 {
        weight {{.Weight}}
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 3
            retry 1
            delay_before_retry 1
        }
    }
{{end}}
}
`))

type confData struct {
	Name, State, VIP, Kind string
	Priority               int
	Servers                []struct {
		Addr   string
		Weight int
	}
}

func writeDirectorConf(dir, name string, priority int, kind string) (string, error) {
	d := confData{Name: name, State: "BACKUP", VIP: vip, Kind: kind, Priority: priority}
	if priority == directors[0].priority {
		d.State = "MASTER"
	}
	for _, w := range webServers {
		d.Servers = append(d.Servers, struct {
			Addr   string
			Weight int
		}{w.addr, w.weight})
	}
	var b bytes.Buffer
	if err := directorConf.Execute(&b, d); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".conf")
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}
