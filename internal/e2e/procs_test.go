package e2e

// Helpers for the guest halves: processes in namespaces, the director's
// /status, and ipvsadm's output parsed.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// startProc starts argv inside h: forked from a thread that joined the
// namespace (the guest has no `ip netns exec` on a busybox PATH, and a
// process less per start matters under emulation). When t ends the process
// gets SIGTERM, then SIGKILL after 10 s; its output is logged if t failed.
func startProc(t *testing.T, h *netnstest.Host, name string, argv ...string) *nslab.Proc {
	t.Helper()
	p, err := h.StartProc(name, argv...)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := p.Terminate(10 * time.Second); err != nil {
			t.Logf("cleanup: %v", err)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// runIn runs argv inside h, forked from a thread in the namespace, and
// returns its combined output.
func runIn(h *netnstest.Host, argv ...string) (string, error) {
	var out []byte
	var runErr error
	err := h.Do(func() error {
		out, runErr = exec.Command(argv[0], argv[1:]...).CombinedOutput()
		return nil
	})
	if err == nil && runErr != nil {
		err = fmt.Errorf("%s in %s: %w\n%s", strings.Join(argv, " "), h.Name(), runErr, out)
	}
	return string(out), err
}

// directorStatus is the part of the director's /status the tests read.
type directorStatus struct {
	Backend string `json:"backend"`
	VRRP    []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Master string `json:"master"`
	} `json:"vrrp"`
	VirtualServers []struct {
		Service     string `json:"service"`
		InTable     bool   `json:"in_table"`
		RealServers []struct {
			Address string `json:"address"`
			Healthy bool   `json:"healthy"`
			InTable bool   `json:"in_table"`
		} `json:"real_servers"`
	} `json:"virtual_servers"`
	SyncDaemon *struct {
		Instance  string `json:"instance"`
		Interface string `json:"interface"`
		Role      string `json:"role"`
		Error     string `json:"error"`
	} `json:"sync_daemon"`
}

// state is the state of VRRP instance name, "" when not listed.
func (s *directorStatus) state(name string) string {
	if s == nil {
		return ""
	}
	for _, v := range s.VRRP {
		if v.Name == name {
			return v.State
		}
	}
	return ""
}

// syncDaemon is the status's sync daemon part, nil if it has none.
func (s *directorStatus) syncDaemon() any {
	if s == nil || s.SyncDaemon == nil {
		return nil
	}
	return *s.SyncDaemon
}

// realServerReady reports whether the director has rs (ip:port) healthy
// and in its IPVS table.
func (s *directorStatus) realServerReady(rs string) bool {
	if s == nil {
		return false
	}
	for _, vs := range s.VirtualServers {
		for _, r := range vs.RealServers {
			if r.Address == rs {
				return r.Healthy && r.InTable
			}
		}
	}
	return false
}

// fetchStatus reads GET /status from a director listening on addr inside h.
func fetchStatus(ctx context.Context, h *netnstest.Host, addr string) (*directorStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status of %s: %s", h.Name(), resp.Status)
	}
	var st directorStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode status of %s: %w", h.Name(), err)
	}
	return &st, nil
}

// waitFor polls cond every interval until it holds or timeout passes, and
// reports whether it held.
func waitFor(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// ipvsConn is one line of `ipvsadm -Lnc`.
type ipvsConn struct {
	Proto, Expire, State, Source, Virtual, Dest string
}

// parseConns reads the entries of `ipvsadm -Lnc` output:
//
//	IPVS connection entries
//	pro expire state       source             virtual            destination
//	TCP 14:59  ESTABLISHED 192.168.0.50:41234 192.168.0.253:5000 192.168.0.1:5000
func parseConns(out string) []ipvsConn {
	var conns []ipvsConn
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || !isAddrPort(f[3]) || !isAddrPort(f[4]) || !isAddrPort(f[5]) {
			continue
		}
		conns = append(conns, ipvsConn{Proto: f[0], Expire: f[1], State: f[2], Source: f[3], Virtual: f[4], Dest: f[5]})
	}
	return conns
}

func isAddrPort(s string) bool {
	_, err := netip.ParseAddrPort(s)
	return err == nil
}

// findConn returns the entry from source to virtual, if listed.
func findConn(conns []ipvsConn, source, virtual string) (ipvsConn, bool) {
	for _, c := range conns {
		if c.Source == source && c.Virtual == virtual {
			return c, true
		}
	}
	return ipvsConn{}, false
}

// serviceStats is the service line of `ipvsadm -Ln --stats --exact`.
type serviceStats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// parseServiceStats finds the line of service proto addr (e.g. "TCP",
// "192.168.0.253:5000") in `ipvsadm -Ln --stats --exact` output:
//
//	Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
//	  -> RemoteAddress:Port
//	TCP  192.168.0.253:5000                  0       12        0      720        0
func parseServiceStats(out, proto, addr string) (serviceStats, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 7 || f[0] != proto || f[1] != addr {
			continue
		}
		var n [5]uint64
		for i := range n {
			v, err := strconv.ParseUint(f[2+i], 10, 64)
			if err != nil {
				return serviceStats{}, fmt.Errorf("parse ipvsadm stats line %q: %w", line, err)
			}
			n[i] = v
		}
		return serviceStats{Conns: n[0], InPkts: n[1], OutPkts: n[2], InBytes: n[3], OutBytes: n[4]}, nil
	}
	return serviceStats{}, fmt.Errorf("no %s %s in ipvsadm output:\n%s", proto, addr, out)
}
