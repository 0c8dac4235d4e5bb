package director

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lvskit/lvskit/clock"
)

// This file exports the director's metrics under the names of the
// exporters people have dashboards for (Options.MetricsCompat
// "keepalived"), next to the lvskit_* series:
//
//   - keepalived-exporter's (github.com/mehdy/keepalived-exporter):
//     keepalived_up; per instance, labelled iname, intf, vrid, the
//     counters of keepalived.stats (keepalived_advertisements_received_total,
//     keepalived_become_master_total, ...) and
//     keepalived_gratuitous_arp_delay_total; keepalived_vrrp_state per
//     virtual address (iname, intf, vrid, ip_address); and
//     keepalived_script_status per vrrp_script (name);
//   - node_exporter's IPVS collector: node_ipvs_connections_total and the
//     packet and byte totals (summed over the services in the table; the
//     kernel's own totals also count removed services), and per real
//     server node_ipvs_backend_connections_active, _inactive and
//     node_ipvs_backend_weight, labelled local_address, local_port,
//     remote_address, remote_port, proto, local_mark as node_exporter reads
//     them from /proc/net/ip_vs.
//
// The values are the ones keepalived.stats and keepalived.data show
// (dump_format.go), so the exporter reading a keepalived and this
// collector report the same thing.

// MetricsCompatKeepalived is the Options.MetricsCompat value that adds
// keepalived-exporter's and node_exporter's names.
const MetricsCompatKeepalived = "keepalived"

// registerCompat registers the collectors Options.MetricsCompat asks for.
func (d *Director) registerCompat() error {
	switch d.opts.MetricsCompat {
	case "":
		return nil
	case MetricsCompatKeepalived:
	default:
		return fmt.Errorf("register compatible metrics: unknown set %q (want %q)", d.opts.MetricsCompat, MetricsCompatKeepalived)
	}
	for _, c := range []prometheus.Collector{newKeepalivedCollector(d), newNodeIPVSCollector(d)} {
		if err := d.reg.Register(c); err != nil {
			return fmt.Errorf("register compatible metrics: %w", err)
		}
	}
	return nil
}

// keepalivedCollector exports the VRRP instances as keepalived-exporter.
type keepalivedCollector struct {
	d                 *Director
	up, state, script *prometheus.Desc
	garpDelay         *prometheus.Desc
	counters          []kaCounter
}

// kaCounter is one keepalived.stats counter under its exporter name.
type kaCounter struct {
	desc  *prometheus.Desc
	value func(kaStats) uint64
}

func newKeepalivedCollector(d *Director) *keepalivedCollector {
	common := []string{"iname", "intf", "vrid"}
	c := &keepalivedCollector{
		d:         d,
		up:        prometheus.NewDesc("keepalived_up", "Status", nil, nil),
		state:     prometheus.NewDesc("keepalived_vrrp_state", "State of vrrp", []string{"iname", "intf", "vrid", "ip_address"}, nil),
		script:    prometheus.NewDesc("keepalived_script_status", "Tracker Script Status", []string{"name"}, nil),
		garpDelay: prometheus.NewDesc("keepalived_gratuitous_arp_delay_total", "Gratuitous ARP delay", common, nil),
	}
	counter := func(name, help string, v func(kaStats) uint64) {
		c.counters = append(c.counters, kaCounter{prometheus.NewDesc(name, help, common, nil), v})
	}
	counter("keepalived_advertisements_received_total", "Advertisements received", func(s kaStats) uint64 { return s.AdvertRcvd })
	counter("keepalived_advertisements_sent_total", "Advertisements sent", func(s kaStats) uint64 { return s.AdvertSent })
	counter("keepalived_become_master_total", "Became master", func(s kaStats) uint64 { return s.BecomeMaster })
	counter("keepalived_release_master_total", "Released master", func(s kaStats) uint64 { return s.ReleaseMaster })
	counter("keepalived_packet_length_errors_total", "Packet length errors", func(s kaStats) uint64 { return s.PacketLenErr })
	counter("keepalived_advertisements_interval_errors_total", "Advertisement interval errors", func(s kaStats) uint64 { return s.AdvertIntervalErr })
	counter("keepalived_ip_ttl_errors_total", "TTL errors", func(s kaStats) uint64 { return s.IPTTLErr })
	counter("keepalived_invalid_type_received_total", "Invalid type errors", func(s kaStats) uint64 { return s.InvalidTypeRcvd })
	counter("keepalived_address_list_errors_total", "Address list errors", func(s kaStats) uint64 { return s.AddrListErr })
	counter("keepalived_authentication_invalid_total", "Authentication invalid", func(s kaStats) uint64 { return s.InvalidAuthType })
	counter("keepalived_authentication_mismatch_total", "Authentication mismatch", func(s kaStats) uint64 { return s.AuthTypeMismatch })
	counter("keepalived_authentication_failure_total", "Authentication failure", func(s kaStats) uint64 { return s.AuthFailure })
	counter("keepalived_priority_zero_received_total", "Priority zero received", func(s kaStats) uint64 { return s.PriZeroRcvd })
	counter("keepalived_priority_zero_sent_total", "Priority zero sent", func(s kaStats) uint64 { return s.PriZeroSent })
	return c
}

func (c *keepalivedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.state
	ch <- c.script
	ch <- c.garpDelay
	for _, k := range c.counters {
		ch <- k.desc
	}
}

func (c *keepalivedCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.d.dumpSnapshot()
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, k := range snap.kaInstances() {
		labels := []string{k.p.VRRP.Name, k.p.VRRP.Interface, strconv.Itoa(int(k.p.VRRP.VRID))}
		for _, kc := range c.counters {
			ch <- prometheus.MustNewConstMetric(kc.desc, prometheus.CounterValue, float64(kc.value(k.stats)), labels...)
		}
		ch <- prometheus.MustNewConstMetric(c.garpDelay, prometheus.CounterValue, k.garpDelay.Seconds(), labels...)
		// As the exporter: one series per address, its first word
		// ("10.0.0.1/24") and its device.
		for _, v := range k.vips() {
			words := strings.Fields(v)
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, float64(k.state), labels[0], words[2], labels[2], words[0])
		}
	}
	for _, s := range snap.scripts {
		switch s.Status {
		case "GOOD":
			ch <- prometheus.MustNewConstMetric(c.script, prometheus.GaugeValue, 1, s.Name)
		case "BAD":
			ch <- prometheus.MustNewConstMetric(c.script, prometheus.GaugeValue, 0, s.Name)
		}
	}
}

// nodeIPVSCollector exports the IPVS table as node_exporter's ipvs
// collector.
type nodeIPVSCollector struct {
	d                                         *Director
	conns, pktsIn, pktsOut, bytesIn, bytesOut *prometheus.Desc
	active, inactive, weight                  *prometheus.Desc
}

func newNodeIPVSCollector(d *Director) *nodeIPVSCollector {
	backend := []string{"local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("node_ipvs_"+name, help, labels, nil)
	}
	return &nodeIPVSCollector{d: d,
		conns:    desc("connections_total", "The total number of connections made.", nil),
		pktsIn:   desc("incoming_packets_total", "The total number of incoming packets.", nil),
		pktsOut:  desc("outgoing_packets_total", "The total number of outgoing packets.", nil),
		bytesIn:  desc("incoming_bytes_total", "The total amount of incoming data.", nil),
		bytesOut: desc("outgoing_bytes_total", "The total amount of outgoing data.", nil),
		active:   desc("backend_connections_active", "The current active connections by local and remote address.", backend),
		inactive: desc("backend_connections_inactive", "The current inactive connections by local and remote address.", backend),
		weight:   desc("backend_weight", "The current backend weight by local and remote address.", backend),
	}
}

func (c *nodeIPVSCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.pktsIn, c.pktsOut, c.bytesIn, c.bytesOut, c.active, c.inactive, c.weight} {
		ch <- d
	}
}

// Collect dumps the table; a failed dump exports nothing (node_exporter
// reports it through its own scrape-error series, the director through
// lvskit_ipvs_up).
func (c *nodeIPVSCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := clock.WithTimeout(context.Background(), c.d.clock, healthTimeout)
	defer cancel()
	tab, err := c.d.backend.Dump(ctx)
	if err != nil {
		return
	}
	type sums struct{ active, inactive, weight uint64 }
	var total struct{ conns, pktsIn, pktsOut, bytesIn, bytesOut uint64 }
	backends := map[[6]string]*sums{}
	var order [][6]string
	for i := range tab {
		s := &tab[i]
		total.conns += s.Stats.Connections
		total.pktsIn += s.Stats.PacketsIn
		total.pktsOut += s.Stats.PacketsOut
		total.bytesIn += s.Stats.BytesIn
		total.bytesOut += s.Stats.BytesOut
		k := s.Key()
		local, port, proto, mark := "", "0", "FWM", ""
		if k.FWMark != 0 {
			mark = fmt.Sprintf("%08X", k.FWMark)
		} else {
			local, port, proto = k.Addr.String(), strconv.Itoa(int(k.Port)), k.Protocol.String()
		}
		for j := range s.Destinations {
			dst := &s.Destinations[j]
			dk := s.DestinationKey(dst)
			key := [6]string{local, port, dk.Addr.String(), strconv.Itoa(int(dk.Port)), proto, mark}
			b := backends[key]
			if b == nil {
				b = &sums{}
				backends[key] = b
				order = append(order, key)
			}
			b.active += uint64(dst.ActiveConns)
			b.inactive += uint64(dst.InactiveConns)
			b.weight += uint64(max(dst.Weight, 0))
		}
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.conns, total.conns)
	counter(c.pktsIn, total.pktsIn)
	counter(c.pktsOut, total.pktsOut)
	counter(c.bytesIn, total.bytesIn)
	counter(c.bytesOut, total.bytesOut)
	for _, key := range order {
		b := backends[key]
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(b.active), key[:]...)
		ch <- prometheus.MustNewConstMetric(c.inactive, prometheus.GaugeValue, float64(b.inactive), key[:]...)
		ch <- prometheus.MustNewConstMetric(c.weight, prometheus.GaugeValue, float64(b.weight), key[:]...)
	}
}
