package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netns"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
)

// Director runs a keepalived.conf: VRRP instances and sync groups, health
// checkers and the IPVS table, alerts and the connection sync daemon.
type Director struct {
	opts  Options
	log   *slog.Logger
	clock clock.Clock

	// ns is net_namespace's namespace, netns.None() without one
	// (netns.go); it does not change on a reload.
	ns            netns.NsHandle
	host          *netcfg.Host
	statics       staticHost // host, where static lines are set; nil without one
	network       vrrp.Network
	transport     vrrp.Transport
	raw           *vrrp.RawTransport
	backend       *countingBackend
	backendName   string
	backendReason string
	daemons       ipvs.DaemonController
	table         *healthcheck.Table

	reg         *prometheus.Registry
	vrrpMetrics *vrrp.Metrics
	hcMetrics   *healthcheck.Metrics
	reloads     *prometheus.CounterVec
	reloadOK    atomic.Uint64
	reloadErr   atomic.Uint64

	notifier      atomic.Pointer[alert.Notifier]
	follower      atomic.Pointer[syncFollower]
	noEmailFaults atomic.Bool
	// lastTransitions holds, per VRRP instance name, the time.Time of its
	// last transition (status and keepalived's dumps show it).
	lastTransitions sync.Map
	// scripts holds, per vrrp_script name, its *scriptResult (scripts.go).
	scripts sync.Map
	// gate and bgpRun are the BGP unit's (unit_bgp.go): the running pools
	// whose quorum gates the routes, and the running speaker.
	gate   quorumGate
	bgpRun atomic.Pointer[bgpRun]

	mu      sync.Mutex // serialises Run's start and stop, and Reload
	plan    *Plan      // the plan Run applies, then the one running
	units   map[unitKey]runningUnit
	runCtx  context.Context
	running bool
	stopped bool

	started   chan struct{} // closed when Run has applied the plan
	closeOnce sync.Once
	bg        sync.WaitGroup

	// wrapSpecs, set by tests only, wraps the units of every plan
	// applied: how a test injects a failure or a panic into a unit's
	// build or start (apply.go).
	wrapSpecs func([]unitSpec) []unitSpec
}

// New loads the configuration and opens what the director needs (the host
// network, the IPVS backend, metrics). Nothing runs until Run.
func New(opts Options) (*Director, error) {
	d := newDirector(opts)
	plan, warns, err := Load(d.opts.ConfigPath, d.opts.Hostname)
	for _, w := range warns {
		d.log.Warn("configuration: " + w.String())
	}
	if plan != nil {
		logNotices(d.log, plan)
	}
	if err != nil {
		for _, dg := range Diagnostics(err) {
			d.log.Error("configuration: " + dg.String())
		}
		return nil, err
	}
	if plan.NetNamespace != "" {
		ns, err := openNetns(plan.NetNamespace)
		if err != nil {
			err = fmt.Errorf("%s: net_namespace: %w", plan.NetNamespacePos, err)
			d.log.Error("configuration: " + err.Error())
			return nil, err
		}
		d.ns = ns
		d.log.Info("running in network namespace", "net_namespace", plan.NetNamespace)
	}
	if err := d.open(plan); err != nil {
		d.closeResources()
		return nil, err
	}
	d.plan = plan
	return d, nil
}

// newDirector is a Director with the defaults of opts applied and nothing
// opened.
func newDirector(opts Options) *Director {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Hostname == "" {
		opts.Hostname = shortHostname()
	}
	return &Director{opts: opts, log: log, clock: clock.Or(opts.Clock), units: map[unitKey]runningUnit{}, started: make(chan struct{}),
		ns: netns.None()}
}

// DefaultHostname is the config-id used when Options.Hostname is empty:
// the first label of the host name.
func DefaultHostname() string { return shortHostname() }

func shortHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			return h[:i]
		}
	}
	return h
}

// open opens what the director needs: the IPVS backend (checked against
// the plan), the host network and VRRP sockets, and the metrics.
func (d *Director) open(plan *Plan) error {
	if err := d.openIPVS(plan); err != nil {
		return err
	}
	d.table = healthcheck.NewTable(d.backend)

	// Host network and VRRP transport.
	d.network, d.transport = d.opts.Network, d.opts.Transport
	if d.network == nil {
		h, err := netcfg.Open(netcfg.Config{Logger: d.log, NetNSHandle: d.ns})
		if err != nil {
			return fmt.Errorf("open host network: %w", err)
		}
		d.host, d.statics = h, h
		d.network = vrrpnet.New(h)
	}
	if d.transport == nil {
		d.raw = vrrp.NewRawTransport(vrrp.RawConfig{Logger: d.log, Netns: d.netnsPtr()})
		d.transport = d.raw
	}

	// Metrics.
	d.reg = prometheus.NewRegistry()
	d.vrrpMetrics = vrrp.NewMetrics()
	if err := d.reg.Register(d.vrrpMetrics); err != nil {
		return fmt.Errorf("register vrrp metrics: %w", err)
	}
	hm, err := healthcheck.NewMetrics(d.reg)
	if err != nil {
		return fmt.Errorf("register healthcheck metrics: %w", err)
	}
	d.hcMetrics = hm
	d.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lvskit_director_config_reloads_total",
		Help: "Configuration reloads by result (ok or error).",
	}, []string{"result"})
	d.reloads.WithLabelValues("ok")
	d.reloads.WithLabelValues("error")
	if err := d.reg.Register(d.reloads); err != nil {
		return fmt.Errorf("register reload metrics: %w", err)
	}
	writes := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "lvskit_ipvs_writes_total",
		Help: "IPVS operations the director applied.",
	}, func() float64 { return float64(d.backend.writes.Load()) })
	for _, c := range []prometheus.Collector{ipvs.NewCollector(d.backend, ipvs.CollectorConfig{}), writes} {
		if err := d.reg.Register(c); err != nil {
			return fmt.Errorf("register ipvs metrics: %w", err)
		}
	}
	if err := d.reg.Register(alertCollector{d: d}); err != nil {
		return fmt.Errorf("register alert metrics: %w", err)
	}
	if err := d.reg.Register(bgpCollector{d: d}); err != nil {
		return fmt.Errorf("register bgp metrics: %w", err)
	}
	if err := d.registerCompat(); err != nil {
		return err
	}

	return nil
}

// Backend names the IPVS backend in use and why it was chosen.
func (d *Director) Backend() (name, reason string) { return d.backendName, d.backendReason }

// Registry is the Prometheus registry of the director's metrics.
func (d *Director) Registry() *prometheus.Registry { return d.reg }

// Run starts everything the configuration describes, serves the metrics
// (when configured) and runs until ctx ends; then it stops gracefully:
// VRRP masters send priority 0 and remove their addresses, the IPVS
// services are removed, the sync daemon is stopped. It returns nil after a
// graceful stop.
func (d *Director) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running || d.stopped {
		d.mu.Unlock()
		return errors.New("run director: already running or stopped")
	}
	d.running = true
	var srv *http.Server
	if d.opts.MetricsAddr != "" {
		ln, err := net.Listen("tcp", metricsListenAddr(d.opts.MetricsAddr))
		if err != nil {
			d.mu.Unlock()
			d.closeResources()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 5 * time.Second}
		d.log.Info("serving /metrics and /status", "addr", ln.Addr().String())
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("metrics server", "err", err)
			}
		}()
	}
	ctl, err := d.serveControl()
	if err != nil {
		d.mu.Unlock()
		d.shutdown(srv)
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	d.runCtx = runCtx
	plan := d.plan
	err = d.apply(runCtx, nil, plan)
	d.mu.Unlock()
	if err != nil {
		d.log.Error("start director", "err", err)
		d.shutdown(srv, ctl)
		return err
	}
	close(d.started)
	d.log.Info("director running", "config", d.opts.ConfigPath, "router_id", plan.RouterID,
		"vrrp_instances", len(plan.Instances), "virtual_servers", len(plan.VirtualServers))
	<-ctx.Done()
	d.shutdown(srv, ctl)
	return nil
}

func metricsListenAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return a
}

// shutdown applies the empty plan, which stops every unit in the order a
// failover wants (unit.go): VRRP first (so the backup takes over at once),
// then the pools with their IPVS services, the sync daemon and alerts;
// then it closes the sockets.
func (d *Director) shutdown(srvs ...*http.Server) {
	d.mu.Lock()
	d.stopped = true
	if d.runCtx != nil {
		if err := d.apply(d.runCtx, d.plan, nil); err != nil { // nothing is built: it cannot fail
			d.log.Error("stop director", "err", err)
		}
	}
	d.mu.Unlock()
	for _, srv := range srvs {
		if srv == nil {
			continue
		}
		// The HTTP server's drain waits on sockets, on the wall clock.
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
	}
	d.closeResources()
	d.log.Info("director stopped")
}

// Close releases what New opened when Run was never called (Run closes
// everything itself when it returns). It is idempotent.
func (d *Director) Close() error {
	d.mu.Lock()
	running := d.running
	d.mu.Unlock()
	if !running {
		d.closeResources()
	}
	d.bg.Wait()
	return nil
}

func (d *Director) closeResources() {
	d.closeOnce.Do(func() {
		if d.backend != nil {
			_ = d.backend.Close()
		} else if d.opts.IPVS != nil {
			_ = d.opts.IPVS.Close()
		}
		if d.raw != nil {
			_ = d.raw.Close()
		}
		if d.host != nil {
			_ = d.host.Close()
		}
		if d.ns > 0 {
			_ = d.ns.Close()
		}
	})
	d.bg.Wait()
}

// IPVSWrites is how many IPVS operations the director has applied.
func (d *Director) IPVSWrites() uint64 { return d.backend.writes.Load() }

// Run loads opts.ConfigPath and runs a Director until ctx ends.
func Run(ctx context.Context, opts Options) error {
	d, err := New(opts)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
