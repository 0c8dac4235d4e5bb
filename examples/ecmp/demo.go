package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

type demo struct {
	opts   options
	rep    *report
	prefix string
	log    io.Writer

	l       *lab
	dir     string
	frr     *nslab.FRR
	web     map[string]*nslab.Proc
	lvs     map[string]*nslab.Proc
	confs   map[string]string
	started []*nslab.Proc
	cl      *client
	stopCl  context.CancelFunc
}

func (d *demo) logf(format string, args ...any) {
	fmt.Fprintf(d.log, "ecmp: "+format+"\n", args...)
}

// Bounds of the waits: generous, for a loaded machine; every wait ends as
// soon as what it waits for is seen.
const (
	upBound     = 90 * time.Second
	dropBound   = 60 * time.Second
	settleBound = 60 * time.Second
)

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "lvskit-ecmp-"); err != nil {
		return err
	}
	d.logf("building the namespaces: client, router, lvs_a, lvs_b, lvs_c, web1, web2, web3 and the LAN")
	if d.l, err = buildTopology(d.prefix); err != nil {
		return err
	}
	d.rep.BFD = jsonDuration(d.opts.bfd)
	d.logf("starting FRR (zebra, bgpd, bfdd) on the router, BFD %v", d.opts.bfd)
	if d.frr, err = startRouter(d.l.router, d.opts.bfd); err != nil {
		return err
	}
	if err := d.startRoles(); err != nil {
		return err
	}
	steps := []func(context.Context) error{d.waitAnnounced, d.startClient, d.spread}
	for range d.opts.kills {
		steps = append(steps, d.killAndReturn)
	}
	if d.opts.serverOut {
		steps = append(steps, d.realServerOut)
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) startRoles() error {
	d.web, d.lvs, d.confs = map[string]*nslab.Proc{}, map[string]*nslab.Proc{}, map[string]string{}
	for _, w := range webs {
		if err := d.startWeb(w); err != nil {
			return err
		}
	}
	for _, dr := range directors {
		conf, err := writeDirectorConf(d.dir, dr, d.opts.bfd)
		if err != nil {
			return err
		}
		d.confs[dr.name] = conf
		if err := d.startDirector(dr); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) startWeb(w host) error {
	d.logf("starting real server %s (%s, the VIP on lo for DR)", w.name, w.addr)
	p, err := d.start(d.l.web[w.name], w.name, "realserver", "--name", w.name, "--http", ":80", "--vip", vip, "--interface", "eth0")
	if err != nil {
		return err
	}
	d.web[w.name] = p
	return nil
}

func (d *demo) startDirector(dr host) error {
	d.logf("starting director %s (%s) with %s", dr.name, dr.addr, d.confs[dr.name])
	p, err := d.start(d.l.directors[dr.name], dr.name, "director", "-f", d.confs[dr.name], "--backend", "nftables", "--metrics", statusAddr,
		"--socket", filepath.Join(d.dir, dr.name+".sock")) // one control socket each: the namespaces share the file system
	if err != nil {
		return err
	}
	d.lvs[dr.name] = p
	return nil
}

// start runs a role binary from the folder of this program (make build
// puts them all in bin/).
func (d *demo) start(h *nslab.Host, name, bin string, args ...string) (*nslab.Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(filepath.Dir(exe), bin)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("role binary %s missing (run `make build`): %w", path, err)
	}
	p, err := h.StartProc(name, append([]string{path}, args...)...)
	if err != nil {
		return nil, err
	}
	d.started = append(d.started, p)
	return p, nil
}

// waitAnnounced waits for the router's route to the VIP through the three
// directors, and for the page to answer through it.
func (d *demo) waitAnnounced(ctx context.Context) error {
	d.logf("waiting for the router's route to %s via the three directors", vip)
	if _, err := d.waitNextHops(ctx, upBound, directorAddrs()...); err != nil {
		return err
	}
	d.rep.Route.Text = d.ipRoute(ctx)
	hops, _ := d.nextHops()
	for _, a := range hops {
		d.rep.Route.NextHops = append(d.rep.Route.NextHops, directorByAddr(a)+" "+a.String())
	}
	st, err := d.status(ctx, directors[0].name)
	if err != nil {
		return err
	}
	d.rep.Backend = st.Backend
	return nil
}

// status reads a director's status, trying again for a while: a loaded
// machine may keep it from answering at once.
func (d *demo) status(ctx context.Context, name string) (*directorStatus, error) {
	var st *directorStatus
	var err error
	nslab.WaitFor(ctx, 30*time.Second, 200*time.Millisecond, func() bool {
		st, err = fetchStatus(ctx, d.l.directors[name])
		return err == nil
	})
	return st, err
}

// startClient opens the long-lived connections and waits until each has
// had an answer.
func (d *demo) startClient(ctx context.Context) error {
	d.logf("the client opens %d long-lived connections to %s:80", d.opts.conns, vip)
	cctx, cancel := context.WithCancel(ctx)
	d.stopCl = cancel
	d.cl = newClient(d.l.client, d.opts.conns)
	start := time.Now()
	d.cl.start(cctx)
	if !nslab.WaitFor(ctx, settleBound, 50*time.Millisecond, func() bool { return d.cl.answeredSince(start) }) {
		return fmt.Errorf("not every long-lived connection had an answer within %v", settleBound)
	}
	d.cl.shortOn.Store(true)
	return nil
}

// spread records where the long-lived connections go: the director the
// router's ECMP picks for each (and, as a check, the connections each
// director's flow table counts active), and the real server that answers.
func (d *demo) spread(ctx context.Context) error {
	var err error
	d.rep.Spread, err = d.snapshot(ctx, true)
	return err
}

func (d *demo) snapshot(ctx context.Context, countTables bool) (spread, error) {
	states := d.cl.states()
	sports := make([]uint16, len(states))
	for i, s := range states {
		sports[i] = s.Sport
	}
	choice, err := d.ecmpChoice(ctx, sports)
	if err != nil {
		return spread{}, err
	}
	sp := spread{ByDirector: map[string]int{}, ByServer: map[string]int{}, conns: map[int]placement{}}
	for _, s := range states {
		dr := choice[s.Sport]
		sp.ByDirector[dr]++
		sp.ByServer[s.Server]++
		sp.conns[s.ID] = placement{director: dr, server: s.Server, since: s.Since}
	}
	if countTables {
		sp.DirectorTables = map[string]int{}
		for _, dr := range directors {
			st, err := d.status(ctx, dr.name)
			if err != nil {
				return sp, err
			}
			sp.DirectorTables[dr.name] = st.active()
		}
	}
	return sp, nil
}

// killAndReturn kills a director (its link first, as when its host dies),
// times the router's removal of it, counts the connections that broke and
// where the flows went; then brings it back and does the same.
func (d *demo) killAndReturn(ctx context.Context) error {
	n := len(d.rep.Kills)
	victim := directors[n%len(directors)]
	k := killRun{Director: victim.name}
	if err := d.waitRouterReady(ctx); err != nil {
		return err
	}
	before, err := d.snapshot(ctx, false)
	if err != nil {
		return err
	}
	k.Carried = before.ByDirector[victim.name]
	var others []netip.Addr
	for _, a := range directorAddrs() {
		if a.String() != victim.addr {
			others = append(others, a)
		}
	}

	shortFailed := d.cl.shortFailed.Load()
	died := time.Now()
	if d.opts.linkDown {
		d.logf("taking %s's link down, then SIGKILL: its host dies", victim.name)
		if err := d.link(victim.name, false); err != nil {
			return err
		}
	} else {
		d.logf("SIGKILL of %s", victim.name)
	}
	d.lvs[victim.name].Kill()
	dropped, err := d.waitNextHops(ctx, dropBound, others...)
	if err != nil {
		return err
	}
	k.DroppedAfter = jsonDuration(dropped.Sub(died))
	k.DroppedBecause = d.resetReason(victim.addr)
	d.logf("the router dropped %s after %v (%s)", victim.name, k.DroppedAfter, k.DroppedBecause)
	if !nslab.WaitFor(ctx, settleBound, 50*time.Millisecond, func() bool { return d.cl.answeredSince(dropped) }) {
		d.rep.problem("kill %d: not every long-lived connection answered within %v after the router dropped %s", n+1, settleBound, victim.name)
	}
	after, err := d.snapshot(ctx, false)
	if err != nil {
		return err
	}
	k.AfterKill = after.ByDirector
	k.Broken = d.cl.breaksSince(died)

	returned := time.Now()
	d.logf("bringing %s back", victim.name)
	if d.opts.linkDown {
		if err := d.link(victim.name, true); err != nil {
			return err
		}
	}
	if err := d.startDirector(victim); err != nil {
		return err
	}
	back, err := d.waitNextHops(ctx, upBound, directorAddrs()...)
	if err != nil {
		return err
	}
	k.BackAfter = jsonDuration(back.Sub(returned))
	if !nslab.WaitFor(ctx, settleBound, 50*time.Millisecond, func() bool { return d.cl.answeredSince(back) }) {
		d.rep.problem("kill %d: not every long-lived connection answered within %v after %s came back", n+1, settleBound, victim.name)
	}
	again, err := d.snapshot(ctx, false)
	if err != nil {
		return err
	}
	k.AfterReturn = again.ByDirector
	for id, p := range again.conns {
		if p.director == before.conns[id].director {
			k.SameDirector++
		}
	}
	k.BrokenOnReturn = len(d.cl.breaksSince(returned))
	k.Broken = d.cl.breaksSince(died)
	k.ShortFailed = int(d.cl.shortFailed.Load() - shortFailed)
	d.rep.Kills = append(d.rep.Kills, k)
	if len(k.Broken) > 0 {
		d.rep.problem("kill %d of %s: %d long-lived connections broke (goal 0), first: %s", n+1, victim.name, len(k.Broken), k.Broken[0].Err)
	}
	return nil
}

// link sets a director's eth0 up or down.
func (d *demo) link(name string, up bool) error {
	h := d.l.directors[name]
	link, err := h.Netlink().LinkByName("eth0")
	if err == nil {
		if up {
			err = h.Netlink().LinkSetUp(link)
		} else {
			err = h.Netlink().LinkSetDown(link)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: set eth0 up=%v: %w", name, up, err)
	}
	return nil
}

// realServerOut stops a real server and shows that only its connections
// moved: the others keep their server, and break none.
func (d *demo) realServerOut(ctx context.Context) error {
	w := webs[1]
	o := &d.rep.ServerOut
	o.Server = w.name
	before, err := d.snapshot(ctx, false)
	if err != nil {
		return err
	}
	o.ItsConns = before.ByServer[w.name]
	d.logf("stopping real server %s (%d of the long-lived connections are on it)", w.name, o.ItsConns)
	shortFailed := d.cl.shortFailed.Load()
	stopped := time.Now()
	d.web[w.name].Kill()
	addr := w.addr + ":80"
	if !nslab.WaitFor(ctx, settleBound, 50*time.Millisecond, func() bool {
		for _, dr := range directors {
			st, err := fetchStatus(ctx, d.l.directors[dr.name])
			if err != nil || !st.out(addr) {
				return false
			}
		}
		return true
	}) {
		return fmt.Errorf("the directors did not all take %s out within %v", w.name, settleBound)
	}
	o.TakenOutAfter = jsonDuration(time.Since(stopped))
	out := time.Now()
	if !nslab.WaitFor(ctx, settleBound, 50*time.Millisecond, func() bool { return d.cl.answeredSince(out) }) {
		d.rep.problem("not every long-lived connection answered within %v after %s was taken out", settleBound, w.name)
	}
	after, err := d.snapshot(ctx, false)
	if err != nil {
		return err
	}
	o.After = after.ByServer
	for id, p := range before.conns {
		now := after.conns[id]
		if p.server == w.name {
			if now.server != w.name && now.server != "" {
				o.Moved++
			}
			continue
		}
		o.OtherConns++
		if now.server != p.server || now.since != p.since {
			o.OtherChanged++
		}
	}
	o.ShortFailed = int(d.cl.shortFailed.Load() - shortFailed)
	o.OtherBroken = []breakEvent{}
	for _, b := range d.cl.breaksSince(stopped) {
		// A connection of the stopped server that reconnected and was
		// sent to it again before the directors took it out breaks
		// before its first answer: it is the stopped server's, not
		// another's.
		if b.Server != w.name && (b.Server != "" || b.Replaced != w.name) {
			o.OtherBroken = append(o.OtherBroken, b)
		}
	}
	if o.Moved != o.ItsConns {
		d.rep.problem("%d connections were on %s, %d of them moved to another server", o.ItsConns, w.name, o.Moved)
	}
	if o.OtherChanged > 0 || len(o.OtherBroken) > 0 {
		d.rep.problem("stopping %s disturbed the other servers' connections: %d changed, %d broke", w.name, o.OtherChanged, len(o.OtherBroken))
	}
	return nil
}

// teardown stops the client, the roles (directors gracefully first) and
// FRR, and removes the namespaces.
func (d *demo) teardown() {
	if d.stopCl != nil {
		d.stopCl()
		d.cl.wait()
		d.rep.ShortOK, d.rep.ShortFailed = int(d.cl.shortOK.Load()), int(d.cl.shortFailed.Load())
	}
	for i := len(d.started) - 1; i >= 0; i-- {
		_ = d.started[i].Terminate(5 * time.Second)
	}
	if d.frr != nil {
		d.frr.Kill()
	}
	if d.l != nil {
		if err := d.l.lab.Close(); err != nil {
			d.rep.problem("remove namespaces: %v", err)
		}
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

func (d *demo) dumpLogs() {
	for _, p := range d.started {
		fmt.Fprintf(os.Stderr, "--- last lines of %s ---\n%s\n", p.Name, p.Tail(30))
	}
	if d.frr != nil {
		fmt.Fprintf(os.Stderr, "--- FRR ---\n%s\n", tail(d.frr.Log(), 40))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// directorStatus is the part of the director's JSON status the demo reads.
type directorStatus struct {
	Backend        string `json:"backend"`
	VirtualServers []struct {
		RealServers []struct {
			Address     string `json:"address"`
			Healthy     bool   `json:"healthy"`
			InTable     bool   `json:"in_table"`
			ActiveConns int    `json:"active_conns"`
		} `json:"real_servers"`
	} `json:"virtual_servers"`
}

// active is the connections the director's flow table counts active.
func (s *directorStatus) active() int {
	n := 0
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			n += rs.ActiveConns
		}
	}
	return n
}

// out reports whether the director has taken a real server out.
func (s *directorStatus) out(addr string) bool {
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			if rs.Address == addr {
				return !rs.Healthy && !rs.InTable
			}
		}
	}
	return false
}

const statusAddr = "127.0.0.1:9100"

func fetchStatus(ctx context.Context, h *nslab.Host) (*directorStatus, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+statusAddr+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", h.Name(), err)
	}
	defer resp.Body.Close()
	var st directorStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode status of %s: %w", h.Name(), err)
	}
	return &st, nil
}
