package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// Backend is "auto" (default: kernel IPVS where the kernel has it,
	// else the userspace proxy), "netlink" or "userspace".
	Backend string
	// MetricsAddr is where /metrics and /status are served; empty means
	// nowhere. A bare ":port" listens on 127.0.0.1.
	MetricsAddr string
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
}

// Director runs a keepalived.conf: VRRP instances and sync groups, health
// checkers and the IPVS table, alerts and the connection sync daemon.
type Director struct {
	opts Options
	log  *slog.Logger

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

	mu      sync.Mutex // serialises Run's start and stop, and Reload
	plan    *Plan
	units   map[string]*vrrpUnit
	pools   map[ipvs.ServiceKey]*poolRun
	runCtx  context.Context
	running bool
	stopped bool

	closeOnce sync.Once
	bg        sync.WaitGroup
}

// New loads the configuration and opens what the director needs (the host
// network, the IPVS backend, metrics). Nothing runs until Run.
func New(opts Options) (*Director, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Hostname == "" {
		opts.Hostname = shortHostname()
	}
	d := &Director{opts: opts, log: log, units: map[string]*vrrpUnit{}, pools: map[ipvs.ServiceKey]*poolRun{}}
	plan, warns, err := Load(opts.ConfigPath, opts.Hostname)
	for _, w := range warns {
		log.Warn("configuration: " + w.String())
	}
	if err != nil {
		for _, dg := range Diagnostics(err) {
			log.Error("configuration: " + dg.String())
		}
		return nil, err
	}
	if plan.RouterID == "" {
		plan.RouterID = opts.Hostname
	}
	if err := d.open(plan); err != nil {
		d.closeResources()
		return nil, err
	}
	d.plan = plan
	return d, nil
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

func (d *Director) open(plan *Plan) error {
	// IPVS backend.
	var b ipvs.Backend
	switch {
	case d.opts.IPVS != nil:
		b = d.opts.IPVS
		d.backendName = d.opts.Backend
		if d.backendName == "" || d.backendName == BackendAuto {
			d.backendName = "custom"
		}
		d.backendReason = "given by the caller"
	default:
		var err error
		b, d.backendName, d.backendReason, err = openBackend(d.opts.Backend, d.log)
		if err != nil {
			return err
		}
	}
	d.backend = &countingBackend{Backend: b}
	d.log.Info("IPVS backend", "backend", d.backendName, "reason", d.backendReason)
	if dc, ok := b.(ipvs.DaemonController); ok {
		d.daemons = dc
	}
	if err := plan.CheckBackend(d.backendName); err != nil {
		for _, dg := range Diagnostics(err) {
			d.log.Error("configuration: " + dg.String())
		}
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

	// Alerts.
	if plan.Alert != nil {
		n, err := d.newNotifier(plan.Alert)
		if err != nil {
			return err
		}
		d.notifier.Store(n)
	}
	d.noEmailFaults.Store(plan.NoEmailFaults)
	return nil
}

func (d *Director) newNotifier(a *AlertPlan) (*alert.Notifier, error) {
	cfg := a.config()
	if cfg.RouterID == "" {
		cfg.RouterID = d.opts.Hostname
	}
	cfg.Logger = d.log.With("component", "alert")
	n, err := alert.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("configure alerts: %w", err)
	}
	return n, nil
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
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	d.runCtx = runCtx
	if d.plan.LVSTimeouts != (ipvs.Timeouts{}) {
		d.setTimeouts(d.plan.LVSTimeouts)
	}
	d.startFollower(d.plan.SyncDaemon)
	var startErr error
	for _, u := range d.buildUnitsOrErr(d.plan, &startErr) {
		d.startUnit(u)
	}
	for i := range d.plan.VirtualServers {
		vs := &d.plan.VirtualServers[i]
		pr, err := d.buildPool(vs, nil)
		if err != nil {
			startErr = errors.Join(startErr, err)
			continue
		}
		d.startPool(pr)
	}
	plan := d.plan
	d.mu.Unlock()
	if startErr != nil {
		d.log.Error("start director", "err", startErr)
	} else {
		d.log.Info("director running", "config", d.opts.ConfigPath, "router_id", plan.RouterID,
			"vrrp_instances", len(plan.Instances), "virtual_servers", len(plan.VirtualServers))
	}

	if startErr == nil {
		<-ctx.Done()
	}
	d.shutdown(srv)
	return startErr
}

func metricsListenAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return a
}

func (d *Director) setTimeouts(t ipvs.Timeouts) {
	type timeoutSetter interface {
		SetTimeouts(context.Context, ipvs.Timeouts) error
	}
	ts, ok := d.backend.Backend.(timeoutSetter)
	if !ok {
		d.log.Warn("lvs_timeouts: not supported by this IPVS backend; ignored", "backend", d.backendName)
		return
	}
	ctx, cancel := context.WithTimeout(d.runCtx, 10*time.Second)
	defer cancel()
	if err := ts.SetTimeouts(ctx, t); err != nil {
		d.log.Error("lvs_timeouts", "err", err)
	}
}

// shutdown stops everything in the order a failover wants: VRRP first
// (so the backup takes over at once) together with the checkers, then the
// IPVS services, the sync daemon, alerts and the sockets.
func (d *Director) shutdown(srv *http.Server) {
	d.mu.Lock()
	d.stopped = true
	var wg sync.WaitGroup
	for _, u := range d.units {
		wg.Add(1)
		go func() { defer wg.Done(); u.stop() }()
	}
	for _, p := range d.pools {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	for k := range d.pools {
		if err := d.table.RemoveService(ctx, k); err != nil {
			d.log.Error("remove IPVS service", "service", k.String(), "err", err)
		}
	}
	cancel()
	d.units = map[string]*vrrpUnit{}
	d.pools = map[ipvs.ServiceKey]*poolRun{}
	if f := d.follower.Swap(nil); f != nil {
		f.stop()
	}
	d.mu.Unlock()
	if srv != nil {
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
		if n := d.notifier.Swap(nil); n != nil {
			_ = n.Close()
		}
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
	if plan.RouterID == "" {
		plan.RouterID = d.opts.Hostname
	}
	if err := plan.CheckBackend(d.backendName); err != nil {
		return err
	}

	// Build everything new before stopping anything, so that a failure
	// leaves the running configuration untouched.
	var newNotifier *alert.Notifier
	alertChanged := !reflect.DeepEqual(plan.Alert, d.plan.Alert)
	if alertChanged && plan.Alert != nil {
		if newNotifier, err = d.newNotifier(plan.Alert); err != nil {
			return err
		}
	}
	var buildErr error
	wantUnits := d.buildUnitsOrErr(plan, &buildErr)
	startUnits := map[string]*vrrpUnit{}
	for k, u := range wantUnits {
		if old := d.units[k]; old != nil && old.fp == u.fp {
			u.discard() // the running one stays
			continue
		}
		startUnits[k] = u
	}
	wantPools := map[ipvs.ServiceKey]*VirtualServerPlan{}
	startPools := map[ipvs.ServiceKey]*poolRun{}
	for i := range plan.VirtualServers {
		vs := &plan.VirtualServers[i]
		k := vs.Key()
		wantPools[k] = vs
		old := d.pools[k]
		if old != nil && old.fp == vs.fingerprint() {
			continue
		}
		pr, err := d.buildPool(vs, old)
		if err != nil {
			buildErr = errors.Join(buildErr, err)
			continue
		}
		startPools[k] = pr
	}
	if buildErr != nil {
		if newNotifier != nil {
			_ = newNotifier.Close()
		}
		for _, u := range startUnits {
			u.discard()
		}
		return buildErr
	}

	// Apply: alerts first, so that transitions caused by the reload are
	// mailed to the new addresses.
	if alertChanged {
		if old := d.notifier.Swap(newNotifier); old != nil {
			d.bg.Add(1)
			go func() { defer d.bg.Done(); _ = old.Close() }()
		}
	}
	d.noEmailFaults.Store(plan.NoEmailFaults)
	if !reflect.DeepEqual(plan.SyncDaemon, d.plan.SyncDaemon) {
		if f := d.follower.Swap(nil); f != nil {
			f.stop()
		}
		d.startFollower(plan.SyncDaemon)
	}
	var stopped, started, kept []string
	for k, u := range d.units {
		if _, want := wantUnits[k]; want && startUnits[k] == nil {
			kept = append(kept, k)
			continue
		}
		u.stop()
		delete(d.units, k)
		stopped = append(stopped, k)
	}
	for _, u := range startUnits {
		d.startUnit(u)
		started = append(started, u.key)
	}
	ctx, cancel := context.WithTimeout(d.runCtx, 10*time.Second)
	defer cancel()
	var poolsStopped, poolsStarted int
	for k, p := range d.pools {
		if _, want := wantPools[k]; want && startPools[k] == nil {
			continue
		}
		if _, want := wantPools[k]; want {
			p.quiet.Store(true) // replaced, not gone: no omega notifications
		}
		p.stop()
		delete(d.pools, k)
		poolsStopped++
		if _, want := wantPools[k]; !want {
			if err := d.table.RemoveService(ctx, k); err != nil {
				d.log.Error("remove IPVS service", "service", k.String(), "err", err)
			}
		}
	}
	for _, p := range startPools {
		d.startPool(p)
		poolsStarted++
	}
	// The table holds the new configuration when Reload returns: sync each
	// new pool's service now (the pool's own first sync is then a no-op).
	for _, p := range startPools {
		if err := d.table.SyncService(ctx, p.pool.Want()); err != nil {
			d.log.Error("sync IPVS service", "service", p.plan.Service.String(), "err", err)
		}
	}
	if plan.LVSTimeouts != d.plan.LVSTimeouts && plan.LVSTimeouts != (ipvs.Timeouts{}) {
		d.setTimeouts(plan.LVSTimeouts)
	}
	d.plan = plan
	d.log.Info("configuration reloaded", "vrrp_kept", kept, "vrrp_stopped", stopped, "vrrp_started", started,
		"pools_stopped", poolsStopped, "pools_started", poolsStarted)
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
