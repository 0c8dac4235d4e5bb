package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"
)

// directorConf is a director's keepalived.conf: the bgp block announcing
// the VIP to the router while the web service has its quorum (alpha: only
// after the first good checks), and the service in DR with mh (mh-port:
// the client's ports are hashed too, so that one client's connections
// spread over the real servers).
var directorConf = template.Must(template.New("conf").Parse(`# keepalived.conf for {{.Name}}, written by the lvskit ECMP demo
global_defs {
    router_id {{.Name}}
}

bgp {
    local_as {{.ASN}}
    router_id {{.Addr}}
    drain_timeout 2
    neighbor {{.Router}} {
        remote_as {{.RouterASN}}
        connect_retry 1
{{- if .BFDms}}
        bfd {
            min_rx {{.BFDms}}
            min_tx {{.BFDms}}
            multiplier 3
        }
{{- else}}
        no_bfd
        hold_time 3
        keepalive 1
{{- end}}
    }
    announce {{.VIP}}
}

virtual_server {{.VIP}} 80 {
    delay_loop 1
    alpha
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
{{range .Servers}}
    real_server {{.}} 80 {
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
{{end}}
}
`))

func writeDirectorConf(dir string, d host, bfd time.Duration) (string, error) {
	data := struct {
		Name, Addr, Router, VIP string
		ASN, RouterASN          int
		BFDms                   int64
		Servers                 []string
	}{d.name, d.addr, routerInside, vip, directorASN, routerASN, bfd.Milliseconds(), nil}
	for _, w := range webs {
		data.Servers = append(data.Servers, w.addr)
	}
	var b bytes.Buffer
	if err := directorConf.Execute(&b, data); err != nil {
		return "", fmt.Errorf("director config: %w", err)
	}
	path := filepath.Join(dir, d.name+".conf")
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}
