package bgp

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports the peers and routes of any number of speakers, read
// from their Status at each scrape. Register it with a
// prometheus.Registerer and pass it in Config.Metrics.
//
//	lvskit_bgp_peer_state{peer}               0 idle 1 connect 2 active 3 opensent 4 openconfirm 5 established
//	lvskit_bgp_peer_up{peer}                  1 while established
//	lvskit_bgp_peer_uptime_seconds{peer}      time since established; 0 when not
//	lvskit_bgp_peer_flaps_total{peer}         times the session left established
//	lvskit_bgp_peer_bfd_state{peer}           0 disabled 1 admindown 2 down 3 init 4 up
//	lvskit_bgp_peer_prefixes{peer,direction}  direction: sent, received, accepted
//	lvskit_bgp_route_announced{prefix}        1 announced, 0 pending or withdrawn
//	lvskit_bgp_route_changed_timestamp_seconds{prefix}
type Metrics struct {
	mu       sync.Mutex
	speakers []*Speaker

	state, up, uptime, flaps, bfd, prefixes, announced, changed *prometheus.Desc
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics returns unregistered collectors.
func NewMetrics() *Metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("lvskit", "bgp", name), help, labels, nil)
	}
	return &Metrics{
		state:     d("peer_state", "BGP session state: 0 idle, 1 connect, 2 active, 3 opensent, 4 openconfirm, 5 established.", "peer"),
		up:        d("peer_up", "Whether the BGP session is established.", "peer"),
		uptime:    d("peer_uptime_seconds", "Seconds since the BGP session was established; 0 while it is not.", "peer"),
		flaps:     d("peer_flaps_total", "Times the BGP session left the established state.", "peer"),
		bfd:       d("peer_bfd_state", "BFD session state: 0 disabled, 1 admindown, 2 down, 3 init, 4 up.", "peer"),
		prefixes:  d("peer_prefixes", "Prefixes sent to, received from and accepted from the peer.", "peer", "direction"),
		announced: d("route_announced", "Whether the route is announced (1) or pending or withdrawn (0).", "prefix"),
		changed:   d("route_changed_timestamp_seconds", "When the route last became announced, pending or withdrawn.", "prefix"),
	}
}

func (m *Metrics) add(s *Speaker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.speakers = append(m.speakers, s)
}

func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.state, m.up, m.uptime, m.flaps, m.bfd, m.prefixes, m.announced, m.changed} {
		ch <- d
	}
}

func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	speakers := append([]*Speaker(nil), m.speakers...)
	m.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range speakers {
		st := s.Status()
		now := s.cfg.Clock.Now()
		for _, p := range st.Peers {
			peer := p.Address.String()
			gauge(m.state, float64(p.State), peer)
			gauge(m.up, b2f(p.State == Established), peer)
			uptime := 0.0
			if p.State == Established {
				uptime = now.Sub(p.Since).Seconds()
			}
			gauge(m.uptime, uptime, peer)
			ch <- prometheus.MustNewConstMetric(m.flaps, prometheus.CounterValue, float64(p.Flaps), peer)
			gauge(m.bfd, float64(p.BFD), peer)
			gauge(m.prefixes, float64(p.Sent), peer, "sent")
			gauge(m.prefixes, float64(p.Received), peer, "received")
			gauge(m.prefixes, float64(p.Accepted), peer, "accepted")
		}
		for _, r := range st.Routes {
			prefix := r.Route.Prefix.String()
			gauge(m.announced, b2f(r.State == RouteAnnounced), prefix)
			gauge(m.changed, float64(r.Since.UnixNano())/1e9, prefix)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
