package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"github.com/lvskit/lvskit/internal/nslab"
)

// binDir is where the role binaries are: next to this program (make build
// puts them all in bin/).
func binDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.Dir(exe), nil
}

func startProc(h *nslab.Host, name string, bin string, args ...string) (*nslab.Proc, error) {
	dir, err := binDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, bin)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("role binary %s missing (run `make build`): %w", path, err)
	}
	return h.StartProc(name, append([]string{path}, args...)...)
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
