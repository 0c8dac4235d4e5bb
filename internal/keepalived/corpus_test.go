package keepalived

import (
	"context"

	"github.com/lvskit/lvskit/internal/netnstest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func bookDirector(name, state string, prio int) *Config {
	rs := func(a string, w int) RealServer {
		return RealServer{
			Pos: at, Addr: ip(a), Port: 80, Weight: iv(w),
			Checkers: []Checker{{
				Pos: at, Type: HTTPGet,
				ConnOptions:      ConnOptions{ConnectTimeout: dv("3s")},
				Retry:            iv(3),
				DelayBeforeRetry: dv("3s"),
				HTTP:             &HTTPChecker{URLs: []URL{httpURL("/", StatusRange{200, 200})}},
			}},
		}
	}
	return &Config{
		Global: GlobalDefs{
			Pos:                   at,
			RouterID:              sv(name),
			NotificationEmail:     []Value[string]{sv("admin@example.com"), sv("ops@example.com")},
			NotificationEmailFrom: sv(name + "@example.com"),
			SMTPServer:            Value[SMTPServer]{V: SMTPServer{Host: "127.0.0.1", Port: 25}, Pos: at},
			SMTPConnectTimeout:    dv("30s"),
			LVSSyncDaemon:         Value[LVSSyncDaemon]{V: LVSSyncDaemon{Interface: "eth0", Instance: "VI_1", SyncID: 51}, Pos: at},
		},
		Instances: []VRRPInstance{{
			Name: "VI_1", Pos: at,
			State:           Value[State]{V: State(state), Pos: at},
			Interface:       sv("eth0"),
			VirtualRouterID: iv(51),
			Priority:        iv(prio),
			AdvertInt:       dv("1s"),
			SMTPAlert:       bv(true),
			Authentication:  Value[Auth]{V: Auth{Type: "PASS", Pass: "1111"}, Pos: at},
			VirtualIPAddresses: []IPAddress{
				{Pos: at, Prefix: pfx("192.168.0.253/24"), Dev: "eth0", Label: "eth0:1"},
			},
		}},
		VirtualServers: []VirtualServer{{
			Pos: at, Addr: ip("192.168.0.253"), Port: 80,
			DelayLoop:          dv("6s"),
			Scheduler:          sv("wrr"),
			Forwarding:         fwd("DR"),
			PersistenceTimeout: dv("50s"),
			Protocol:           sv("TCP"),
			RealServers:        []RealServer{rs("192.168.0.1", 3), rs("192.168.0.2", 1)},
		}},
	}
}

func TestCorpus(t *testing.T) {
	tests := []struct {
		file string
		host string
		want *Config
	}{
		{file: "book_lvs_1.conf", want: bookDirector("lvs_1", "MASTER", 100)},
		{file: "book_lvs_2.conf", want: bookDirector("lvs_2", "BACKUP", 99)},
		{file: "book_cluster.conf", host: "lvs_1", want: bookCluster("lvs_1", "MASTER", 100)},
		{file: "book_cluster.conf", host: "lvs_2", want: bookCluster("lvs_2", "BACKUP", 99)},
		{file: "vrrp_only.conf", want: vrrpOnlyWant},
		{file: "lvs_dr_http.conf", want: lvsDRWant},
		{file: "lvs_nat_tcp.conf", want: lvsNATWant},
		{file: "fwmark_groups.conf", want: fwmarkWant},
		{file: "sync_scripts.conf", want: syncScriptsWant},
		{file: "ipv6.conf", want: ipv6Want},
		{file: "checkers.conf", want: checkersWant},
		{file: "conditional.conf", host: "main", want: conditionalWant},
	}
	for _, tt := range tests {
		t.Run(tt.file+"@"+tt.host, func(t *testing.T) {
			got, warns, err := ParseFile(filepath.Join("testdata", tt.file), Options{Host: tt.host})
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			for _, w := range warns {
				t.Errorf("unexpected warning: %s", w)
			}
			if diff := cmp.Diff(tt.want, got, positionsCmp); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func bookCluster(name, state string, prio int) *Config {
	c := bookDirector(name, state, prio)
	c.Global = GlobalDefs{Pos: at, RouterID: sv(name)}
	c.Instances[0].SMTPAlert = Value[bool]{}
	vs := &c.VirtualServers[0]
	vs.PersistenceTimeout = Value[time.Duration]{}
	for i := range vs.RealServers {
		rs := &vs.RealServers[i]
		rs.Weight = iv(1)
		rs.Checkers[0].Retry = Value[int]{}
		rs.Checkers[0].DelayBeforeRetry = Value[time.Duration]{}
	}
	return c
}

// keepalived itself is a second opinion: every corpus file it supports
// must pass "keepalived -t" (run in a namespace with the interfaces the
// files name, so that only the configuration is judged).
func TestIntegrationKeepalivedAcceptsCorpus(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived not installed (scripts/install-test-deps.sh installs it)")
	}
	h := netnstest.New(t).Host("kconf")
	for _, ifname := range []string{"eth0", "eth1", "eth2", "bond0"} {
		// veth, not dummy: the test kernel may lack the dummy driver.
		h.Run("ip", "link", "add", ifname, "type", "veth", "peer", "name", "p"+ifname)
		h.Run("ip", "link", "set", ifname, "up")
	}
	tests := []struct{ file, host string }{
		{"book_lvs_1.conf", ""},
		{"book_lvs_2.conf", ""},
		{"book_cluster.conf", "lvs_1"},
		{"book_cluster.conf", "lvs_2"},
		{"vrrp_only.conf", ""},
		{"lvs_dr_http.conf", ""},
		{"lvs_nat_tcp.conf", ""},
		{"fwmark_groups.conf", ""},
		{"sync_scripts.conf", ""},
		{"ipv6.conf", ""},
		{"conditional.conf", "main"},
		// checkers.conf is not here: keepalived 2.2.7 does not know
		// FILE_CHECK's "dynamic", which keepalived.conf(5) documents.
	}
	for _, tt := range tests {
		t.Run(tt.file+"@"+tt.host, func(t *testing.T) {
			abs, err := filepath.Abs(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"-t", "-f", abs}
			if tt.host != "" {
				args = append(args, "-i", tt.host)
			}
			out, err := h.Command(context.Background(), bin, args...).CombinedOutput()
			if err != nil {
				t.Errorf("keepalived -t rejects %s: %v\n%s", tt.file, err, out)
			}
		})
	}
}
