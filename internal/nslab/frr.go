package nslab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// FRRConfig is what an FRR router runs: bgpd's and bfdd's configuration
// files (FRR's own syntax). An empty BFD runs bfdd with no configuration,
// which is enough for "neighbor X bfd" with the default timers.
type FRRConfig struct {
	BGP string
	BFD string
}

// FRR is an FRR router in a host: zebra (which installs the routes in the
// host's kernel), bfdd and bgpd from Debian's frr package, each in the
// foreground with its own pid file, logging to a buffer, with their vty
// sockets in a directory of their own (so several routers and the
// machine's own FRR never meet).
type FRR struct {
	host  *Host
	dir   string
	log   *Buffer
	procs map[string]*exec.Cmd
	done  map[string]chan struct{}
}

// FRRSbin is where Debian's frr package puts the daemons.
const FRRSbin = "/usr/lib/frr"

// frrDaemons are started in this order: zebra first, whose socket the
// others connect to.
var frrDaemons = []string{"zebra", "bfdd", "bgpd"}

// StartFRR starts zebra, bfdd and bgpd in h with config and waits until
// bgpd answers on its vty. Kill stops them and removes their directory;
// the lab kills them when it closes, if they still run.
func (h *Host) StartFRR(config FRRConfig) (*FRR, error) {
	for _, p := range []string{"vtysh", filepath.Join(FRRSbin, "bgpd")} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("start FRR: %s not installed (Debian package frr): %w", p, err)
		}
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return nil, fmt.Errorf("start FRR: its user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The daemons drop to user frr, so their directory must be theirs and
	// reachable: not under a 0700 temporary directory.
	dir, err := os.MkdirTemp("", "lvskit-frr-")
	if err != nil {
		return nil, fmt.Errorf("start FRR: directory: %w", err)
	}
	f := &FRR{host: h, dir: dir, log: new(Buffer), procs: make(map[string]*exec.Cmd), done: make(map[string]chan struct{})}
	if err := f.start(config, uid, gid); err != nil {
		f.Kill()
		return nil, err
	}
	return f, nil
}

func (f *FRR) start(config FRRConfig, uid, gid int) error {
	files := map[string]string{"bgpd.conf": config.BGP, "bfdd.conf": config.BFD, "zebra.conf": ""}
	for name, body := range files {
		p := filepath.Join(f.dir, name)
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			return fmt.Errorf("start FRR: write %s: %w", name, err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("start FRR: chown %s: %w", name, err)
		}
	}
	if err := os.Chown(f.dir, uid, gid); err != nil {
		return fmt.Errorf("start FRR: chown its directory: %w", err)
	}
	if err := os.Chmod(f.dir, 0o755); err != nil {
		return fmt.Errorf("start FRR: chmod its directory: %w", err)
	}
	zserv := filepath.Join(f.dir, "zserv.api")
	for _, d := range frrDaemons {
		args := []string{
			"-u", "frr", "-g", "frr",
			"--vty_socket", f.dir,
			"-z", zserv,
			"-i", filepath.Join(f.dir, d+".pid"),
			"-f", filepath.Join(f.dir, d+".conf"),
			"--log", "stdout",
			"-P", "0", // no vty on TCP: the unix socket is enough
		}
		if d == "bfdd" {
			args = append(args, "--bfdctl", filepath.Join(f.dir, "bfdd.sock"))
		}
		c := exec.Command(filepath.Join(FRRSbin, d), args...)
		c.Stdout, c.Stderr = prefixWriter{f.log, d + ": "}, prefixWriter{f.log, d + ": "}
		c.Dir = f.dir
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C reaches the caller only
		if err := f.host.Start(c); err != nil {
			return fmt.Errorf("start FRR: %w", err)
		}
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		f.procs[d], f.done[d] = c, done
		// The others connect to zebra's socket and to their own vty.
		sock := zserv
		if d != "zebra" {
			sock = filepath.Join(f.dir, d+".vty")
		}
		if !waitFile(sock, 20*time.Second, done) {
			return fmt.Errorf("start FRR: %s in %s did not come up:\n%s", d, f.host.Name(), f.Log())
		}
	}
	return nil
}

func waitFile(p string, timeout time.Duration, died <-chan struct{}) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(p); err == nil {
			return true
		}
		select {
		case <-died:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// prefixWriter writes to a shared buffer; each daemon's lines carry its
// name, which FRR's own log lines (BGP:, BFD:, ZEBRA:) mostly do too.
type prefixWriter struct {
	b      *Buffer
	prefix string
}

func (w prefixWriter) Write(p []byte) (int, error) {
	_, _ = w.b.Write([]byte(w.prefix))
	return w.b.Write(p)
}

// Log is what the daemons have logged so far.
func (f *FRR) Log() string { return f.log.String() }

// Dir is the directory of the daemons' sockets, pid files and configs.
func (f *FRR) Dir() string { return f.dir }

// Vtysh runs one vtysh command against this router's daemons and returns
// its output.
func (f *FRR) Vtysh(command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "vtysh", "--vty_socket", f.dir, "-c", command).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh -c %q: %w: %s", command, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// VtyshJSON runs a "show ... json" command and decodes its output into v.
func (f *FRR) VtyshJSON(command string, v any) error {
	out, err := f.Vtysh(command)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("vtysh -c %q: decode: %w: %.300s", command, err, out)
	}
	return nil
}

// Kill ends the daemons (SIGKILL), waits for them and removes their
// directory. It is idempotent.
func (f *FRR) Kill() {
	for i := len(frrDaemons) - 1; i >= 0; i-- {
		c := f.procs[frrDaemons[i]]
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGKILL)
		select {
		case <-f.done[frrDaemons[i]]:
		case <-time.After(5 * time.Second):
		}
	}
	if err := os.RemoveAll(f.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		_, _ = f.log.Write([]byte("remove FRR directory: " + err.Error() + "\n"))
	}
}

// FRRECMP describes a router that learns host routes from BGP neighbors
// (directors) and installs up to eight next hops per prefix (ECMP), with a
// BFD session per neighbor.
type FRRECMP struct {
	ASN      uint32
	RouterID netip.Addr
	// Neighbors are the directors' addresses (IPv4 or IPv6), all in
	// NeighborASN.
	Neighbors   []netip.Addr
	NeighborASN uint32
	// BFD is the BFD interval each way, multiplier 3; 0 turns BFD off.
	BFD time.Duration
	// Keepalive and HoldTime are the BGP timers; zero means 30s and 90s.
	Keepalive, HoldTime time.Duration
}

// Config is bgpd's and bfdd's configuration for r. The connect retry is
// 1s, so that a director that comes back is peered again at once.
func (r FRRECMP) Config() FRRConfig {
	keep, hold := r.Keepalive, r.HoldTime
	if keep == 0 {
		keep = 30 * time.Second
	}
	if hold == 0 {
		hold = 90 * time.Second
	}
	var c FRRConfig
	if r.BFD > 0 {
		ms := r.BFD.Milliseconds()
		c.BFD = fmt.Sprintf("bfd\n profile fast\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier 3\n exit\nexit\n", ms, ms)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %v\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n timers bgp %d %d\n",
		r.ASN, r.RouterID, int(keep.Seconds()), int(hold.Seconds()))
	for _, a := range r.Neighbors {
		fmt.Fprintf(&b, " neighbor %v remote-as %d\n neighbor %v timers connect 1\n", a, r.NeighborASN, a)
		if r.BFD > 0 {
			fmt.Fprintf(&b, " neighbor %v bfd profile fast\n", a)
		}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		var act []netip.Addr
		for _, a := range r.Neighbors {
			if a.Is4() == (fam == "ipv4") {
				act = append(act, a)
			}
		}
		if len(act) == 0 {
			continue
		}
		fmt.Fprintf(&b, " address-family %s unicast\n  maximum-paths 8\n", fam)
		for _, a := range act {
			fmt.Fprintf(&b, "  neighbor %v activate\n", a)
		}
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("exit\n")
	c.BGP = b.String()
	return c
}

// RouteNextHops reads, through netlink, the host's route to p and returns
// its gateways (one per ECMP next hop); none when there is no route.
func (h *Host) RouteNextHops(p netip.Prefix) ([]netip.Addr, error) {
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	dst := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	routes, err := h.nl.RouteListFiltered(fam, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("%s: route to %v: %w", h.name, p, err)
	}
	var gws []netip.Addr
	for _, r := range routes {
		if a, ok := netip.AddrFromSlice(r.Gw); ok {
			gws = append(gws, a.Unmap())
		}
		for _, nh := range r.MultiPath {
			if a, ok := netip.AddrFromSlice(nh.Gw); ok {
				gws = append(gws, a.Unmap())
			}
		}
	}
	slices.SortFunc(gws, netip.Addr.Compare)
	return gws, nil
}
