package vrrp

import (
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/internal/logtest"
)

func TestLogLimit(t *testing.T) {
	clk := clocktest.New(t0)
	l := newLogLimit(clk, 3)
	var got []int // per call: -1 left out, else the suppressed count it reports
	call := func(n int) {
		for range n {
			if ok, k := l.allow(); ok {
				got = append(got, k)
			} else {
				got = append(got, -1)
			}
		}
	}
	call(5)
	clk.Advance(999 * time.Millisecond)
	call(1)
	clk.Advance(time.Millisecond) // a new second
	call(4)
	clk.Advance(10 * time.Second)
	call(1)
	want := []int{0, 0, 0, -1, -1, -1, 3, 0, 0, -1, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A master answers adverts of lower priority at most once per advert
// interval, however many come and from however many sources; the answer
// says how many went unanswered. Priority-0 adverts have a bound of their
// own, so that a master that stops is answered at once.
func TestCoreAnswersBounded(t *testing.T) {
	cfg := v2cfg()
	cfg.garpLowerRepeat = 3
	c := newCore(cfg, 255)
	c.start(t0)
	srcs := []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}
	flood := func(at time.Duration, prio uint8, n int) (answers [][]action) {
		for k := range n {
			acts := c.advert(t0.Add(at+time.Duration(k)*time.Microsecond), received{Priority: prio, Interval: time.Second,
				Src: netip.MustParseAddr(srcs[k%len(srcs)])})
			if acts != nil {
				answers = append(answers, acts)
			}
		}
		return answers
	}
	check := func(what string, got [][]action, want ...[]action) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	check("1000 lower adverts within one interval", flood(100*time.Millisecond, 100, 1000),
		[]action{answered(100, 0), send(255), announce(3)})
	check("priority 0 is answered apart", flood(200*time.Millisecond, 0, 10), []action{send(255)})
	// 1.0999 s: still within the interval of the answer at 0.1 s.
	check("just before the interval is over", flood(1099*time.Millisecond, 90, 1))
	check("an interval after the answer", flood(1100*time.Millisecond, 100, 5),
		[]action{answered(100, 1000), send(255), announce(3)})
	check("priority 0 again an interval later", flood(1200*time.Millisecond, 0, 3), []action{send(255)})
}

// floodNet is a sender of crafted packets on a simulation's network that
// counts the adverts a router sends.
type floodNet struct {
	ep   Endpoint
	from netip.Addr

	mu      sync.Mutex
	adverts int
}

func newFlood(t *testing.T, s *sim, addr string, from *simRouter) *floodNet {
	f := &floodNet{from: from.addr}
	ep, err := s.net.Transport(netip.MustParseAddr(addr)).Open(EndpointConfig{Interface: "lan", VRID: 7, Multicast: true},
		func(p Packet) {
			if p.Src == f.from {
				f.mu.Lock()
				f.adverts++
				f.mu.Unlock()
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	f.ep = ep
	return f
}

func (f *floodNet) sent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adverts
}

// send hands one packet to every router and waits until they are done
// with it (the simulation's clock does not move).
func (f *floodNet) send(t *testing.T, b []byte) {
	if err := f.ep.Send(b, GroupIPv4); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
}

// Under a flood of adverts of lower priority a master sends one advert
// and one round of gratuitous ARPs per advert interval, on its clock,
// instead of one per advert (keepalived's), and logs one line per answer.
func TestSimLowerPriorityFloodAnswersBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		rec := &logtest.Recorder{}
		m := s.start("10.0.0.1", Config{Name: "m", Priority: 200, AdvertInterval: time.Second, Logger: slog.New(rec)})
		m.run()
		defer m.stop(t)
		s.waitFor("master", 5*time.Second, func() bool { return m.inst.State() == StateMaster })
		f := newFlood(t, s, "10.0.0.9", m)
		lower := Advert{Version: 3, VRID: 7, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{simVIP.Addr()}}
		pkt, err := lower.AppendMarshal(nil, netip.MustParseAddr("10.0.0.9"), GroupIPv4)
		if err != nil {
			t.Fatal(err)
		}
		answers := func() int {
			n := 0
			for _, r := range rec.Records() {
				if r.Message == "advert of lower priority answered, forcing a new election" {
					n++
				}
			}
			return n
		}
		for round := range 3 {
			adverts, garps := f.sent(), m.net.announced
			for range 200 {
				f.send(t, pkt)
			}
			if got := f.sent() - adverts; got != 1 {
				t.Errorf("round %d: %d adverts sent for 200 of lower priority, want 1", round, got)
			}
			if got := m.net.announced - garps; got != 5 {
				t.Errorf("round %d: %d gratuitous ARPs for 200 adverts of lower priority, want one round of 5", round, got)
			}
			if got := answers(); got != round+1 {
				t.Errorf("round %d: %d answers logged, want %d", round, got, round+1)
			}
			s.clk.Advance(time.Second) // the next interval, with its own advert
			synctest.Wait()
		}
	})
}

// At debug level an instance logs at most 10 dropped packets a second on
// its clock; the next line let through says how many were left out.
func TestSimDropLogRateLimited(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		rec := &logtest.Recorder{}
		r := s.start("10.0.0.1", Config{Name: "r", Priority: 100, AdvertInterval: time.Second, Logger: slog.New(rec)})
		r.run()
		defer r.stop(t)
		synctest.Wait()
		f := newFlood(t, s, "10.0.0.9", r)
		drops := func() []slog.Record {
			var out []slog.Record
			for _, x := range rec.Records() {
				if x.Message == "vrrp packet dropped" {
					out = append(out, x)
				}
			}
			return out
		}
		garbage := []byte{0x99, 7, 100, 1, 0, 0, 0, 0}
		for range 500 {
			f.send(t, garbage)
		}
		if got := len(drops()); got != debugLinesPerSecond {
			t.Fatalf("%d lines for 500 dropped packets in one instant, want %d", got, debugLinesPerSecond)
		}
		s.clk.Advance(time.Second)
		synctest.Wait()
		f.send(t, garbage)
		d := drops()
		if len(d) != debugLinesPerSecond+1 {
			t.Fatalf("%d lines after a second, want %d", len(d), debugLinesPerSecond+1)
		}
		v, ok := logtest.Attr(d[len(d)-1], "suppressed")
		if !ok || v.Int64() != 500-debugLinesPerSecond {
			t.Errorf("the line after a second says suppressed=%v (%v), want %d", v, ok, 500-debugLinesPerSecond)
		}
	})
}
