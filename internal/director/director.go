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

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
)

// Options configure a Director. The zero value of each optional field is
// the documented default.
type Options struct {
	// ConfigPath is the keepalived.conf to run. Required.
	ConfigPath string
	// Backend is the kind of IPVS backend ipvs.Open opens: "auto"
	// (default: kernel IPVS where the kernel has it, else the userspace
	// proxy), "netlink", "userspace", or any other kind ipvs.Open knows.
	Backend string
	// MetricsAddr is where /metrics and /status are served; empty means
	// nowhere. A bare ":port" listens on 127.0.0.1.
	MetricsAddr string
	// ControlSocket is the path of a Unix socket (mode 0600, its folder
	// made 0700) serving /status and /metrics over HTTP, which
	// `director status` reads; empty means none. The command's default is
	// DefaultControlSocket.
	ControlSocket string
	// ControlSocketOptional runs the director without a control socket,
	// with a warning, when another director holds ControlSocket (two
	// directors of one host in different network namespaces, say); when
	// false that is an error (ErrControlSocketTaken) and Run fails.
	ControlSocketOptional bool
	// MetricsCompat also exports the metrics under other exporters' names:
	// "keepalived" adds keepalived-exporter's keepalived_* VRRP series and
	// node_exporter's node_ipvs_* IPVS series (compat.go). Empty adds
	// none.
	MetricsCompat string
	// DumpDir is where keepalived's dumps go (DumpData, DumpStats,
	// DumpJSON write keepalived.data, keepalived.stats, keepalived.json
	// there); empty means $TMPDIR, else /tmp, as keepalived does.
	DumpDir string
	// Logger receives the director's logs; nil discards.
	Logger *slog.Logger
	// Hostname is the config-id @host conditionals are compared with;
	// it is also the router_id when global_defs has none. Empty: the
	// first label of os.Hostname.
	Hostname string

	// IPVS, when set, is used as the IPVS table instead of opening one
	// (tests pass ipvs.NewMemory()); the Director closes it.
	IPVS ipvs.Backend
	// Network and Transport, when set, replace the host's network
	// configuration and raw VRRP sockets (tests pass fakes and a MemNet).
	Network   vrrp.Network
	Transport vrrp.Transport
	// Clock is the time of everything the director runs: VRRP instances
	// and their trackers, health checks and pools, alerts, and the
	// director's own timeouts. Nil means the wall clock.
	Clock clock.Clock
}

// Director runs a keepalived.conf: VRRP instances and sync groups, health
// checkers and the IPVS table, alerts and the connection sync daemon.
type Director struct {
	opts  Options
	log   *slog.Logger
	clock clock.Clock

	host          *netcfg.Host
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
	return &Director{opts: opts, log: log, clock: clock.Or(opts.Clock), units: map[unitKey]runningUnit{}, started: make(chan struct{})}
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
		h, err := netcfg.Open(netcfg.Config{Logger: d.log})
		if err != nil {
			return fmt.Errorf("open host network: %w", err)
		}
		d.host = h
		d.network = vrrpnet.New(h)
	}
	if d.transport == nil {
		d.raw = vrrp.NewRawTransport(vrrp.RawConfig{Logger: d.log})
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
	})
	d.bg.Wait()
}

// Reload reads the configuration file again and applies only what
// changed. A configuration with any error changes nothing: every error is
// logged and returned, and the running configuration stays.
func (d *Director) Reload() error {
	err := d.reload()
	if err != nil {
		d.reloads.WithLabelValues("error").Inc()
		d.reloadErr.Add(1)
		for _, dg := range Diagnostics(err) {
			d.log.Error("reload rejected: " + dg.String())
		}
		return err
	}
	d.reloads.WithLabelValues("ok").Inc()
	d.reloadOK.Add(1)
	return nil
}

func (d *Director) reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running || d.stopped {
		return errors.New("reload: the director is not running")
	}
	plan, warns, err := Load(d.opts.ConfigPath, d.opts.Hostname)
	for _, w := range warns {
		d.log.Warn("configuration: " + w.String())
	}
	if err != nil {
		return err
	}
	logNotices(d.log, plan)
	if err := plan.CheckCapabilities(d.backendName, d.backend.Capabilities()); err != nil {
		return err
	}
	if err := d.apply(d.runCtx, d.plan, plan); err != nil {
		return err
	}
	d.plan = plan
	return nil
}

// Plan returns the configuration running now.
func (d *Director) Plan() *Plan {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.plan
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
