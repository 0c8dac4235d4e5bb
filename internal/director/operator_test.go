package director

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/ipvs"
)

// The operator's surface on a director running on fakes: the control
// socket, keepalived's dumps, the compatible metrics, Started and Healthy.

// unixClient talks HTTP over the Unix socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}}
}

// The control socket serves the status to its owner only (0600 in a 0700
// folder), replaces a stale socket, refuses to start over a live one, and
// goes away when the director stops.
func TestControlSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lvskit")
	sock := filepath.Join(dir, "director.sock")
	// A socket file left by a director that died.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()

	r := startRigWith(t, "", nil, func(o *Options) { o.ControlSocket = sock })
	select {
	case <-r.d.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("Started not closed")
	}
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a socket 0600", fi.Mode())
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("control socket folder: %v, %v; want 0700", di.Mode(), err)
	}

	resp, err := unixClient(sock).Get("http://director/status")
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.VRRP) != 1 || st.VRRP[0].State != "MASTER" || st.VRRP[0].VRID != 9 || st.VRRP[0].Interface != "eth0" ||
		st.VRRP[0].Version != 3 || st.VRRP[0].LastTransition.IsZero() || st.VRRP[0].Transitions < 2 ||
		st.VRRP[0].Counters.BecameMaster != 1 || st.VRRP[0].Counters.AdvertsSent == 0 {
		t.Errorf("status VRRP over the control socket: %+v", st.VRRP)
	}
	if diff := cmp.Diff([]string{"10.0.0.9/24 dev eth0"}, st.VRRP[0].VIPs); diff != "" {
		t.Errorf("VIPs (-want +got):\n%s", diff)
	}
	if len(st.VirtualServers) != 1 || st.VirtualServers[0].Protocol != "TCP" || st.VirtualServers[0].Address != "10.0.0.9:80" ||
		st.VirtualServers[0].RealServers[0].Forward != "nat" {
		t.Errorf("status virtual servers: %+v", st.VirtualServers)
	}
	if st.Time.IsZero() || st.Time.Before(st.VRRP[0].LastTransition) {
		t.Errorf("status time %v before the last transition %v", st.Time, st.VRRP[0].LastTransition)
	}

	// A second director on the same socket is refused while the first answers.
	d2, err := New(Options{ConfigPath: r.path, IPVS: &recordingBackend{Memory: ipvs.NewMemory()}, Network: &fakeNetwork{},
		Transport: r.memnet.Transport(netip.MustParseAddr("10.0.0.2")), ControlSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Run(context.Background()); !errors.Is(err, ErrControlSocketTaken) {
		t.Errorf("second director on a live socket: %v, want ErrControlSocketTaken", err)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the refused director removed the live socket: %v", err)
	}
	// With ControlSocketOptional it runs without one, leaving the first's.
	d3, err := New(Options{ConfigPath: r.path, IPVS: &recordingBackend{Memory: ipvs.NewMemory()}, Network: &fakeNetwork{},
		Transport: r.memnet.Transport(netip.MustParseAddr("10.0.0.3")), ControlSocket: sock, ControlSocketOptional: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	done3 := make(chan error, 1)
	go func() { done3 <- d3.Run(ctx3) }()
	select {
	case <-d3.Started():
	case err := <-done3:
		t.Fatalf("director with an optional socket that another holds: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("director with an optional socket: Started not closed")
	}
	cancel3()
	if err := <-done3; err != nil {
		t.Errorf("director with an optional socket: %v", err)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the director without a socket removed the first's: %v", err)
	}

	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket still there after stop: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the folder the director found was removed: %v", err)
	}
	if err := r.d.Healthy(context.Background()); err == nil {
		t.Error("Healthy after stop = nil")
	}
}

// Healthy is nil while the director runs and the IPVS table answers,
// an error when the table does not.
func TestHealthy(t *testing.T) {
	fail := &failingDump{}
	r := startRigWith(t, "", func(rb *recordingBackend) ipvs.Backend { fail.recordingBackend = rb; return fail }, nil)
	<-r.d.Started()
	if err := r.d.Healthy(context.Background()); err != nil {
		t.Errorf("Healthy = %v", err)
	}
	fail.fail.Store(true)
	if err := r.d.Healthy(context.Background()); err == nil || !strings.Contains(err.Error(), "dump IPVS table") {
		t.Errorf("Healthy with a failing table = %v", err)
	}
}

// failingDump is a table whose Dump fails on demand.
type failingDump struct {
	*recordingBackend
	fail atomic.Bool
}

func (f *failingDump) Dump(ctx context.Context) ([]ipvs.Service, error) {
	if f.fail.Load() {
		return nil, errors.New("table gone")
	}
	return f.recordingBackend.Dump(ctx)
}

// keepalived's dumps in its formats, mode 0600, in Options.DumpDir.
func TestDumps(t *testing.T) {
	dir := t.TempDir()
	r := startRigWith(t, "", nil, func(o *Options) { o.DumpDir = dir })
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	for _, f := range []func() error{r.d.DumpJSON, r.d.DumpStats, r.d.DumpData} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{DumpJSONFile, DumpStatsFile, DumpDataFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", name, fi, err)
		}
	}

	b, err := os.ReadFile(filepath.Join(dir, DumpJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	// The fields keepalived-exporter decodes (its VRRPData and VRRPStats).
	var doc []struct {
		Data struct {
			IName     string   `json:"iname"`
			State     int      `json:"state"`
			WantState int      `json:"wantstate"`
			Intf      string   `json:"ifp_ifname"`
			GArpDelay int      `json:"garp_delay"`
			VRID      int      `json:"vrid"`
			VIPs      []string `json:"vips"`
			Base      int      `json:"base_priority"`
			Effective int      `json:"effective_priority"`
			Version   int      `json:"version"`
			AdverInt  float64  `json:"adver_int"`
			Last      float64  `json:"last_transition"`
		} `json:"data"`
		Stats map[string]uint64 `json:"stats"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("keepalived.json: %v\n%s", err, b)
	}
	if len(doc) != 1 {
		t.Fatalf("keepalived.json has %d instances:\n%s", len(doc), b)
	}
	got := doc[0].Data
	if got.IName != "V" || got.State != 2 || got.WantState != 2 || got.Intf != "eth0" || got.GArpDelay != 5 || got.VRID != 9 ||
		got.Base != 100 || got.Effective != 100 || got.Version != 3 || got.AdverInt != 0.1 || got.Last <= 0 {
		t.Errorf("keepalived.json data: %+v", got)
	}
	if diff := cmp.Diff([]string{"10.0.0.9/24 dev eth0 scope global set"}, got.VIPs); diff != "" {
		t.Errorf("vips (-want +got):\n%s", diff)
	}
	if doc[0].Stats["become_master"] != 1 || doc[0].Stats["advert_sent"] == 0 || len(doc[0].Stats) != 14 {
		t.Errorf("keepalived.json stats: %v", doc[0].Stats)
	}

	// keepalived.stats read as keepalived-exporter reads it.
	stats := parseStats(t, filepath.Join(dir, DumpStatsFile))
	if stats["V"]["Became master"] != "1" || stats["V"]["Advertisements/Sent"] == "0" || stats["V"]["Priority Zero/Received"] != "0" ||
		len(stats["V"]) != 14 {
		t.Errorf("keepalived.stats: %v", stats)
	}
	data, err := os.ReadFile(filepath.Join(dir, DumpDataFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"------< VRRP Topology >------\n VRRP Instance = V\n", "\n   State = MASTER\n", "\n   Wantstate = MASTER\n",
		"\n   Interface = eth0\n", "\n   Virtual Router ID = 9\n", "\n   Gratuitous ARP delay = 5\n",
		"\n   Virtual IP (1):\n     10.0.0.9/24 dev eth0 scope global set\n", "\n   Advert interval = 100 milli-sec\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("keepalived.data lacks %q:\n%s", want, data)
		}
	}
}

// parseStats reads keepalived.stats into instance -> "Section/Key" -> value.
func parseStats(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	var inst, section string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "VRRP Instance: "):
			inst = strings.TrimPrefix(l, "VRRP Instance: ")
			out[inst] = map[string]string{}
		case strings.HasPrefix(l, "    "):
			k, v, _ := strings.Cut(strings.TrimSpace(l), ": ")
			out[inst][section+"/"+k] = v
		case strings.HasSuffix(l, ":"):
			section = strings.TrimSuffix(strings.TrimSpace(l), ":")
		default:
			k, v, _ := strings.Cut(strings.TrimSpace(l), ": ")
			out[inst][k] = v
			section = ""
		}
	}
	return out
}

// With MetricsCompat "keepalived", /metrics has keepalived-exporter's and
// node_exporter's series besides lvskit's, and promtool accepts it.
func TestCompatMetrics(t *testing.T) {
	r := startRigWith(t, "", nil, func(o *Options) { o.MetricsCompat = MetricsCompatKeepalived })
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	body := r.metrics()
	p1, p2 := r.p1, r.p2
	for _, want := range []string{
		"keepalived_up 1",
		`keepalived_vrrp_state{iname="V",intf="eth0",ip_address="10.0.0.9/24",vrid="9"} 2`,
		`keepalived_become_master_total{iname="V",intf="eth0",vrid="9"} 1`,
		`keepalived_release_master_total{iname="V",intf="eth0",vrid="9"} 0`,
		`keepalived_advertisements_received_total{iname="V",intf="eth0",vrid="9"}`,
		`keepalived_advertisements_sent_total{iname="V",intf="eth0",vrid="9"}`,
		`keepalived_ip_ttl_errors_total{iname="V",intf="eth0",vrid="9"} 0`,
		`keepalived_priority_zero_sent_total{iname="V",intf="eth0",vrid="9"} 0`,
		`keepalived_gratuitous_arp_delay_total{iname="V",intf="eth0",vrid="9"} 5`,
		"node_ipvs_connections_total 0",
		"node_ipvs_incoming_bytes_total 0",
		`node_ipvs_backend_weight{local_address="10.0.0.9",local_mark="",local_port="80",proto="TCP",remote_address="127.0.0.1",remote_port="` + strconv.Itoa(p1) + `"} 3`,
		`node_ipvs_backend_weight{local_address="10.0.0.9",local_mark="",local_port="80",proto="TCP",remote_address="127.0.0.1",remote_port="` + strconv.Itoa(p2) + `"} 1`,
		`node_ipvs_backend_connections_active{local_address="10.0.0.9",local_mark="",local_port="80",proto="TCP",remote_address="127.0.0.1",remote_port="` + strconv.Itoa(p1) + `"} 0`,
		`lvskit_vrrp_state{instance="V"} 2`,
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	peer.CheckMetrics(t, body)
}

// An unknown MetricsCompat set is refused.
func TestCompatMetricsUnknown(t *testing.T) {
	r := newReloadRig(t)
	_, err := New(Options{ConfigPath: r.path, IPVS: &recordingBackend{Memory: ipvs.NewMemory()}, Network: &fakeNetwork{},
		Transport: r.memnet.Transport(netip.MustParseAddr("10.0.0.3")), MetricsCompat: "haproxy"})
	if err == nil || !strings.Contains(err.Error(), `unknown set "haproxy"`) {
		t.Errorf("New with MetricsCompat haproxy: %v", err)
	}
}

// The director's counters map to keepalived's as keepalived 2.2.7 counts:
// an address-list error is also an advert received, an interval mismatch
// is no keepalived counter.
func TestKeepalivedStats(t *testing.T) {
	c := VRRPCounters{AdvertsSent: 10, AdvertsReceived: 4, PriorityZeroSent: 1, PriorityZeroReceived: 2, BecameMaster: 3, LeftMaster: 2,
		Drops: map[string]uint64{"ttl": 1, "short": 2, "addr_count": 3, "type": 4, "interval": 5, "addr_list": 6, "auth_type": 7,
			"auth": 8, "version": 9, "checksum": 10, "vrid": 11}}
	want := kaStats{AdvertRcvd: 10, AdvertSent: 10, BecomeMaster: 3, ReleaseMaster: 2, PacketLenErr: 5, IPTTLErr: 1,
		InvalidTypeRcvd: 4, AddrListErr: 6, AuthTypeMismatch: 7, AuthFailure: 8, PriZeroRcvd: 2, PriZeroSent: 1}
	if diff := cmp.Diff(want, keepalivedStats(c)); diff != "" {
		t.Errorf("keepalivedStats (-want +got):\n%s", diff)
	}
}
