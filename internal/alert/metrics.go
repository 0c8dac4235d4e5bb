package alert

import "github.com/prometheus/client_golang/prometheus"

// Stats are the notifier's counters since New.
type Stats struct {
	Sent    uint64 // messages the server accepted
	Failed  uint64 // messages that could not be sent (logged, not retried)
	Dropped uint64 // events never sent: queue full, or left after Close
	Queued  int    // events waiting now
}

// Stats returns the counters; zero for a nil Notifier.
func (n *Notifier) Stats() Stats {
	if n == nil {
		return Stats{}
	}
	return Stats{
		Sent:    n.sent.Load(),
		Failed:  n.failed.Load(),
		Dropped: n.dropped.Load(),
		Queued:  len(n.queue),
	}
}

var (
	messagesDesc = prometheus.NewDesc("lvskit_alert_messages_total",
		"Alert messages by outcome: sent, failed (not retried), dropped (queue full or closing).",
		[]string{"result"}, nil)
	queueDesc = prometheus.NewDesc("lvskit_alert_queue_length",
		"Alert events waiting to be sent.", nil, nil)
)

var _ prometheus.Collector = (*Notifier)(nil)

// Describe implements prometheus.Collector.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	ch <- messagesDesc
	ch <- queueDesc
}

// Collect implements prometheus.Collector.
func (n *Notifier) Collect(ch chan<- prometheus.Metric) {
	s := n.Stats()
	ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(s.Sent), "sent")
	ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(s.Failed), "failed")
	ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(s.Dropped), "dropped")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(s.Queued))
}
