package healthcheck

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of monitors and pools:
//
//	lvskit_healthcheck_probes_total{kind,target,result}     counter; result is "success", "failure", or
//	                                                         "local_failure" (a cause on this host, see IsLocal:
//	                                                         not counted against the target)
//	lvskit_healthcheck_probe_duration_seconds{kind}          histogram of probe latency
//	lvskit_healthcheck_target_up{target}                     gauge, 1 up, 0 down
//	lvskit_healthcheck_real_server_up{service,real_server}   gauge set by a Pool
//	lvskit_healthcheck_quorum_up{service}                    gauge set by a Pool
//
// The latency histogram is per checker kind, not per target, so ten
// thousand targets do not make a hundred thousand series.
type Metrics struct {
	probes   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	targetUp *prometheus.GaugeVec
	rsUp     *prometheus.GaugeVec
	quorum   *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, useful in tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lvskit", Subsystem: "healthcheck", Name: "probes_total",
			Help: "Health probes run, by checker kind, target and result.",
		}, []string{"kind", "target", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "lvskit", Subsystem: "healthcheck", Name: "probe_duration_seconds",
			Help:    "Time a health probe took, by checker kind.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		targetUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lvskit", Subsystem: "healthcheck", Name: "target_up",
			Help: "Whether a monitored target is up (1) or down (0).",
		}, []string{"target"}),
		rsUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lvskit", Subsystem: "healthcheck", Name: "real_server_up",
			Help: "Whether a real server of a virtual service is alive (1) or not (0).",
		}, []string{"service", "real_server"}),
		quorum: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "lvskit", Subsystem: "healthcheck", Name: "quorum_up",
			Help: "Whether a virtual service has its quorum (1) or runs on its sorry server (0).",
		}, []string{"service"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.probes, m.latency, m.targetUp, m.rsUp, m.quorum} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register healthcheck metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) observe(kind, target string, d time.Duration, err error, local bool) {
	result := "success"
	switch {
	case local:
		result = "local_failure"
	case err != nil:
		result = "failure"
	}
	m.probes.WithLabelValues(kind, target, result).Inc()
	m.latency.WithLabelValues(kind).Observe(d.Seconds())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *Metrics) setState(target string, up bool) { m.targetUp.WithLabelValues(target).Set(b2f(up)) }

func (m *Metrics) setRealServer(service, rs string, up bool) {
	m.rsUp.WithLabelValues(service, rs).Set(b2f(up))
}

func (m *Metrics) setQuorum(service string, up bool) { m.quorum.WithLabelValues(service).Set(b2f(up)) }
