package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/ipvs"
)

type demo struct {
	opts   options
	rep    *report
	prefix string // of the namespaces' names
	log    io.Writer

	c       *cluster
	dir     string
	router  *nslab.Proc
	web     map[string]*nslab.Proc
	lvs     map[string]*nslab.Proc
	started []*nslab.Proc
}

func (d *demo) logf(format string, args ...any) {
	fmt.Fprintf(d.log, "cluster: "+format+"\n", args...)
}

const pageURL = "http://" + routerPublic + "/"

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "lvskit-demo-"); err != nil {
		return err
	}
	d.logf("building the namespaces: client, router, lvs_1, lvs_2, web1, web2 and the cluster LAN")
	if d.c, err = buildTopology(d.prefix); err != nil {
		return err
	}
	if err := d.chooseBackend(ctx); err != nil {
		return err
	}
	if err := d.startRoles(); err != nil {
		return err
	}
	steps := []func(context.Context) error{d.waitService, d.distribution, d.failover, d.healthCheck}
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

// chooseBackend asks ipvs.Open, in a director's namespace, which backend
// the directors will get: kernel IPVS (DR) where the kernel has it, else
// nftables (DR too: the book's figure 8-5 as the book runs it), else the
// userspace proxy, which forwards like NAT.
func (d *demo) chooseBackend(ctx context.Context) error {
	h := d.c.directors[directors[0].name]
	b, choice, err := ipvs.Open(ctx, ipvs.OpenConfig{Kind: d.opts.backend, Netlink: ipvs.NetlinkConfig{Netns: h.NsHandle()}})
	if err != nil {
		return fmt.Errorf("backend %s: %w", d.opts.backend, err)
	}
	b.Close()
	d.rep.Backend, d.rep.BackendReason = choice.Kind, choice.Reason
	d.rep.Method = "NAT"
	if slices.Contains(b.Capabilities().Forwards, ipvs.DirectRoute) {
		d.rep.Method = "DR"
	}
	d.logf("IPVS backend %s, lb_kind %s: %s", d.rep.Backend, d.rep.Method, d.rep.BackendReason)
	return nil
}

func (d *demo) startRoles() error {
	var err error
	d.logf("starting the router: forwarding, masquerade, DNAT %s:80 -> %s:80", routerPublic, vip)
	d.router, err = d.start(d.c.router, "router", "router",
		"--inside", "eth0", "--outside", "eth1",
		"--masquerade", "192.168.0.0/24",
		"--dnat", routerPublic+":80="+vip+":80")
	if err != nil {
		return err
	}
	d.web = map[string]*nslab.Proc{}
	for _, w := range webServers {
		if err := d.startWeb(w); err != nil {
			return err
		}
	}
	d.lvs = map[string]*nslab.Proc{}
	for _, dr := range directors {
		conf, err := writeDirectorConf(d.dir, dr.name, dr.priority, d.rep.Method)
		if err != nil {
			return err
		}
		d.logf("starting director %s (priority %d) on %s", dr.name, dr.priority, conf)
		p, err := d.start(d.c.directors[dr.name], dr.name, "director",
			"-f", conf, "--backend", d.rep.Backend, "--metrics", statusAddr, "--socket", filepath.Join(d.dir, dr.name+".sock"))
		if err != nil {
			return err
		}
		d.lvs[dr.name] = p
	}
	return nil
}

func (d *demo) startWeb(w server) error {
	args := []string{"--name", w.name, "--http", ":80"}
	if d.rep.Method == "DR" {
		args = append(args, "--vip", vip, "--interface", "eth0")
	}
	d.logf("starting real server %s (%s, weight %d)", w.name, w.addr, w.weight)
	p, err := d.start(d.c.web[w.name], w.name, "realserver", args...)
	if err != nil {
		return err
	}
	d.web[w.name] = p
	return nil
}

func (d *demo) start(h *nslab.Host, name, bin string, args ...string) (*nslab.Proc, error) {
	p, err := startProc(h, name, bin, args...)
	if err != nil {
		return nil, err
	}
	d.started = append(d.started, p)
	return p, nil
}

// waitService waits until the election has settled (the first director,
// which has the higher priority, MASTER and the other BACKUP) and then
// the client gets the page through the router and the VIP. Started
// together, both directors can become MASTER at once for a moment, as
// keepalived's do; the one that steps down may have announced the VIP
// last, and the router then sends to it until the master's next
// announcements (garp_lower_prio_delay, 5 s), so the page is asked for
// only after the election.
func (d *demo) waitService(ctx context.Context) error {
	d.logf("waiting for VRRP to elect a master and the page to answer at %s", pageURL)
	var states []string
	settled := nslab.WaitFor(ctx, 90*time.Second, 100*time.Millisecond, func() bool {
		states = states[:0]
		for _, dr := range directors {
			st, err := fetchStatus(ctx, d.c.directors[dr.name])
			if err != nil {
				return false
			}
			states = append(states, dr.name+" "+st.state())
		}
		return states[0] == directors[0].name+" MASTER" && states[1] == directors[1].name+" BACKUP"
	})
	if !settled {
		return fmt.Errorf("VRRP did not settle within 90s with %s MASTER (it has the higher priority): %v", directors[0].name, states)
	}
	c := httpFrom(d.c.client, time.Second)
	ok := nslab.WaitFor(ctx, 90*time.Second, 100*time.Millisecond, func() bool {
		_, err := servedBy(ctx, c, pageURL)
		return err == nil
	})
	if !ok {
		return fmt.Errorf("the page never answered at %s within 90s", pageURL)
	}
	return nil
}

// distribution sends a bounded number of requests, one connection each,
// and counts who served them.
func (d *demo) distribution(ctx context.Context) error {
	n := d.opts.requests
	d.logf("sending %d requests from the client", n)
	// A request of the healthy phase fails only if it is not served at
	// all: 15 s covers three SYN retransmissions and a VM whose one
	// emulated CPU is starved by a loaded host (CI's TestKernelDemo once
	// waited over 5 s for a reply from web1).
	c := httpFrom(d.c.client, 15*time.Second)
	served := map[string]int{}
	for i := 0; i < n; i++ {
		name, err := servedBy(ctx, c, pageURL)
		if err != nil {
			if d.rep.Failed == 0 {
				d.rep.problem("request %d failed: %v", i+1, err)
			}
			d.rep.Failed++
			continue
		}
		served[name]++
	}
	d.rep.Requests = n
	total := 0
	for _, w := range webServers {
		total += w.weight
	}
	d.rep.Tolerance = total
	for _, w := range webServers {
		exp := n * w.weight / total
		d.rep.Distribution = append(d.rep.Distribution, share{Server: w.name, Weight: w.weight, Served: served[w.name], Expected: exp})
		if diff := served[w.name] - exp; diff > total || diff < -total {
			d.rep.problem("%s served %d of %d requests, want %d ± %d for weight %d of %d", w.name, served[w.name], n, exp, total, w.weight, total)
		}
	}
	if d.rep.Failed > 0 {
		d.rep.problem("%d of %d requests failed while the cluster was healthy", d.rep.Failed, n)
	}
	return nil
}

// failoverBound is the longest time without service the demo accepts
// when the master dies. VRRP promises the takeover after the backup's
// master-down interval (3.6 s here) and nothing sooner; what comes on top
// (the new master's timer firing, its gratuitous ARPs reaching the
// router) is scheduling, which a loaded machine or an emulated VM
// stretches by seconds. A takeover that waited for the router's ARP entry
// to go stale, or a master-down interval counted wrong, shows well above
// this bound.
const failoverBound = 15 * time.Second

// failover kills the master director with SIGKILL while the client keeps
// asking, and measures the time without service.
func (d *demo) failover(ctx context.Context) error {
	master, backup := directors[0].name, directors[1].name
	f := &d.rep.Failover
	f.Killed = master
	// RFC 3768: 3 x advert_int + (256 - priority)/256 s, for the backup.
	f.MasterDownInterval = jsonDuration(3*time.Second + time.Duration(256-directors[1].priority)*time.Second/256)

	c := probeFrom(d.c.client, 2*time.Second)
	if _, err := servedBy(ctx, c, pageURL); err != nil {
		return fmt.Errorf("the page failed just before the failover: %w", err)
	}
	// Probe every 50 ms, each request in its own goroutine, so that a slow
	// or lost request does not hide when service comes back. The gap runs
	// from the start of the last request served before the kill to the
	// start of the first one served after it.
	type probe struct {
		start time.Time
		ok    bool
	}
	results := make(chan probe, 512)
	var wg sync.WaitGroup
	send := func() {
		wg.Add(1)
		go func(start time.Time) {
			defer wg.Done()
			_, err := servedBy(ctx, c, pageURL)
			results <- probe{start, err == nil}
		}(time.Now())
	}
	var lastOK, killed, firstOK time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for sent := 0; firstOK.IsZero() && time.Now().Before(deadline) && ctx.Err() == nil; {
		select {
		case <-tick.C:
			if sent < cap(results)-8 {
				send()
				sent++
			}
			if killed.IsZero() && !lastOK.IsZero() {
				d.logf("SIGKILL of the master director %s", master)
				killed = time.Now()
				d.lvs[master].Kill()
				if d.rep.Backend != ipvs.KindUserspace {
					// The kernel's table (IPVS or nftables) and the VIP
					// outlive the director process; a dead machine takes
					// them along.
					d.logf("the kernel (%s) forwards on without the director process: taking %s's link down, as if the machine died", d.rep.Backend, master)
					f.LinkDown = true
					if err := d.linkDown(master); err != nil {
						return err
					}
				}
			}
		case r := <-results:
			switch {
			case !r.ok:
				if !killed.IsZero() {
					f.FailedRequests++
				}
			case killed.IsZero() || r.start.Before(killed):
				if r.start.After(lastOK) {
					lastOK = r.start
				}
			default:
				firstOK = r.start
			}
		}
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.ok && !killed.IsZero() && r.start.After(killed) && r.start.Before(firstOK) {
			firstOK = r.start
		}
	}
	if firstOK.IsZero() {
		return fmt.Errorf("no service for 30s after %s was killed", master)
	}
	f.Gap = jsonDuration(firstOK.Sub(lastOK))
	var state string
	nslab.WaitFor(ctx, 15*time.Second, 50*time.Millisecond, func() bool {
		st, err := fetchStatus(ctx, d.c.directors[backup])
		if err == nil {
			state = st.state()
		}
		return state == "MASTER"
	})
	if state == "MASTER" {
		f.TookOver = backup
	} else {
		d.rep.problem("%s is %q 15s after the master was killed, want MASTER", backup, state)
	}
	if time.Duration(f.Gap) > failoverBound {
		d.rep.problem("failover gap %s, want under %s at advert_int 1s (master-down interval %s)", f.Gap, failoverBound, f.MasterDownInterval)
	}
	d.logf("%s took over after %s without service", backup, f.Gap)
	return nil
}

func (d *demo) linkDown(name string) error {
	h := d.c.directors[name]
	link, err := h.Netlink().LinkByName("eth0")
	if err == nil {
		err = h.Netlink().LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("%s: take eth0 down: %w", name, err)
	}
	return nil
}

// healthCheck stops a real server, waits for the director's checker to take
// it out, checks no request goes to it, restarts it and waits for it to
// come back.
func (d *demo) healthCheck(ctx context.Context) error {
	w := webServers[1]
	h := &d.rep.Health
	h.Server = w.name
	dir := d.c.directors[directors[1].name]
	addr := w.addr + ":80"
	healthy := func(want bool) func() bool {
		return func() bool {
			st, err := fetchStatus(ctx, dir)
			if err != nil {
				return false
			}
			// Detection counts once the table says so, not just the checker.
			ok, inTable, known := st.healthy(addr)
			return known && ok == want && inTable == want
		}
	}
	d.logf("stopping real server %s", w.name)
	stopped := time.Now()
	d.web[w.name].Kill()
	if !nslab.WaitFor(ctx, 60*time.Second, 50*time.Millisecond, healthy(false)) {
		return fmt.Errorf("the director did not take %s out within 60s", w.name)
	}
	h.DetectedAfter = jsonDuration(time.Since(stopped))
	// As in the healthy phase: a request fails only if it is not served
	// at all, not because a loaded machine was slow to serve it.
	c := httpFrom(d.c.client, 15*time.Second)
	h.WhileDown = map[string]int{}
	var firstErr error
	for i := 0; i < 40; i++ {
		name, err := servedBy(ctx, c, pageURL)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			h.FailedWhenDown++
			continue
		}
		h.WhileDown[name]++
	}
	if h.WhileDown[w.name] > 0 || h.FailedWhenDown > 0 {
		d.rep.problem("after %s was taken out: %d requests still went to it, %d failed (first error: %v)", w.name, h.WhileDown[w.name], h.FailedWhenDown, firstErr)
	}

	d.logf("restarting real server %s", w.name)
	restarted := time.Now()
	if err := d.startWeb(w); err != nil {
		return err
	}
	if !nslab.WaitFor(ctx, 60*time.Second, 50*time.Millisecond, healthy(true)) {
		return fmt.Errorf("the director did not put %s back within 60s", w.name)
	}
	h.ReturnedAfter = jsonDuration(time.Since(restarted))
	h.AfterReturn = map[string]int{}
	for i := 0; i < 40; i++ {
		if name, err := servedBy(ctx, c, pageURL); err == nil {
			h.AfterReturn[name]++
		}
	}
	if h.AfterReturn[w.name] == 0 {
		d.rep.problem("%s is back in but served none of 40 requests", w.name)
	}
	return nil
}

// teardown stops the roles (directors gracefully first, so they remove the
// VIP) and removes the namespaces.
func (d *demo) teardown() {
	for i := len(d.started) - 1; i >= 0; i-- {
		_ = d.started[i].Terminate(3 * time.Second)
	}
	if d.c != nil {
		if err := d.c.lab.Close(); err != nil {
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
}
