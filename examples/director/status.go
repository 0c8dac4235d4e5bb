package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/lvskit/lvskit/internal/director"
)

// runStatus is `director status`: it reads the running director's status
// from its control socket and prints it for a person, or as JSON.
func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("director status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := fs.String("socket", director.DefaultControlSocket, "the running director's control socket")
	asJSON := fs.Bool("json", false, "print the status document as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "director status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	body, err := fetchStatus(*sock)
	if err != nil {
		fmt.Fprintf(stderr, "director status: %v\n", err)
		return 1
	}
	if *asJSON {
		_, err = stdout.Write(body)
		if err != nil {
			return 1
		}
		return 0
	}
	var st director.Status
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintf(stderr, "director status: decode status from %s: %v\n", *sock, err)
		return 1
	}
	printStatus(stdout, &st)
	return 0
}

// fetchStatus gets /status over the control socket.
func fetchStatus(sock string) ([]byte, error) {
	c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Get("http://director/status")
	if err != nil {
		return nil, fmt.Errorf("reach the director on %s (is it running? --socket names another): %w", sock, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read status from %s: %w", sock, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status from %s: %s", sock, resp.Status)
	}
	return body, nil
}

// ipvsadmForward is the word ipvsadm -L shows for a forwarding method.
var ipvsadmForward = map[string]string{"nat": "Masq", "dr": "Route", "tun": "Tunnel", "local": "Local", "bypass": "Bypass"}

// printStatus lays the status out for a person: the director, its VRRP
// instances, its vrrp_scripts, the virtual servers as `ipvsadm -Ln` with
// each real server's health, and the sync daemon.
func printStatus(w io.Writer, st *director.Status) {
	fmt.Fprintf(w, "director %s: config %s, IPVS backend %s\n", st.RouterID, st.Config, st.Backend)
	fmt.Fprintf(w, "reloads: %d ok, %d failed; IPVS writes: %d\n", st.ReloadsOK, st.ReloadsFailed, st.IPVSWrites)
	if st.Error != "" {
		fmt.Fprintf(w, "error: %s\n", st.Error)
	}

	fmt.Fprintf(w, "\nVRRP instances\n")
	if len(st.VRRP) == 0 {
		fmt.Fprintf(w, "  (none)\n")
	}
	for _, in := range st.VRRP {
		since := ""
		if !in.LastTransition.IsZero() {
			since = " for " + st.Time.Sub(in.LastTransition).Truncate(time.Second).String()
		}
		fmt.Fprintf(w, "  %s: %s%s, %d transitions\n", in.Name, in.State, since, in.Transitions)
		master := in.Master
		if master != "" && in.State == "MASTER" {
			master += " (this director)"
		}
		if master == "" {
			master = "unknown"
		}
		fmt.Fprintf(w, "    interface %s, VRID %d, version %d, priority %d, effective %d, master %s\n",
			in.Interface, in.VRID, in.Version, in.Priority, in.EffectivePriority, master)
		if in.SyncGroup != "" {
			fmt.Fprintf(w, "    sync group %s\n", in.SyncGroup)
		}
		for _, v := range in.VIPs {
			fmt.Fprintf(w, "    VIP %s\n", v)
		}
		c := in.Counters
		fmt.Fprintf(w, "    adverts sent %d (priority 0: %d), received %d (priority 0: %d); became master %d, left master %d\n",
			c.AdvertsSent, c.PriorityZeroSent, c.AdvertsReceived, c.PriorityZeroReceived, c.BecameMaster, c.LeftMaster)
		if len(c.Drops) > 0 {
			var reasons []string
			for r, n := range c.Drops {
				reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
			}
			sort.Strings(reasons)
			fmt.Fprintf(w, "    dropped: %s\n", strings.Join(reasons, ", "))
		}
		if in.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", in.Error)
		}
	}
	if len(st.Scripts) > 0 {
		fmt.Fprintf(w, "\nVRRP scripts\n")
		for _, s := range st.Scripts {
			fmt.Fprintf(w, "  %s: %s\n", s.Name, s.Status)
		}
	}

	fmt.Fprintf(w, "\nIP Virtual Server (%s)\n", st.Backend)
	fmt.Fprintf(w, "Prot LocalAddress:Port Scheduler Flags\n")
	fmt.Fprintf(w, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health\n")
	for _, vs := range st.VirtualServers {
		line := fmt.Sprintf("%s  %s %s", vs.Protocol, vs.Address, vs.Scheduler)
		if len(vs.Flags) > 0 {
			line += " (" + strings.Join(vs.Flags, ",") + ")"
		}
		if vs.Persistence > 0 {
			line += fmt.Sprintf(" persistent %d", vs.Persistence)
			if vs.PersistenceMask != 0 {
				line += fmt.Sprintf(" mask %d", vs.PersistenceMask)
			}
		}
		quorum := "quorum up"
		if !vs.QuorumUp {
			quorum = "quorum down"
		}
		if !vs.InTable {
			quorum += ", not in the table"
		}
		fmt.Fprintf(w, "%s  [%s]\n", line, quorum)
		for _, rs := range vs.RealServers {
			fwd := ipvsadmForward[rs.Forward]
			if fwd == "" {
				fwd = rs.Forward
			}
			health := "down"
			if rs.Healthy {
				health = "up"
			}
			if !rs.InTable {
				fmt.Fprintf(w, "  -> %-28s %-7s %-6s %-10s %-10s %s (not in the table)\n", rs.Address, fwd, "-", "-", "-", health)
				continue
			}
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d %s\n", rs.Address, fwd, rs.TableWeight, rs.ActiveConns, rs.InactiveConns, health)
		}
	}

	printBGP(w, st)

	if sd := st.SyncDaemon; sd != nil {
		role := sd.Role
		if role == "" {
			role = "stopped"
		}
		follows := ""
		if sd.Instance != "" {
			follows = ", following " + sd.Instance
		}
		fmt.Fprintf(w, "\nSync daemon: %s on %s%s\n", role, sd.Interface, follows)
		if sd.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", sd.Error)
		}
	}
}

// printBGP prints the bgp block's speaker: its sessions, then each
// announced address with whether its quorum wants it and the route's
// state. Nothing without a bgp block.
func printBGP(w io.Writer, st *director.Status) {
	b := st.BGP
	if b == nil {
		return
	}
	running := "running"
	if !b.Running {
		running = "not running"
	}
	fmt.Fprintf(w, "\nBGP (%s)\n", running)
	for _, p := range b.Peers {
		kind := "eBGP"
		if p.Internal {
			kind = "iBGP"
		}
		since := ""
		if !p.Since.IsZero() {
			since = " for " + st.Time.Sub(p.Since).Truncate(time.Second).String()
		}
		fmt.Fprintf(w, "  neighbor %s AS %d (%s): %s%s, BFD %s, %d flaps, %d prefixes sent\n",
			p.Address, p.ASN, kind, p.State, since, p.BFD, p.Flaps, p.Sent)
		if p.LastError != "" {
			fmt.Fprintf(w, "    last error: %s\n", p.LastError)
		}
	}
	state := map[string]string{}
	for _, r := range b.Routes {
		state[r.Route.Prefix.Addr().String()] = r.State.String()
	}
	for _, a := range b.Announce {
		quorum := "quorum up"
		if !a.QuorumUp {
			quorum = "quorum down"
		}
		route := state[a.Address.String()]
		if route == "" {
			route = "not announced"
		}
		fmt.Fprintf(w, "  announce %s: %s, %s (%s)\n", a.Address, route, quorum, strings.Join(a.Services, ", "))
	}
}
