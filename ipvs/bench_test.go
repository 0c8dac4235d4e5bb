package ipvs

// The programming benchmark, run in the VM by TestKernelBench (make
// bench): 1,000 services x 10 destinations into an empty table by lvskit
// (pipelined, and one request per round trip) and by `ipvsadm -R` from the
// same rules, a no-op Sync of the full table, and a Dump of it.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/vmtest"
)

func benchTable(services, dests int) []Service {
	tab := make([]Service, 0, services)
	for i := range services {
		s := Service{Protocol: TCP, Addr: netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)}), Port: 80, Scheduler: "wrr"}
		for j := range dests {
			s.Destinations = append(s.Destinations, Destination{
				Addr: netip.AddrFrom4([4]byte{172, 16, byte(j), byte(i%250 + 1)}), Weight: int32(1 + j%3), Forward: DirectRoute})
		}
		tab = append(tab, s)
	}
	return tab
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func TestGuestBench(t *testing.T) {
	vmtest.RequireGuest(t)
	if os.Getenv("LVSKIT_BENCH") != "1" {
		t.Skip("set LVSKIT_BENCH=1")
	}
	h, n := guestTable(t)
	strict, err := OpenNetlink(NetlinkConfig{Netns: h.NsHandle(), BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	ctx := context.Background()
	nsvc, ndst, rounds := 1000, 10, 3
	if v := os.Getenv("LVSKIT_BENCH_SERVICES"); v != "" { // quick runs
		fmt.Sscan(v, &nsvc)
		rounds = 1
	}
	tab := benchTable(nsvc, ndst)
	rules := restoreRules(tab)
	var lv, lv1, adm, noop, dump []time.Duration
	var noopWrites uint64
	for round := range rounds {
		for _, b := range []struct {
			n   *Netlink
			out *[]time.Duration
		}{{n, &lv}, {strict, &lv1}} {
			if err := n.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			ops, err := Sync(ctx, b.n, tab)
			*b.out = append(*b.out, time.Since(start))
			if err != nil || len(ops) != nsvc*(1+ndst) {
				t.Fatalf("Sync: %d ops, %v", len(ops), err)
			}
		}
		w := n.Writes()
		start := time.Now()
		ops, err := Sync(ctx, n, tab)
		noop = append(noop, time.Since(start))
		if err != nil || len(ops) != 0 {
			t.Fatalf("no-op Sync: %v %v", ops, err)
		}
		noopWrites += n.Writes() - w

		start = time.Now()
		if _, err := n.Dump(ctx); err != nil {
			t.Fatal(err)
		}
		dump = append(dump, time.Since(start))

		if err := n.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		cmd := h.Command(ctx, "/sbin/ipvsadm", "-R")
		cmd.Stdin = strings.NewReader(rules)
		start = time.Now()
		out, err := cmd.CombinedOutput()
		adm = append(adm, time.Since(start))
		if err != nil {
			t.Fatalf("ipvsadm -R: %v\n%s", err, out)
		}
		if round == 0 {
			checkDump(t, n, tab) // both programmed the same table
		}
	}
	fmt.Printf("BENCH ipvs services=%d dests_per_service=%d rounds=%d lvskit_program_ms=%.1f lvskit_program_batch1_ms=%.1f ipvsadm_restore_ms=%.1f noop_sync_ms=%.1f noop_sync_writes=%d dump_ms=%.1f\n",
		nsvc, ndst, rounds, ms(median(lv)), ms(median(lv1)), ms(median(adm)), ms(median(noop)), noopWrites, ms(median(dump)))
}
