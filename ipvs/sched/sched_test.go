package sched

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func dests(weights ...int) []*Dest {
	ds := make([]*Dest, len(weights))
	for i, w := range weights {
		ds[i] = NewDest(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 80), w)
	}
	return ds
}

func mustNew(t testing.TB, name string, f Flags, ds []*Dest) Scheduler {
	t.Helper()
	s, err := New(name, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Update(ds)
	return s
}

func index(ds []*Dest, d *Dest) int {
	for i, x := range ds {
		if x == d {
			return i
		}
	}
	return -1
}

var vip = netip.MustParseAddrPort("192.0.2.10:80")

func client(i int) Flow {
	return Flow{
		Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), uint16(1024+i%50000)),
		Dst: vip,
	}
}

func TestNewRejectsUnknown(t *testing.T) {
	if _, err := New("nope", 0, Options{}); err == nil {
		t.Error("New(nope) succeeded")
	}
	if _, err := New("sh", 1<<5, Options{}); err == nil {
		t.Error("New(sh, flag-3) succeeded")
	}
	if _, err := New("mh", 0, Options{MHTableSize: 1000}); err == nil {
		t.Error("New(mh, size 1000) succeeded")
	}
	want := []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "wlc", "wrr"}
	if diff := cmp.Diff(want, Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
}

func TestWRRKernelSequence(t *testing.T) {
	tests := []struct {
		weights []int
		want    string // one full cycle of picks, by index letter
	}{
		{[]int{3, 1}, "AAAB"},
		{[]int{4, 2}, "AAB"}, // gcd 2: cw 4, 2
		{[]int{5, 3, 2}, "AAABABCABC"},
		{[]int{1, 1, 1}, "ABC"},
		{[]int{0, 2, 1}, "BBC"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.weights), func(t *testing.T) {
			ds := dests(tc.weights...)
			s := mustNew(t, "wrr", 0, ds)
			var got []byte
			for range 2 * len(tc.want) {
				got = append(got, byte('A'+index(ds, s.Pick(Flow{}))))
			}
			if diff := cmp.Diff(tc.want+tc.want, string(got)); diff != "" {
				t.Errorf("sequence (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWRRExactRatio(t *testing.T) {
	ds := dests(3, 1)
	s := mustNew(t, "wrr", 0, ds)
	counts := make([]int, 2)
	for range 4000 {
		counts[index(ds, s.Pick(Flow{}))]++
	}
	if diff := cmp.Diff([]int{3000, 1000}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestRRSkipsUnusable(t *testing.T) {
	ds := dests(1, 0, 5, 1)
	ds[3].SetThresholds(1, 0)
	ds[3].Bind(true) // reaches the upper threshold: overloaded
	s := mustNew(t, "rr", 0, ds)
	var got []int
	for range 4 {
		got = append(got, index(ds, s.Pick(Flow{})))
	}
	if diff := cmp.Diff([]int{0, 2, 0, 2}, got); diff != "" {
		t.Errorf("picks (-want +got):\n%s", diff)
	}
}

// TestWeightZeroAndOverload checks, for every scheduler, that a weight-0
// and an overloaded destination never get a new connection.
func TestWeightZeroAndOverload(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			ds := dests(0, 2, 3, 1)
			ds[2].SetThresholds(1, 0)
			ds[2].Bind(false)
			if !ds[2].Overloaded() {
				t.Fatal("dest with upper threshold 1 and 1 conn is not overloaded")
			}
			s := mustNew(t, name, FlagFallback, ds)
			seen := map[int]int{}
			for i := range 2000 {
				f := client(i)
				f.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 80)
				d := s.Pick(f)
				if d == nil {
					if name == "dh" { // no fallback: its bucket's server is out
						continue
					}
					t.Fatalf("pick %d: no destination", i)
				}
				seen[index(ds, d)]++
			}
			if seen[0] != 0 || seen[2] != 0 {
				t.Errorf("weight-0 dest got %d, overloaded dest got %d connections", seen[0], seen[2])
			}
		})
	}
}

func TestNoDestinations(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s := mustNew(t, name, FlagFallback, nil)
			if d := s.Pick(client(1)); d != nil {
				t.Errorf("Pick with no dests = %v", d.Addr)
			}
			s.Update(dests(0, 0))
			if d := s.Pick(client(1)); d != nil {
				t.Errorf("Pick with all weight 0 = %v", d.Addr)
			}
		})
	}
}

func TestThresholdHysteresis(t *testing.T) {
	tests := []struct {
		name         string
		upper, lower uint32
		clearsAt     int // total at which overload clears when unbinding
	}{
		// The kernel clears below the lower threshold, or below 3/4 of
		// the upper one (total*4 < upper*3), not at it.
		{"lower set", 4, 2, 1},
		{"no lower: 3/4 of upper", 4, 0, 2},
		{"no lower: 3/4 of 10", 10, 0, 7},
		{"no lower: 3/4 of 3", 3, 0, 2},
		{"no lower: 3/4 of 2", 2, 0, 1},
		{"lower above upper", 2, 5, 1}, // clears at once
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDest(netip.MustParseAddrPort("10.0.0.1:80"), 1)
			d.SetThresholds(tc.upper, tc.lower)
			for i := range int(tc.upper) {
				if d.Overloaded() {
					t.Fatalf("overloaded at %d conns", i)
				}
				d.Bind(true)
			}
			if !d.Overloaded() {
				t.Fatalf("not overloaded at upper threshold %d", tc.upper)
			}
			for total := int(tc.upper) - 1; total >= 0; total-- {
				d.Unbind(true)
				if got, want := d.Overloaded(), total > tc.clearsAt; got != want {
					t.Fatalf("at %d conns overloaded=%v, want %v", total, got, want)
				}
			}
		})
	}
	d := NewDest(netip.MustParseAddrPort("10.0.0.1:80"), 1)
	d.SetThresholds(1, 0)
	d.Bind(true)
	d.SetThresholds(5, 0) // raising the upper threshold clears at once
	if d.Overloaded() {
		t.Error("still overloaded after raising the upper threshold")
	}
}

// setConns sets a destination's counters directly.
func setConns(d *Dest, active, inactive int32) {
	d.active.Store(active)
	d.inactive.Store(inactive)
}

func TestLeastConnectionFamily(t *testing.T) {
	type dc struct {
		weight           int
		active, inactive int32
	}
	tests := []struct {
		sched string
		ds    []dc
		want  int
	}{
		{"lc", []dc{{1, 1, 0}, {1, 0, 200}}, 1},           // 256 > 200
		{"lc", []dc{{1, 1, 0}, {1, 0, 300}}, 0},           // 256 < 300
		{"lc", []dc{{1, 2, 0}, {9, 2, 0}, {1, 1, 5}}, 2},  // weight ignored
		{"lc", []dc{{1, 1, 0}, {1, 1, 0}}, 0},             // ties: first
		{"wlc", []dc{{1, 1, 0}, {3, 2, 0}}, 1},            // 256/1 > 512/3
		{"wlc", []dc{{1, 1, 0}, {1, 2, 0}}, 0},            //
		{"wlc", []dc{{0, 0, 0}, {2, 5, 0}, {1, 3, 0}}, 1}, // 0-weight skipped
		{"sed", []dc{{1, 0, 0}, {3, 1, 0}}, 1},            // (0+1)/1 > (1+1)/3
		{"sed", []dc{{1, 0, 0}, {4, 2, 0}}, 1},            // 1/1 > 3/4
		{"sed", []dc{{1, 0, 50}, {1, 0, 0}}, 0},           // inactive ignored
		{"nq", []dc{{5, 1, 0}, {1, 0, 0}}, 1},             // idle server first
		{"nq", []dc{{5, 1, 0}, {1, 1, 0}}, 0},             // else sed: 2/5 < 2/1
		{"fo", []dc{{1, 0, 0}, {3, 9, 0}, {3, 0, 0}}, 1},  // highest weight, first on ties
		{"ovf", []dc{{1, 0, 0}, {3, 3, 0}}, 1},            // active 3 not > weight 3
		{"ovf", []dc{{1, 0, 0}, {3, 4, 0}}, 0},            // overflow to the next
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.sched, i), func(t *testing.T) {
			ds := make([]*Dest, len(tc.ds))
			for j, c := range tc.ds {
				ds[j] = dests(c.weight)[0]
				setConns(ds[j], c.active, c.inactive)
			}
			s := mustNew(t, tc.sched, 0, ds)
			if got := index(ds, s.Pick(Flow{})); got != tc.want {
				t.Errorf("picked %d, want %d", got, tc.want)
			}
		})
	}
}

// TestLCSpreadsLoad opens connections that stay open: lc must fill the
// servers evenly, wlc in proportion to weight.
func TestLCSpreadsLoad(t *testing.T) {
	for _, tc := range []struct {
		sched   string
		weights []int
		want    []int
	}{
		{"lc", []int{1, 5, 1}, []int{100, 100, 100}},
		{"wlc", []int{1, 2, 3}, []int{50, 100, 150}},
		{"sed", []int{1, 2, 3}, []int{50, 100, 150}},
	} {
		t.Run(tc.sched, func(t *testing.T) {
			ds := dests(tc.weights...)
			s := mustNew(t, tc.sched, 0, ds)
			for range 300 {
				s.Pick(Flow{}).Bind(true)
			}
			var got []int
			for _, d := range ds {
				got = append(got, d.ActiveConns())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("active conns (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSourceHash(t *testing.T) {
	ds := dests(3, 1)
	s := mustNew(t, "sh", 0, ds).(*sourceHash)
	// Weight replicas: 3 then 1 buckets in turn, 192:64 of 256.
	count := map[*Dest]int{}
	for _, d := range s.tab.Load() {
		count[d]++
	}
	if count[ds[0]] != 192 || count[ds[1]] != 64 {
		t.Errorf("bucket counts %d:%d, want 192:64", count[ds[0]], count[ds[1]])
	}
	// One client, one server, whatever its port.
	for i := range 200 {
		c := client(i)
		first := s.Pick(c)
		for p := range 50 {
			c.Src = netip.AddrPortFrom(c.Src.Addr(), uint16(2000+p))
			if d := s.Pick(c); d != first {
				t.Fatalf("client %v went to %v and %v", c.Src.Addr(), first.Addr, d.Addr)
			}
		}
	}
}

func TestSourceHashFallback(t *testing.T) {
	ds := dests(1, 1, 1, 1)
	plain := mustNew(t, "sh", 0, ds)
	fb := mustNew(t, "sh", FlagFallback, ds)
	before := make([]*Dest, 1000)
	for i := range before {
		before[i] = plain.Pick(client(i))
	}
	ds[2].SetWeight(0)
	plain.Update(ds)
	fb.Update(ds)
	movedOthers := 0
	for i, was := range before {
		p, f := plain.Pick(client(i)), fb.Pick(client(i))
		if was == ds[2] {
			if p != nil {
				t.Fatalf("client %d: without fallback got %v from a weight-0 server", i, p.Addr)
			}
			if f == nil || f == ds[2] {
				t.Fatalf("client %d: fallback gave %v", i, f)
			}
			continue
		}
		if p != was || f != was {
			movedOthers++
		}
	}
	if movedOthers != 0 {
		t.Errorf("%d clients of available servers moved", movedOthers)
	}
}

func TestSourceHashPort(t *testing.T) {
	ds := dests(1, 1, 1, 1)
	s := mustNew(t, "sh", FlagPort, ds)
	seen := map[*Dest]bool{}
	c := client(7)
	for p := range 200 {
		c.Src = netip.AddrPortFrom(c.Src.Addr(), uint16(3000+p))
		seen[s.Pick(c)] = true
	}
	if len(seen) < 2 {
		t.Errorf("sh-port: 200 ports of one client all went to one server")
	}
}

func TestMaglevDisruption(t *testing.T) {
	const n, clients = 10, 20000
	for _, size := range []int{0, 65521} {
		t.Run(fmt.Sprint("size", size), func(t *testing.T) {
			ds := dests(make([]int, n)...)
			for _, d := range ds {
				d.SetWeight(1)
			}
			s, err := New("mh", 0, Options{MHTableSize: size})
			if err != nil {
				t.Fatal(err)
			}
			s.Update(ds)
			before := make([]*Dest, clients)
			per := map[*Dest]int{}
			for i := range before {
				before[i] = s.Pick(client(i))
				per[before[i]]++
			}
			for _, d := range ds {
				// Balanced within 25% of the mean.
				if c := per[d]; c < clients/n*3/4 || c > clients/n*5/4 {
					t.Errorf("server %v got %d of %d clients", d.Addr, c, clients)
				}
			}
			s.Update(append(ds[:3:3], ds[4:]...)) // remove server 3
			changed := 0
			for i, was := range before {
				now := s.Pick(client(i))
				if now == ds[3] {
					t.Fatalf("client %d still on the removed server", i)
				}
				if now != was {
					changed++
				}
			}
			limit := clients/n + clients/50 // 1/N + 2% slack
			if changed > limit {
				t.Errorf("%d of %d mappings changed, want <= %d", changed, clients, limit)
			}
			t.Logf("removing 1 of %d servers changed %d of %d mappings (%.1f%%)", n, changed, clients, 100*float64(changed)/clients)
		})
	}
}

func TestMaglevQuiesceKeepsTable(t *testing.T) {
	ds := dests(1, 1, 1)
	s := mustNew(t, "mh", FlagFallback, ds)
	plain := mustNew(t, "mh", 0, ds)
	before := make([]*Dest, 3000)
	for i := range before {
		before[i] = s.Pick(client(i))
	}
	ds[1].SetWeight(0)
	s.Update(ds)
	plain.Update(ds)
	for i, was := range before {
		got := s.Pick(client(i))
		if was != ds[1] && got != was {
			t.Fatalf("client %d moved from %v to %v", i, was.Addr, got.Addr)
		}
		if was == ds[1] {
			if got == nil || got == ds[1] {
				t.Fatalf("client %d: fallback gave %v", i, got)
			}
			if p := plain.Pick(client(i)); p != nil {
				t.Fatalf("client %d: without fallback got %v", i, p.Addr)
			}
		}
	}
}

func TestMaglevWeights(t *testing.T) {
	ds := dests(3, 1)
	s := mustNew(t, "mh", 0, ds)
	c := map[*Dest]int{}
	for _, d := range *s.(*maglev).tab.Load() {
		c[d]++
	}
	// 4093 slots in turns of 3 and 1: exactly 3:1 up to the last round.
	if c[ds[0]] < 3069 || c[ds[0]] > 3070 || c[ds[0]]+c[ds[1]] != 4093 {
		t.Errorf("slots %d:%d, want about 3070:1023", c[ds[0]], c[ds[1]])
	}
}

func TestDestHash(t *testing.T) {
	ds := dests(1, 1, 1)
	s := mustNew(t, "dh", 0, ds)
	per := map[*Dest]int{}
	for i := range 256 {
		f := client(i)
		f.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 80)
		d := s.Pick(f)
		for j := range 20 { // any client, same destination: same server
			g := client(1000 + j)
			g.Dst = f.Dst
			if s.Pick(g) != d {
				t.Fatalf("destination %v maps to more than one server", f.Dst)
			}
		}
		per[d]++
	}
	if len(per) != 3 {
		t.Errorf("256 destination addresses used %d of 3 servers", len(per))
	}
}

func TestLBLC(t *testing.T) {
	now := time.Unix(1000, 0)
	ds := dests(2, 2)
	s, _ := New("lblc", 0, Options{Now: func() time.Time { return now }, LocalityExpiration: time.Hour})
	s.Update(ds)
	f := client(1)
	first := s.Pick(f)
	other := ds[1-index(ds, first)]
	first.Bind(true)
	for range 5 { // sticky although the other is idle, until overloaded
		if d := s.Pick(client(9)); d != first {
			t.Fatalf("lblc moved to %v before overload", d.Addr)
		}
	}
	first.Bind(true)
	first.Bind(true) // 3 active > weight 2, other has 0*2 < 2
	if d := s.Pick(f); d != other {
		t.Fatalf("overloaded: got %v, want %v", d.Addr, other.Addr)
	}
	if d := s.Pick(f); d != other {
		t.Fatalf("entry not updated to the new server")
	}
	// Expiry: after an hour unused the entry is gone and wlc decides.
	other.Bind(true)
	other.Bind(true)
	other.Bind(true)
	other.Bind(true)
	now = now.Add(2 * time.Hour)
	if d := s.Pick(f); d != first { // 3 active < 4 active
		t.Fatalf("after expiry got %v, want least loaded %v", d.Addr, first.Addr)
	}
}

func TestLBLCR(t *testing.T) {
	now := time.Unix(1000, 0)
	ds := dests(1, 1, 1)
	s, _ := New("lblcr", 0, Options{Now: func() time.Time { return now }, LocalityExpiration: time.Hour})
	s.Update(ds)
	f := client(1)
	a := s.Pick(f)
	a.Bind(true)
	a.Bind(true) // 2 active > weight 1; others idle
	b := s.Pick(f)
	if b == a {
		t.Fatal("overloaded member not replicated")
	}
	b.Bind(true)
	// Both members now have 1+ active; the set's least loaded is b.
	if d := s.Pick(f); d != b {
		t.Fatalf("got %v, want set minimum %v", d.Addr, b.Addr)
	}
	set := s.(*lblcr).table[f.Dst.Addr()].set
	if len(set) != 2 {
		t.Fatalf("set size %d, want 2", len(set))
	}
	now = now.Add(2 * time.Hour) // set unchanged for longer than expiration
	s.Pick(f)
	if got := len(s.(*lblcr).table[f.Dst.Addr()].set); got != 1 {
		t.Errorf("set size after expiration %d, want 1 (most loaded shed)", got)
	}
}

func TestConcurrentPickAndUpdate(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			ds := dests(1, 2, 3, 4)
			s := mustNew(t, name, FlagFallback, ds)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 1))
					for range 2000 {
						if d := s.Pick(client(r.IntN(5000))); d != nil {
							d.Bind(true)
							d.Unbind(true)
						}
					}
				}()
			}
			for i := range 200 {
				ds[i%4].SetWeight(i % 5)
				s.Update(ds[:1+i%4])
			}
			wg.Wait()
		})
	}
}
