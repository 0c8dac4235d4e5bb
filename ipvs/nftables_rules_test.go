package ipvs

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func svcWith(sched string, weights ...int32) *nftSvc {
	s := &nftSvc{Service: Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Scheduler: sched}, sid: 7}
	for i, w := range weights {
		s.Destinations = append(s.Destinations, Destination{Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), Port: 80, Weight: w, Forward: DirectRoute})
		s.dids = append(s.dids, uint32(100+i))
	}
	return s
}

// slots expands a scheduling table into slot -> did.
func slots(t slotTable) []uint32 {
	var out []uint32
	if t.interval {
		for i, e := range t.elems {
			if e.IntervalEnd {
				continue
			}
			end := binary.BigEndian.Uint32(t.elems[i+1].Key)
			for range end - binary.BigEndian.Uint32(e.Key) {
				out = append(out, binary.BigEndian.Uint32(e.Val))
			}
		}
		return out
	}
	out = make([]uint32, t.modulus)
	for _, e := range t.elems {
		out[nativeEndian.Uint32(e.Key)] = binary.BigEndian.Uint32(e.Val)
	}
	return out
}

func TestNFTSchedTable(t *testing.T) {
	tests := []struct {
		name string
		s    *nftSvc
		want []uint32 // slot -> did; nil: no destination available
	}{
		{"wrr 3:1", svcWith("wrr", 3, 1), []uint32{100, 100, 100, 101}},
		{"wrr skips weight 0", svcWith("wrr", 2, 0, 1), []uint32{100, 100, 102}},
		{"rr ignores weights", svcWith("rr", 5, 1), []uint32{100, 101}},
		{"all quiesced", svcWith("wrr", 0, 0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, ok := schedTable(tt.s)
			if !ok {
				if tt.want != nil {
					t.Fatal("no table")
				}
				return
			}
			if d := cmp.Diff(tt.want, slots(tab)); d != "" {
				t.Errorf("slots (-want +got):\n%s", d)
			}
			if tab.modulus != uint32(len(tt.want)) {
				t.Errorf("modulus %d, want %d", tab.modulus, len(tt.want))
			}
		})
	}
	// sh: weight consecutive buckets per server, all 256 filled.
	sh, _ := schedTable(svcWith("sh", 2, 1))
	got := slots(sh)
	if len(got) != 256 || got[0] != 100 || got[1] != 100 || got[2] != 101 || got[3] != 100 {
		t.Errorf("sh buckets start %v, want 100 100 101 100", got[:4])
	}
	// fo: the heaviest.
	if fo, _ := schedTable(svcWith("fo", 1, 5, 5)); fo.fixed != 101 {
		t.Errorf("fo picks %d, want 101 (heaviest, first by address)", fo.fixed)
	}
}

// TestNFTMaglevMovesOnlyTheRemoved: the mh table does not depend on the
// order the servers were added in, and without one server every slot of
// that server moves while Maglev moves few others (it is minimal
// disruption, not none: some slots of the others change hands too).
func TestNFTMaglevMovesOnlyTheRemoved(t *testing.T) {
	three := svcWith("mh", 1, 1, 1)
	a, _ := schedTable(three)
	rev := svcWith("mh", 1, 1, 1)
	for i, j := 0, 2; i < j; i, j = i+1, j-1 {
		rev.Destinations[i], rev.Destinations[j] = rev.Destinations[j], rev.Destinations[i]
		rev.dids[i], rev.dids[j] = rev.dids[j], rev.dids[i]
	}
	b, _ := schedTable(rev)
	if d := cmp.Diff(slots(a), slots(b)); d != "" {
		t.Fatalf("mh table depends on the servers' order")
	}
	two := svcWith("mh", 1, 1, 1)
	two.Destinations[2].Weight = 0 // left out, as if removed
	c, _ := schedTable(two)
	sa, sc := slots(a), slots(c)
	if len(sa) != nftMaglevSize {
		t.Fatalf("mh table has %d slots, want %d", len(sa), nftMaglevSize)
	}
	owned, others := 0, 0
	for i := range sa {
		switch {
		case sa[i] == 102:
			owned++
			if sc[i] == 102 {
				t.Fatalf("slot %d still goes to the removed server", i)
			}
		case sa[i] != sc[i]:
			others++
		}
	}
	t.Logf("removed server had %d slots; %d slots of the others moved too", owned, others)
	if owned < nftMaglevSize/4 || others > nftMaglevSize/50 {
		t.Errorf("removed server had %d slots and %d others moved; want about a third and under 2%%", owned, others)
	}
}

func TestNFTComments(t *testing.T) {
	a := nftServiceAttrs{sid: 0xdeadbeef, sched: "mh", flags: MHPort | MHFallback, persist: 300 * time.Second, bits: 24}
	got, err := parseServiceComment(a.comment())
	if err != nil || got != a {
		t.Errorf("service comment round trip: %+v, %v; want %+v", got, err, a)
	}
	d := Destination{Weight: 7, Forward: DirectRoute}
	if w, f, err := parseDestComment(destComment(&d)); err != nil || w != 7 || f != DirectRoute {
		t.Errorf("destination comment round trip: %d %s %v", w, f, err)
	}
	for _, bad := range []string{"", "other sid=1", "lvskit1 sid=zz sched=rr flags=0 persist=0 bits=32", "lvskit1 w=1 fwd=tun"} {
		if _, err := parseServiceComment(bad); err == nil {
			if _, _, err := parseDestComment(bad); err == nil {
				t.Errorf("%q parsed", bad)
			}
		}
	}
}
