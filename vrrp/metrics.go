package vrrp

import "github.com/prometheus/client_golang/prometheus"

// Metrics collects the counters of any number of instances. Register it
// with a prometheus.Registerer and pass it in Config.Metrics.
//
//	lvskit_vrrp_state{instance}                    0 init, 1 backup, 2 master, 3 fault
//	lvskit_vrrp_effective_priority{instance}
//	lvskit_vrrp_transitions_total{instance,from,to}
//	lvskit_vrrp_adverts_sent_total{instance}
//	lvskit_vrrp_adverts_received_total{instance}   adverts that passed every check
//	lvskit_vrrp_drops_total{instance,reason}       see DropReason
type Metrics struct {
	state       *prometheus.GaugeVec
	prio        *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	sent        *prometheus.CounterVec
	received    *prometheus.CounterVec
	drops       *prometheus.CounterVec
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
	}
}

func (im *instMetrics) transition(from, to State) {
	if im != nil {
		im.m.transitions.WithLabelValues(im.name, from.String(), to.String()).Inc()
		im.state.Set(float64(to))
	}
}

func (im *instMetrics) advertSent() {
	if im != nil {
		im.sent.Inc()
	}
}

func (im *instMetrics) advertReceived() {
	if im != nil {
		im.received.Inc()
	}
}

func (im *instMetrics) priority(p uint8) {
	if im != nil {
		im.prio.Set(float64(p))
	}
}
