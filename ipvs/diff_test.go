package ipvs

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDiffProperty: for random tables A and B, applying Diff(A, B) to A in
// the memory backend gives B, Diff(B, B) is empty, and no operation list
// deletes and re-adds the same service or destination.
func TestDiffProperty(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		a, b := randomTable(r), randomTable(r)
		m := NewMemory()
		if _, err := Sync(ctx, m, a); err != nil {
			t.Fatalf("iter %d: sync A: %v\nA:\n%s", iter, err, describe(a))
		}
		have, _ := m.Dump(ctx)
		if d := cmp.Diff(Canonical(a), Canonical(have), addrCmp); d != "" {
			t.Fatalf("iter %d: A read back (-want +got):\n%s", iter, d)
		}
		ops := Diff(have, b)
		checkMinimal(t, ops)
		if err := m.Apply(ctx, ops); err != nil {
			t.Fatalf("iter %d: apply Diff(A,B): %v\nA:\n%sB:\n%s", iter, err, describe(a), describe(b))
		}
		got, _ := m.Dump(ctx)
		if d := cmp.Diff(Canonical(b), Canonical(got), addrCmp); d != "" {
			t.Fatalf("iter %d: A+Diff(A,B) != B (-want +got):\n%s\nops: %v", iter, d, ops)
		}
		if ops := Diff(got, b); len(ops) != 0 {
			t.Fatalf("iter %d: Diff(B,B) = %v, want none", iter, ops)
		}
		if ops := Diff(b, b); len(ops) != 0 {
			t.Fatalf("iter %d: Diff(B,B) = %v, want none", iter, ops)
		}
		// A no-op Sync writes nothing.
		w := m.Writes()
		if ops, err := Sync(ctx, m, b); err != nil || len(ops) != 0 || m.Writes() != w {
			t.Fatalf("iter %d: no-op sync: ops %v err %v writes %d -> %d", iter, ops, err, w, m.Writes())
		}
	}
}

func checkMinimal(t *testing.T, ops []Op) {
	t.Helper()
	type dk struct {
		s ServiceKey
		d DestinationKey
	}
	delS := map[ServiceKey]bool{}
	delD := map[dk]bool{}
	for _, op := range ops {
		switch op.Kind {
		case DeleteService:
			delS[op.Service.Key()] = true
		case AddService:
			if delS[op.Service.Key()] {
				t.Fatalf("service %s deleted and added again: %v", op.Service.Key(), ops)
			}
		case DeleteDestination:
			delD[dk{op.Service.Key(), op.Destination.Key()}] = true
		case AddDestination:
			if delD[dk{op.Service.Key(), op.Destination.Key()}] {
				t.Fatalf("destination %s deleted and added again: %v", op.Destination.Key(), ops)
			}
		}
	}
}

func TestDiffCases(t *testing.T) {
	vip := netip.MustParseAddr("192.168.0.253")
	rs1 := netip.MustParseAddr("192.168.0.1")
	rs2 := netip.MustParseAddr("192.168.0.2")
	base := func() Service {
		return Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "wrr", Destinations: []Destination{
			{Addr: rs1, Port: 80, Weight: 1, Forward: DirectRoute},
			{Addr: rs2, Port: 80, Weight: 2, Forward: DirectRoute},
		}}
	}
	kinds := func(ops []Op) []string {
		var out []string
		for _, op := range ops {
			out = append(out, op.String())
		}
		return out
	}
	tests := []struct {
		name   string
		change func(s *Service) []Service
		want   []string
	}{
		{"same", func(s *Service) []Service { return []Service{*s} }, nil},
		{"defaults are equal", func(s *Service) []Service {
			s.Destinations[0].Port = 0
			s.PersistenceBits = 32
			return []Service{*s}
		}, nil},
		{"scheduler edited in place", func(s *Service) []Service {
			s.Scheduler = "sh"
			s.Flags = SHPort
			return []Service{*s}
		}, []string{"update service TCP 192.168.0.253:80"}},
		{"persistence edited in place", func(s *Service) []Service {
			s.PersistenceTimeout = 300 * time.Second
			return []Service{*s}
		}, []string{"update service TCP 192.168.0.253:80"}},
		{"weight and forward edited in place", func(s *Service) []Service {
			s.Destinations[1].Weight = 0
			s.Destinations[0].Forward = Masquerade
			return []Service{*s}
		}, []string{
			"update destination TCP 192.168.0.253:80 -> 192.168.0.1:80",
			"update destination TCP 192.168.0.253:80 -> 192.168.0.2:80",
		}},
		{"destination replaced", func(s *Service) []Service {
			s.Destinations[1].Addr = netip.MustParseAddr("192.168.0.3")
			return []Service{*s}
		}, []string{
			"delete destination TCP 192.168.0.253:80 -> 192.168.0.2:80",
			"add destination TCP 192.168.0.253:80 -> 192.168.0.3:80",
		}},
		{"service key changed", func(s *Service) []Service {
			s.Port = 8080
			return []Service{*s}
		}, []string{
			"delete service TCP 192.168.0.253:80",
			"add service TCP 192.168.0.253:8080",
			"add destination TCP 192.168.0.253:8080 -> 192.168.0.1:80",
			"add destination TCP 192.168.0.253:8080 -> 192.168.0.2:80",
		}},
		{"deletes before updates before adds", func(s *Service) []Service {
			s.Scheduler = "rr"
			s.Destinations = []Destination{{Addr: rs2, Port: 80, Weight: 5, Forward: DirectRoute}, {Addr: netip.MustParseAddr("192.168.0.9"), Forward: DirectRoute}}
			return []Service{*s}
		}, []string{
			"delete destination TCP 192.168.0.253:80 -> 192.168.0.1:80",
			"update service TCP 192.168.0.253:80",
			"update destination TCP 192.168.0.253:80 -> 192.168.0.2:80",
			"add destination TCP 192.168.0.253:80 -> 192.168.0.9:80",
		}},
		{"all removed", func(s *Service) []Service { return nil }, []string{"delete service TCP 192.168.0.253:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := base()
			w := base()
			want := tt.change(&w)
			got := kinds(Diff([]Service{have}, want))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Diff (-want +got):\n%s", d)
			}
		})
	}
}

func TestSyncRejectsInvalidWithoutWriting(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	good := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}
	if _, err := Sync(ctx, m, []Service{good}); err != nil {
		t.Fatal(err)
	}
	w := m.Writes()
	bad := []Service{{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.2"), Port: 80,
		Destinations: []Destination{{Addr: netip.MustParseAddr("10.1.0.1"), Weight: -1}}}}
	_, err := Sync(ctx, m, bad)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Sync(bad) = %v, want ErrInvalid", err)
	}
	if m.Writes() != w {
		t.Errorf("Sync(bad) wrote %d operations", m.Writes()-w)
	}
	got, _ := m.Dump(ctx)
	if d := cmp.Diff(Canonical([]Service{good}), Canonical(got), addrCmp); d != "" {
		t.Errorf("table changed (-want +got):\n%s", d)
	}
}
