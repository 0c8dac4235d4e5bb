package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// statBackend is a Memory whose Dump carries fixed counters.
type statBackend struct {
	*Memory
	fail bool
}

func (b statBackend) Dump(ctx context.Context) ([]Service, error) {
	if b.fail {
		return nil, errors.New("boom")
	}
	tab, err := b.Memory.Dump(ctx)
	for i := range tab {
		tab[i].Stats = Stats{Connections: 7, PacketsIn: 70, BytesIn: 7000}
		for j := range tab[i].Destinations {
			tab[i].Destinations[j].Stats.Connections = uint64(3 + j)
			tab[i].Destinations[j].ActiveConns = 2
		}
	}
	return tab, err
}

// gatherValues gathers reg and returns each counter's or gauge's value by
// "name label=value ..." (labels in their sorted order).
func gatherValues(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
		}
	}
	return got
}

func TestCollector(t *testing.T) {
	m := NewMemory()
	svc := Service{Protocol: TCP, Addr: netip.MustParseAddr("192.168.0.253"), Port: 80, Scheduler: "wrr", Destinations: []Destination{
		{Addr: netip.MustParseAddr("192.168.0.1"), Weight: 1, Forward: DirectRoute},
		{Addr: netip.MustParseAddr("192.168.0.2"), Weight: 2, Forward: DirectRoute},
	}}
	if _, err := Sync(context.Background(), m, []Service{svc}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(statBackend{Memory: m}, CollectorConfig{})); err != nil {
		t.Fatal(err)
	}
	got := gatherValues(t, reg)
	want := map[string]float64{
		"lvskit_ipvs_up": 1,
		"lvskit_ipvs_service_connections_total scheduler=wrr service=TCP 192.168.0.253:80":                              7,
		"lvskit_ipvs_service_incoming_bytes_total scheduler=wrr service=TCP 192.168.0.253:80":                           7000,
		"lvskit_ipvs_destination_connections_total destination=192.168.0.2:80 forward=dr service=TCP 192.168.0.253:80":  4,
		"lvskit_ipvs_destination_weight destination=192.168.0.2:80 forward=dr service=TCP 192.168.0.253:80":             2,
		"lvskit_ipvs_destination_active_connections destination=192.168.0.1:80 forward=dr service=TCP 192.168.0.253:80": 2,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}

	reg2 := prometheus.NewPedanticRegistry()
	reg2.MustRegister(NewCollector(statBackend{Memory: m, fail: true}, CollectorConfig{}))
	if _, err := reg2.Gather(); err == nil {
		t.Errorf("Gather with a failing Dump succeeded")
	}
}
