package alert

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// The issue asks to show that a dead SMTP server does not delay a VRRP
// transition. The only call a transition makes into this package is
// Notify, so these measure Notify's latency while the mail server hangs
// (accepts, never speaks), refuses connections, or works. They log the
// numbers and assert nothing about them (tests never assert timings);
// the only check is that every call returned.

const latencyCalls = 500

func TestNotifyLatency(t *testing.T) {
	be := &backend{got: make(chan envelope, 2*latencyCalls+2)}
	servers := []struct {
		name string
		addr func() (addr string, accepted chan struct{})
	}{
		{"server hangs", func() (string, chan struct{}) { return hangingServer(t) }},
		{"server refuses", func() (string, chan struct{}) { return refusingAddr(t), nil }},
		{"server works", func() (string, chan struct{}) { return startSMTP(t, be), nil }},
	}
	queues := []struct {
		name string
		size int
	}{
		{"every event queued", latencyCalls + 1},
		{"queue of 8, most dropped", 8},
	}
	for _, srv := range servers {
		for _, q := range queues {
			t.Run(srv.name+"/"+q.name, func(t *testing.T) {
				addr, accepted := srv.addr()
				n := newNotifier(t, Config{Server: addr, QueueSize: q.size, ConnectTimeout: time.Second})
				if accepted != nil {
					n.Notify(Event{Kind: VRRPInstance, Name: "VI_1", To: "MASTER"})
					<-accepted // measure while a transaction is stuck
				}
				lat := make([]time.Duration, 0, latencyCalls)
				states := []string{"BACKUP", "MASTER"}
				for i := range latencyCalls {
					ev := Event{Kind: VRRPInstance, Name: "VI_1", From: states[i%2], To: states[(i+1)%2]}
					start := time.Now()
					n.Notify(ev)
					lat = append(lat, time.Since(start))
				}
				t.Logf("%s: Notify latency, %d calls: %s; right after: %+v", t.Name(), latencyCalls, percentiles(lat), n.Stats())
			})
		}
	}
}

func percentiles(lat []time.Duration) string {
	s := slices.Clone(lat)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))] }
	return fmt.Sprintf("p50=%v p90=%v p99=%v p99.9=%v max=%v", at(.5), at(.9), at(.99), at(.999), s[len(s)-1])
}

// BenchmarkNotifyServerHangs: Notify's cost while the only mail server
// accepts and never answers (queue full after the first few calls, so
// this is the drop path a failover storm would take).
func BenchmarkNotifyServerHangs(b *testing.B) {
	addr, accepted := hangingServer(b)
	n, err := New(Config{Server: addr, To: []string{"ops@example.org"}, RouterID: "LVS_1", ConnectTimeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	n.Notify(Event{Kind: VRRPInstance, Name: "VI_1", To: "MASTER"})
	<-accepted
	ev := Event{Kind: VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER", Time: eventTime}
	b.ReportAllocs()
	for b.Loop() {
		n.Notify(ev)
	}
}
