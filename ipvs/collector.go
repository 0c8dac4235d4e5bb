package ipvs

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CollectorConfig configures NewCollector.
type CollectorConfig struct {
	// Namespace prefixes every metric name. Empty means "lvskit".
	Namespace string
	// Timeout bounds one Dump per scrape. Zero means 5 seconds.
	Timeout time.Duration
}

// Collector is a prometheus.Collector that dumps a Backend at every
// scrape and exports its counters, labelled like the ipvs exporters
// people know: "service" is "TCP 10.0.0.1:80" (or "FWM 1 inet"),
// "destination" is "10.1.0.1:80". Counters are cumulative since the
// service or destination was added; rates are the kernel's estimates.
// For the userspace backend it also exports the proxy's file descriptor
// budget (lvskit_ipvs_proxy_fd_limit, _fd_reserve, _fds) and the clients
// it refused per service (lvskit_ipvs_proxy_refused_total); a Backend
// that wraps another says so with an Unwrap() Backend method.
type Collector struct {
	b       Backend
	timeout time.Duration

	up                                        *prometheus.Desc
	svcConns, svcPktsIn, svcPktsOut           *prometheus.Desc
	svcBytesIn, svcBytesOut, svcCPS           *prometheus.Desc
	dstConns, dstPktsIn, dstPktsOut           *prometheus.Desc
	dstBytesIn, dstBytesOut, dstCPS           *prometheus.Desc
	dstActive, dstInactive, dstPersist, dstWt *prometheus.Desc
	fdLimit, fdReserve, fdInUse, refused      *prometheus.Desc
}

// fdBudgeter is a backend that keeps to a share of the process's file
// descriptors (Userspace).
type fdBudgeter interface{ FDBudget() FDBudget }

// budgetOf returns b's descriptor budget, looking through wrappers that
// say what they wrap with an Unwrap() Backend method.
func budgetOf(b Backend) (fdBudgeter, bool) {
	for range 10 {
		if fb, ok := b.(fdBudgeter); ok {
			return fb, true
		}
		w, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			return nil, false
		}
		b = w.Unwrap()
	}
	return nil, false
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of b's table.
func NewCollector(b Backend, cfg CollectorConfig) *Collector {
	ns := cfg.Namespace
	if ns == "" {
		ns = "lvskit"
	}
	to := cfg.Timeout
	if to <= 0 {
		to = 5 * time.Second
	}
	svc := []string{"service", "scheduler"}
	dst := []string{"service", "destination", "forward"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "ipvs", name), help, labels, nil)
	}
	return &Collector{
		b:           b,
		timeout:     to,
		up:          d("up", "Whether the last dump of the IPVS table succeeded.", nil),
		svcConns:    d("service_connections_total", "Connections scheduled by the virtual service.", svc),
		svcPktsIn:   d("service_incoming_packets_total", "Packets from clients to the virtual service.", svc),
		svcPktsOut:  d("service_outgoing_packets_total", "Packets from the virtual service to clients.", svc),
		svcBytesIn:  d("service_incoming_bytes_total", "Bytes from clients to the virtual service.", svc),
		svcBytesOut: d("service_outgoing_bytes_total", "Bytes from the virtual service to clients.", svc),
		svcCPS:      d("service_connections_per_second", "Estimated connection rate of the virtual service.", svc),
		dstConns:    d("destination_connections_total", "Connections scheduled to the real server.", dst),
		dstPktsIn:   d("destination_incoming_packets_total", "Packets from clients forwarded to the real server.", dst),
		dstPktsOut:  d("destination_outgoing_packets_total", "Packets from the real server to clients.", dst),
		dstBytesIn:  d("destination_incoming_bytes_total", "Bytes from clients forwarded to the real server.", dst),
		dstBytesOut: d("destination_outgoing_bytes_total", "Bytes from the real server to clients.", dst),
		dstCPS:      d("destination_connections_per_second", "Estimated connection rate of the real server.", dst),
		dstActive:   d("destination_active_connections", "Active (established) connections of the real server.", dst),
		dstInactive: d("destination_inactive_connections", "Inactive connections of the real server.", dst),
		dstPersist:  d("destination_persistent_connections", "Persistence templates pointing to the real server.", dst),
		dstWt:       d("destination_weight", "Weight of the real server.", dst),
		fdLimit:     d("proxy_fd_limit", "The process's limit on open files (RLIMIT_NOFILE), as the userspace proxy found it.", nil),
		fdReserve:   d("proxy_fd_reserve", "File descriptors the userspace proxy leaves to the rest of the process.", nil),
		fdInUse:     d("proxy_fds", "File descriptors the userspace proxy holds: sockets, event loops and pipes.", nil),
		refused:     d("proxy_refused_total", "Clients the userspace proxy refused because its file descriptor budget was full (TCP reset, UDP datagram dropped).", []string{"service"}),
	}
}

// Describe sends every metric description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.svcConns, c.svcPktsIn, c.svcPktsOut, c.svcBytesIn, c.svcBytesOut, c.svcCPS,
		c.dstConns, c.dstPktsIn, c.dstPktsOut, c.dstBytesIn, c.dstBytesOut, c.dstCPS, c.dstActive, c.dstInactive, c.dstPersist, c.dstWt,
		c.fdLimit, c.fdReserve, c.fdInUse, c.refused} {
		ch <- d
	}
}

// Collect dumps the table and sends its metrics, and for the userspace
// backend its file descriptor budget. A failed dump is reported as up 0
// and an invalid metric carrying the error.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if fb, ok := budgetOf(c.b); ok {
		b := fb.FDBudget()
		ch <- prometheus.MustNewConstMetric(c.fdLimit, prometheus.GaugeValue, float64(b.Limit))
		ch <- prometheus.MustNewConstMetric(c.fdReserve, prometheus.GaugeValue, float64(b.Reserve))
		ch <- prometheus.MustNewConstMetric(c.fdInUse, prometheus.GaugeValue, float64(b.InUse))
		for k, n := range b.RefusedByService {
			ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), k.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	tab, err := c.b.Dump(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		ch <- prometheus.NewInvalidMetric(c.up, fmt.Errorf("dump ipvs table: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	for i := range tab {
		s := &tab[i]
		sl := []string{s.Key().String(), s.SchedulerName()}
		counter(c.svcConns, s.Stats.Connections, sl...)
		counter(c.svcPktsIn, s.Stats.PacketsIn, sl...)
		counter(c.svcPktsOut, s.Stats.PacketsOut, sl...)
		counter(c.svcBytesIn, s.Stats.BytesIn, sl...)
		counter(c.svcBytesOut, s.Stats.BytesOut, sl...)
		gauge(c.svcCPS, float64(s.Stats.CPS), sl...)
		for j := range s.Destinations {
			d := &s.Destinations[j]
			dl := []string{sl[0], netip.AddrPortFrom(d.Addr, d.Port).String(), d.Forward.String()}
			counter(c.dstConns, d.Stats.Connections, dl...)
			counter(c.dstPktsIn, d.Stats.PacketsIn, dl...)
			counter(c.dstPktsOut, d.Stats.PacketsOut, dl...)
			counter(c.dstBytesIn, d.Stats.BytesIn, dl...)
			counter(c.dstBytesOut, d.Stats.BytesOut, dl...)
			gauge(c.dstCPS, float64(d.Stats.CPS), dl...)
			gauge(c.dstActive, float64(d.ActiveConns), dl...)
			gauge(c.dstInactive, float64(d.InactiveConns), dl...)
			gauge(c.dstPersist, float64(d.PersistConns), dl...)
			gauge(c.dstWt, float64(d.Weight), dl...)
		}
	}
}
