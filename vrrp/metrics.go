package vrrp

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics collects the counters of any number of instances. Register it
// with a prometheus.Registerer and pass it in Config.Metrics.
//
//	lvskit_vrrp_state{instance}                    0 init, 1 backup, 2 master, 3 fault
//	lvskit_vrrp_effective_priority{instance}
//	lvskit_vrrp_transitions_total{instance,from,to}
//	lvskit_vrrp_adverts_sent_total{instance}
//	lvskit_vrrp_adverts_received_total{instance}   adverts that passed every check
//	lvskit_vrrp_drops_total{instance,reason}       see DropReason
//
// Stats returns the same counts per instance as plain numbers, the way
// keepalived keeps them (its dumps and exporters read those).
type Metrics struct {
	state       *prometheus.GaugeVec
	prio        *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	sent        *prometheus.CounterVec
	received    *prometheus.CounterVec
	drops       *prometheus.CounterVec

	mu    sync.Mutex
	stats map[string]*Stats
}

// Stats are one instance's counters since the Metrics were made; like the
// Prometheus series they outlive a restart of the instance. They are what
// keepalived counts per instance (vrrp_stats).
type Stats struct {
	AdvertsSent     uint64
	AdvertsReceived uint64 // adverts that passed every check
	// PriorityZeroSent and PriorityZeroReceived count adverts of priority 0
	// (a master stopping or leaving), among the adverts sent and received.
	PriorityZeroSent     uint64
	PriorityZeroReceived uint64
	// BecameMaster counts transitions to MASTER, LeftMaster those from
	// MASTER to BACKUP or FAULT (a stop is neither, as in keepalived).
	BecameMaster uint64
	LeftMaster   uint64
	Transitions  uint64
	// Drops counts received packets dropped, by the rule they broke.
	Drops map[DropReason]uint64
}

// Stats returns the counters of the instance named name (zero if it has
// none yet).
func (m *Metrics) Stats(name string) Stats {
	if m == nil {
		return Stats{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.stats[name]
	if !ok {
		return Stats{}
	}
	out := *s
	out.Drops = make(map[DropReason]uint64, len(s.Drops))
	for r, n := range s.Drops {
		out.Drops[r] = n
	}
	return out
}

// count changes the instance's Stats under the lock.
func (im *instMetrics) count(f func(*Stats)) {
	im.m.mu.Lock()
	defer im.m.mu.Unlock()
	if im.m.stats == nil {
		im.m.stats = map[string]*Stats{}
	}
	s := im.m.stats[im.name]
	if s == nil {
		s = &Stats{Drops: map[DropReason]uint64{}}
		im.m.stats[im.name] = s
	}
	f(s)
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics returns unregistered collectors.
func NewMetrics() *Metrics {
	const ns, sub = "lvskit", "vrrp"
	return &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "state",
			Help: "VRRP state: 0 init, 1 backup, 2 master, 3 fault."}, []string{"instance"}),
		prio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "effective_priority",
			Help: "Priority after tracker weights."}, []string{"instance"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "transitions_total",
			Help: "State transitions."}, []string{"instance", "from", "to"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "adverts_sent_total",
			Help: "Advertisements sent."}, []string{"instance"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "adverts_received_total",
			Help: "Advertisements received that passed every check."}, []string{"instance"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "drops_total",
			Help: "Received packets dropped, by the receive rule they broke."}, []string{"instance", "reason"}),
	}
}

func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}

func (m *Metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.state, m.prio, m.transitions, m.sent, m.received, m.drops}
}

// instMetrics are one instance's children, resolved once.
type instMetrics struct {
	m        *Metrics
	name     string
	state    prometheus.Gauge
	prio     prometheus.Gauge
	sent     prometheus.Counter
	received prometheus.Counter
}

func (m *Metrics) instance(name string) *instMetrics {
	if m == nil {
		return nil
	}
	return &instMetrics{m: m, name: name,
		state: m.state.WithLabelValues(name), prio: m.prio.WithLabelValues(name),
		sent: m.sent.WithLabelValues(name), received: m.received.WithLabelValues(name)}
}

func (im *instMetrics) drop(r DropReason) {
	if im != nil {
		im.m.drops.WithLabelValues(im.name, string(r)).Inc()
		im.count(func(s *Stats) { s.Drops[r]++ })
	}
}

func (im *instMetrics) transition(from, to State) {
	if im != nil {
		im.m.transitions.WithLabelValues(im.name, from.String(), to.String()).Inc()
		im.state.Set(float64(to))
		im.count(func(s *Stats) {
			s.Transitions++
			if to == StateMaster {
				s.BecameMaster++
			}
			if from == StateMaster && (to == StateBackup || to == StateFault) {
				s.LeftMaster++
			}
		})
	}
}

func (im *instMetrics) advertSent(prio uint8) {
	if im != nil {
		im.sent.Inc()
		im.count(func(s *Stats) {
			s.AdvertsSent++
			if prio == 0 {
				s.PriorityZeroSent++
			}
		})
	}
}

func (im *instMetrics) advertReceived(prio uint8) {
	if im != nil {
		im.received.Inc()
		im.count(func(s *Stats) {
			s.AdvertsReceived++
			if prio == 0 {
				s.PriorityZeroReceived++
			}
		})
	}
}

func (im *instMetrics) priority(p uint8) {
	if im != nil {
		im.prio.Set(float64(p))
	}
}
