package director

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"

	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lvskit/lvskit/ipvs"
)

// Status is the JSON document served at /status.
type Status struct {
	RouterID      string `json:"router_id"`
	Backend       string `json:"backend"`
	BackendReason string `json:"backend_reason"`
	Config        string `json:"config"`
	// IPVSWrites counts the IPVS operations applied since start.
	IPVSWrites    uint64 `json:"ipvs_writes_total"`
	ReloadsOK     uint64 `json:"reloads_ok"`
	ReloadsFailed uint64 `json:"reloads_failed"`

	VRRP           []VRRPStatus          `json:"vrrp"`
	VirtualServers []VirtualServerStatus `json:"virtual_servers"`
	SyncDaemon     *SyncDaemonStatus     `json:"sync_daemon,omitempty"`
	// Error is set when the IPVS table could not be read.
	Error string `json:"error,omitempty"`
}

// VRRPStatus is one VRRP instance.
type VRRPStatus struct {
	Name              string `json:"name"`
	State             string `json:"state"`
	Priority          int    `json:"priority"`
	EffectivePriority int    `json:"effective_priority"`
	Master            string `json:"master,omitempty"`
	SyncGroup         string `json:"sync_group,omitempty"`
	// Error says why the instance is not running (it could not start).
	Error string `json:"error,omitempty"`
}

// VirtualServerStatus is one IPVS service.
type VirtualServerStatus struct {
	Service     string             `json:"service"`
	Scheduler   string             `json:"scheduler"`
	QuorumUp    bool               `json:"quorum_up"`
	InTable     bool               `json:"in_table"`
	Connections uint64             `json:"connections"`
	BytesIn     uint64             `json:"bytes_in"`
	BytesOut    uint64             `json:"bytes_out"`
	RealServers []RealServerStatus `json:"real_servers"`
}

// RealServerStatus is one real server with its health and its entry in
// the IPVS table.
type RealServerStatus struct {
	Address       string `json:"address"` // ip:port
	Weight        int    `json:"weight"`  // configured
	Healthy       bool   `json:"healthy"`
	InTable       bool   `json:"in_table"`
	TableWeight   int    `json:"table_weight"`
	ActiveConns   uint32 `json:"active_conns"`
	InactiveConns uint32 `json:"inactive_conns"`
	Connections   uint64 `json:"connections"`
	BytesIn       uint64 `json:"bytes_in"`
	BytesOut      uint64 `json:"bytes_out"`
}

// SyncDaemonStatus is the connection sync daemon.
type SyncDaemonStatus struct {
	Instance  string `json:"instance,omitempty"`
	Interface string `json:"interface"`
	Role      string `json:"role"` // "", master, backup, both
	Error     string `json:"error,omitempty"`
}

// Status returns a snapshot of the director.
func (d *Director) Status(ctx context.Context) Status {
	d.mu.Lock()
	plan := d.plan
	st := Status{
		RouterID:      plan.RouterID,
		Backend:       d.backendName,
		BackendReason: d.backendReason,
		Config:        d.opts.ConfigPath,
		IPVSWrites:    d.backend.writes.Load(),
		ReloadsOK:     d.reloadOK.Load(),
		ReloadsFailed: d.reloadErr.Load(),
		VRRP:          []VRRPStatus{},
	}
	instStatus := map[string]VRRPStatus{}
	for _, u := range d.units {
		for _, in := range u.instances {
			s := in.Status()
			vs := VRRPStatus{Name: s.Name, State: s.State.String(), EffectivePriority: int(s.Priority), Error: u.runError(s.Name)}
			if s.Master.IsValid() {
				vs.Master = s.Master.String()
			}
			instStatus[s.Name] = vs
		}
	}
	type poolSnap struct {
		alive    []bool
		quorumUp bool
	}
	pools := map[ipvs.ServiceKey]poolSnap{}
	for k, p := range d.pools {
		pools[k] = poolSnap{alive: p.pool.Alive(), quorumUp: p.pool.QuorumUp()}
	}
	d.mu.Unlock()

	for _, in := range plan.Instances {
		s, ok := instStatus[in.VRRP.Name]
		if !ok {
			s = VRRPStatus{Name: in.VRRP.Name, State: "INIT"}
		}
		s.Priority = in.Priority
		s.SyncGroup = in.SyncGroup
		st.VRRP = append(st.VRRP, s)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	table, err := d.backend.Dump(dctx)
	cancel()
	if err != nil {
		st.Error = "dump IPVS table: " + err.Error()
	}
	byKey := map[ipvs.ServiceKey]*ipvs.Service{}
	for i := range table {
		byKey[table[i].Key()] = &table[i]
	}
	st.VirtualServers = []VirtualServerStatus{}
	for i := range plan.VirtualServers {
		vp := &plan.VirtualServers[i]
		k := vp.Key()
		snap := pools[k]
		vs := VirtualServerStatus{Service: k.String(), Scheduler: vp.Service.SchedulerName(), QuorumUp: snap.quorumUp, RealServers: []RealServerStatus{}}
		have := byKey[k]
		dests := map[ipvs.DestinationKey]*ipvs.Destination{}
		if have != nil {
			vs.InTable = true
			vs.Connections, vs.BytesIn, vs.BytesOut = have.Stats.Connections, have.Stats.BytesIn, have.Stats.BytesOut
			for j := range have.Destinations {
				dst := &have.Destinations[j]
				dk := dst.Key()
				if dk.Port == 0 {
					dk.Port = k.Port
				}
				dests[dk] = dst
			}
		}
		for j := range vp.RealServers {
			rp := &vp.RealServers[j]
			dk := rp.DestinationKey(k.Port)
			rs := RealServerStatus{Address: netip.AddrPortFrom(dk.Addr, dk.Port).String(), Weight: int(rp.Weight)}
			if j < len(snap.alive) {
				rs.Healthy = snap.alive[j]
			}
			if dst := dests[dk]; dst != nil {
				rs.InTable = true
				rs.TableWeight = int(dst.Weight)
				rs.ActiveConns, rs.InactiveConns = dst.ActiveConns, dst.InactiveConns
				rs.Connections, rs.BytesIn, rs.BytesOut = dst.Stats.Connections, dst.Stats.BytesIn, dst.Stats.BytesOut
			}
			vs.RealServers = append(vs.RealServers, rs)
		}
		st.VirtualServers = append(st.VirtualServers, vs)
	}
	if f := d.follower.Load(); f != nil {
		role, e := f.status()
		st.SyncDaemon = &SyncDaemonStatus{Instance: f.cfg.Instance, Interface: f.cfg.Daemon.Interface, Role: role, Error: e}
	}
	return st
}

// Handler serves /metrics (Prometheus) and /status (JSON).
func (d *Director) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		st := d.Status(r.Context())
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	return mux
}

// ipvsCollector exports the IPVS table as read from the backend at scrape
// time, and the director's write counter.
type ipvsCollector struct{ d *Director }

var (
	descWrites = prometheus.NewDesc("lvskit_ipvs_writes_total",
		"IPVS operations the director applied.", nil, nil)
	descSvcConns = prometheus.NewDesc("lvskit_ipvs_service_connections_total",
		"Connections scheduled by a virtual service.", []string{"service"}, nil)
	descSvcBytesIn = prometheus.NewDesc("lvskit_ipvs_service_bytes_in_total",
		"Bytes received by a virtual service.", []string{"service"}, nil)
	descSvcBytesOut = prometheus.NewDesc("lvskit_ipvs_service_bytes_out_total",
		"Bytes sent by a virtual service.", []string{"service"}, nil)
	descDstWeight = prometheus.NewDesc("lvskit_ipvs_destination_weight",
		"Weight of a real server in the IPVS table.", []string{"service", "real_server"}, nil)
	descDstActive = prometheus.NewDesc("lvskit_ipvs_destination_active_connections",
		"Active connections of a real server.", []string{"service", "real_server"}, nil)
	descDstInactive = prometheus.NewDesc("lvskit_ipvs_destination_inactive_connections",
		"Inactive connections of a real server.", []string{"service", "real_server"}, nil)
	descDstConns = prometheus.NewDesc("lvskit_ipvs_destination_connections_total",
		"Connections scheduled to a real server.", []string{"service", "real_server"}, nil)
	descDstBytesIn = prometheus.NewDesc("lvskit_ipvs_destination_bytes_in_total",
		"Bytes received for a real server.", []string{"service", "real_server"}, nil)
	descDstBytesOut = prometheus.NewDesc("lvskit_ipvs_destination_bytes_out_total",
		"Bytes sent for a real server.", []string{"service", "real_server"}, nil)
	descUp = prometheus.NewDesc("lvskit_ipvs_up",
		"1 when the IPVS table could be read at this scrape.", []string{"backend"}, nil)
)

func (c *ipvsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWrites, descSvcConns, descSvcBytesIn, descSvcBytesOut,
		descDstWeight, descDstActive, descDstInactive, descDstConns, descDstBytesIn, descDstBytesOut, descUp} {
		ch <- d
	}
}

func (c *ipvsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(c.d.backend.writes.Load()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	table, err := c.d.backend.Dump(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0, c.d.backendName)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1, c.d.backendName)
	for i := range table {
		s := &table[i]
		name := s.Key().String()
		ch <- prometheus.MustNewConstMetric(descSvcConns, prometheus.CounterValue, float64(s.Stats.Connections), name)
		ch <- prometheus.MustNewConstMetric(descSvcBytesIn, prometheus.CounterValue, float64(s.Stats.BytesIn), name)
		ch <- prometheus.MustNewConstMetric(descSvcBytesOut, prometheus.CounterValue, float64(s.Stats.BytesOut), name)
		for j := range s.Destinations {
			dst := &s.Destinations[j]
			port := dst.Port
			if port == 0 {
				port = s.Port
			}
			rs := netip.AddrPortFrom(dst.Addr, port).String()
			ch <- prometheus.MustNewConstMetric(descDstWeight, prometheus.GaugeValue, float64(dst.Weight), name, rs)
			ch <- prometheus.MustNewConstMetric(descDstActive, prometheus.GaugeValue, float64(dst.ActiveConns), name, rs)
			ch <- prometheus.MustNewConstMetric(descDstInactive, prometheus.GaugeValue, float64(dst.InactiveConns), name, rs)
			ch <- prometheus.MustNewConstMetric(descDstConns, prometheus.CounterValue, float64(dst.Stats.Connections), name, rs)
			ch <- prometheus.MustNewConstMetric(descDstBytesIn, prometheus.CounterValue, float64(dst.Stats.BytesIn), name, rs)
			ch <- prometheus.MustNewConstMetric(descDstBytesOut, prometheus.CounterValue, float64(dst.Stats.BytesOut), name, rs)
		}
	}
}

// alertCollector forwards to the notifier of the moment (it changes on a
// reload that changes the mail settings). It is an unchecked collector.
type alertCollector struct{ d *Director }

func (alertCollector) Describe(chan<- *prometheus.Desc) {}

func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	if n := c.d.notifier.Load(); n != nil {
		n.Collect(ch)
	}
}
