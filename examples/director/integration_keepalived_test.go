package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/vrrp"
)

// The same keepalived.conf runs in keepalived 2.2.7 and in the director,
// each alone on a LAN of its own; both become MASTER, then an injector on
// each LAN sends both the same packets (a bad TTL, a wrong password, no
// authentication, a wrong interval, a wrong type, a short packet, a wrong
// address, a lower priority, priority 0). Signalled with SIGRTMIN+2 both
// write keepalived.json; the documents agree field by field on every
// field both have, except the times and the adverts sent (those depend on
// when each started).
const compareConf = `global_defs {
    router_id cmp
}
vrrp_instance VI_CMP {
    state BACKUP
    interface eth0
    virtual_router_id 42
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass cmppass
    }
    virtual_ipaddress {
        10.98.0.100/24
        10.98.0.101 dev eth0 label eth0:1
    }
}
`

func TestIntegrationKeepalivedDumps(t *testing.T) {
	netnstest.RequireRoot(t)
	bin := buildDirector(t)
	lab := netnstest.New(t)
	kaHost, lkHost := lab.Host("ka"), lab.Host("lk")
	kaInj, lkInj := lab.Host("kainj"), lab.Host("lkinj")
	kaLAN, lkLAN := lab.LAN("kalan"), lab.LAN("lklan")
	kaLAN.Connect(kaHost, "eth0", "10.98.0.1/24")
	kaLAN.Connect(kaInj, "eth0", "10.98.0.2/24")
	lkLAN.Connect(lkHost, "eth0", "10.98.0.1/24")
	lkLAN.Connect(lkInj, "eth0", "10.98.0.2/24")

	kaDir, lkDir := t.TempDir(), t.TempDir()
	// keepalived writes its dumps to $TMPDIR (make_tmp_filename).
	t.Setenv("TMPDIR", kaDir)
	ka := peer.StartKeepalived(t, kaHost, compareConf)
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(conf, []byte(compareConf), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ctl", "director.sock")
	lk := lkHost.Program("director", bin, "-f", conf, "--backend", "userspace", "--socket", sock, "--dump-dir", lkDir)

	kaJSON := func() ([]map[string]map[string]any, error) {
		return signalAndRead(func() error { return ka.Signal(sigJSON) }, filepath.Join(kaDir, "keepalived.json"))
	}
	lkJSON := func() ([]map[string]map[string]any, error) {
		return signalAndRead(func() error { return lk.Cmd.Process.Signal(sigJSON) }, filepath.Join(lkDir, "keepalived.json"))
	}
	master := func(read func() ([]map[string]map[string]any, error)) bool {
		doc, err := read()
		return err == nil && len(doc) == 1 && doc[0]["data"]["state"] == 2.0
	}
	// Signals before the handlers are in place would kill (a real-time
	// signal's default): wait for keepalived's transition and for the
	// director's control socket first.
	if !ka.WaitLog("(VI_CMP) Entering MASTER STATE", 20*time.Second) || !netnstest.WaitFor(10*time.Second, func() bool { return master(kaJSON) }) {
		t.Fatalf("keepalived did not become MASTER:\n%s", ka.Log())
	}
	if !netnstest.WaitFor(20*time.Second, func() bool { _, err := fetchStatus(sock); return err == nil }) {
		t.Fatalf("the director's control socket does not answer")
	}
	if !netnstest.WaitFor(20*time.Second, func() bool { return master(lkJSON) }) {
		t.Fatalf("the director did not become MASTER:\n%s", lk.Output())
	}

	// The same packets to both.
	for _, inj := range []*netnstest.Host{kaInj, lkInj} {
		injectAdverts(t, inj)
	}
	// Both have counted the last packet (priority 0) when pri_zero_rcvd is 1.
	var kaDoc, lkDoc []map[string]map[string]any
	if !netnstest.WaitFor(15*time.Second, func() bool {
		var err1, err2 error
		kaDoc, err1 = kaJSON()
		lkDoc, err2 = lkJSON()
		return err1 == nil && err2 == nil && len(kaDoc) == 1 && len(lkDoc) == 1 &&
			kaDoc[0]["stats"]["pri_zero_rcvd"] == 1.0 && lkDoc[0]["stats"]["pri_zero_rcvd"] == 1.0
	}) {
		t.Fatalf("the priority-0 advert was not counted by both:\nkeepalived %v\ndirector %v\n%s", kaDoc, lkDoc, ka.Log())
	}

	skip := map[string]bool{"data.last_transition": true, "stats.advert_sent": true}
	var compared, onlyKeepalived []string
	for _, part := range []string{"data", "stats"} {
		for k, want := range kaDoc[0][part] {
			name := part + "." + k
			got, ok := lkDoc[0][part][k]
			if !ok {
				onlyKeepalived = append(onlyKeepalived, name)
				continue
			}
			if skip[name] {
				continue
			}
			compared = append(compared, name)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s: keepalived %v, director %v", name, want, got)
			}
		}
	}
	sort.Strings(compared)
	sort.Strings(onlyKeepalived)
	t.Logf("compared %d fields: %v", len(compared), compared)
	t.Logf("only in keepalived's document: %v", onlyKeepalived)
	// The fields the exporters read must be among those compared.
	for _, must := range []string{"data.iname", "data.state", "data.wantstate", "data.vrid", "data.base_priority",
		"data.effective_priority", "data.vips", "data.ifp_ifname", "data.garp_delay", "data.version",
		"stats.advert_rcvd", "stats.become_master", "stats.release_master", "stats.ip_ttl_err", "stats.auth_failure",
		"stats.authtype_mismatch", "stats.advert_interval_err", "stats.invalid_type_rcvd", "stats.packet_len_err",
		"stats.addr_list_err", "stats.pri_zero_rcvd", "stats.pri_zero_sent"} {
		found := false
		for _, c := range compared {
			found = found || c == must
		}
		if !found {
			t.Errorf("%s was not compared", must)
		}
	}
	for _, f := range []string{"data.last_transition"} {
		if kaDoc[0]["data"]["last_transition"].(float64) <= 0 || lkDoc[0]["data"]["last_transition"].(float64) <= 0 {
			t.Errorf("%s: keepalived %v, director %v; want both set", f, kaDoc[0]["data"]["last_transition"], lkDoc[0]["data"]["last_transition"])
		}
	}
	if t.Failed() {
		t.Logf("keepalived:\n%v\ndirector:\n%v", kaDoc, lkDoc)
	}

	// keepalived.stats and keepalived.data, read as keepalived-exporter
	// reads them ("Key: value" and "Key = value" lines per instance), agree
	// too on every line both have.
	for _, f := range []struct {
		sig  os.Signal
		file string
		skip map[string]bool
	}{
		{sigStats, "keepalived.stats", map[string]bool{"Advertisements/Sent": true}},
		{sigData, "keepalived.data", map[string]bool{"Last transition": true}},
	} {
		kaPath, lkPath := filepath.Join(kaDir, f.file), filepath.Join(lkDir, f.file)
		kaLines, err := signalAndParse(func() error { return ka.Signal(f.sig.(syscall.Signal)) }, kaPath)
		if err != nil {
			t.Fatal(err)
		}
		lkLines, err := signalAndParse(func() error { return lk.Cmd.Process.Signal(f.sig) }, lkPath)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for k, want := range kaLines {
			got, ok := lkLines[k]
			if !ok || f.skip[k] {
				continue
			}
			n++
			if got != want {
				t.Errorf("%s: %s: keepalived %q, director %q", f.file, k, want, got)
			}
		}
		t.Logf("%s: %d lines compared", f.file, n)
		for _, must := range []string{"VI_CMP"} {
			if _, ok := lkLines[must]; !ok {
				t.Errorf("%s has no instance %s", f.file, must)
			}
		}
		if n < 14 {
			t.Errorf("%s: only %d lines in common:\nkeepalived %v\ndirector %v", f.file, n, kaLines, lkLines)
		}
	}
}

// signalAndParse signals and reads the text dump the signal makes into "[section/]key" -> value for the VRRP instances and their
// address lists, the way keepalived-exporter reads keepalived.data and
// keepalived.stats.
func signalAndParse(signal func() error, path string) (map[string]string, error) {
	b, err := signalForFile(signal, path, hasInstance)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	section, inInstance := "", false
	for _, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "VRRP Instance: "), strings.HasPrefix(l, " VRRP Instance = "):
			inInstance = true
			out[strings.TrimSpace(l[strings.IndexAny(l, ":=")+1:])] = "instance"
		case strings.HasPrefix(l, "------<"):
			inInstance = false
		case !inInstance || trimmed == "":
		case strings.HasSuffix(trimmed, ":"):
			section = strings.TrimSuffix(trimmed, ":")
		case strings.HasPrefix(l, "    "): // an item of the section above (stats: 4 spaces, data: 5)
			if k, v, ok := strings.Cut(trimmed, ": "); ok {
				out[section+"/"+k] = v
			} else {
				out[section+"/"+trimmed] = "listed"
			}
		default:
			section = ""
			k, v, ok := strings.Cut(trimmed, " = ")
			if !ok {
				k, v, _ = strings.Cut(trimmed, ": ")
			}
			out[k] = v
		}
	}
	return out, nil
}

// signalForFile removes path, signals, and returns the file the signal
// makes once it is complete. keepalived writes in place, its parent first
// and then its VRRP process (keepalived.data: the parent's global part,
// then the instances, appended), so a reader can see the first writer's
// part alone, or the first of a writer's stdio buffers; the director
// renames a finished file to it. So the file is read each time inotify
// says a writer closed it or a file was renamed to it, until complete
// says it holds all.
func signalForFile(signal func() error, path string, complete func([]byte) bool) ([]byte, error) {
	_ = os.Remove(path)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		return nil, fmt.Errorf("watch %s: %w", filepath.Dir(path), err)
	}
	if err := signal(); err != nil {
		return nil, err
	}
	var b []byte
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.PathMax))
	for deadline := time.Now().Add(20 * time.Second); ; {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("no complete %s within 20s of the signal; read last:\n%s", path, b)
		}
		if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("poll inotify: %w", err)
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read inotify: %w", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			// struct inotify_event: wd, mask, cookie, len, then the name.
			l := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+l]), "\x00")
			off += unix.SizeofInotifyEvent + l
			if name != filepath.Base(path) {
				continue
			}
			if b, err = os.ReadFile(path); err == nil && complete(b) {
				return b, nil
			}
		}
	}
}

// hasInstance says whether a text dump has come to its VRRP instances:
// a line signalAndParse starts one at.
func hasInstance(b []byte) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VRRP Instance: ") || strings.HasPrefix(l, " VRRP Instance = ") {
			return true
		}
	}
	return false
}

// signalAndRead signals and reads the JSON document the signal makes.
func signalAndRead(signal func() error, path string) ([]map[string]map[string]any, error) {
	b, err := signalForFile(signal, path, json.Valid)
	if err != nil {
		return nil, err
	}
	var doc []map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return doc, nil
}

// injectAdverts sends, from h to 224.0.0.18 on its eth0, adverts for
// VRID 42 that each break one receive rule, then a valid lower-priority
// one and a valid priority-0 one.
func injectAdverts(t *testing.T, h *netnstest.Host) {
	t.Helper()
	c, err := h.ListenPacket("ip4:112", "0.0.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	var ifi *net.Interface
	if err := h.Do(func() error { ifi, err = net.InterfaceByName("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := pc.SetMulticastInterface(ifi); err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("10.98.0.2"), netip.MustParseAddr("224.0.0.18")
	vips := []netip.Addr{netip.MustParseAddr("10.98.0.100"), netip.MustParseAddr("10.98.0.101")}
	advert := func(prio uint8, pass string, interval time.Duration, addrs []netip.Addr) []byte {
		a := vrrp.Advert{Version: 2, Type: 1, VRID: 42, Priority: prio, Interval: interval, Addrs: addrs}
		if pass != "" {
			a.AuthType = 1
			copy(a.AuthData[:], pass)
		}
		b, err := a.AppendMarshal(nil, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongType := advert(100, "cmppass", time.Second, vips)
	wrongType[0] = 0x22 // version 2, type 2
	fixChecksum(wrongType)
	short := advert(100, "cmppass", time.Second, vips)[:12]
	send := func(ttl int, b []byte) {
		t.Helper()
		if err := pc.SetMulticastTTL(ttl); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.WriteTo(b, nil, &net.IPAddr{IP: net.IP(dst.AsSlice())}); err != nil {
			t.Fatal(err)
		}
	}
	send(1, advert(100, "cmppass", time.Second, vips))                                                        // ip_ttl_err
	send(255, advert(100, "wrong", time.Second, vips))                                                        // auth_failure
	send(255, advert(100, "", time.Second, vips))                                                             // authtype_mismatch
	send(255, advert(100, "cmppass", 2*time.Second, vips))                                                    // advert_interval_err
	send(255, wrongType)                                                                                      // invalid_type_rcvd
	send(255, short)                                                                                          // packet_len_err
	send(255, advert(100, "cmppass", time.Second, []netip.Addr{vips[0], netip.MustParseAddr("10.98.0.102")})) // addr_list_err
	send(255, advert(100, "cmppass", time.Second, vips))                                                      // advert_rcvd (lower priority)
	send(255, advert(0, "cmppass", time.Second, vips))                                                        // pri_zero_rcvd
}

// fixChecksum recomputes a VRRPv2 packet's checksum (bytes 6-7).
func fixChecksum(b []byte) {
	b[6], b[7] = 0, 0
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	cs := ^uint16(sum)
	b[6], b[7] = byte(cs>>8), byte(cs)
}
