package ipvs

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// body returns the payload of an encoded nest.
func body(t testing.TB, b []byte) []byte {
	as, err := parseAttrs(b)
	if err != nil || len(as) != 1 {
		t.Fatalf("parse nest: %v (%d attributes)", err, len(as))
	}
	return as[0].data
}

// TestEncodeDecodeRoundTrip: what the encoder writes, the decoder reads
// back the same (the kernel echoes the same attributes in a dump).
func TestEncodeDecodeRoundTrip(t *testing.T) {
	r := newRand(11)
	for range 500 {
		for _, s := range randomTable(r) {
			got, err := decodeService(body(t, encodeService(&s, true).Serialize()))
			if err != nil {
				t.Fatalf("decode %s: %v", s.Key(), err)
			}
			for _, d := range s.Destinations {
				gd, err := decodeDest(body(t, encodeDest(&s, &d, true).Serialize()), s.Key().Family)
				if err != nil {
					t.Fatalf("decode %s: %v", d.Key(), err)
				}
				got.Destinations = append(got.Destinations, gd)
			}
			want := []Service{s}
			if d := cmp.Diff(Canonical(want), Canonical([]Service{got}), addrCmp); d != "" {
				t.Fatalf("round trip (-want +got):\n%s", d)
			}
		}
	}
}

func TestDaemonRoundTrip(t *testing.T) {
	for _, d := range []SyncDaemon{
		{State: DaemonMaster, Interface: "eth0", SyncID: 7, MaxLen: 1400, McastGroup: netip.MustParseAddr("224.0.0.82"), McastPort: 8850, McastTTL: 3},
		{State: DaemonBackup, Interface: "bond0.12", McastGroup: netip.MustParseAddr("ff02::1:3")},
	} {
		got, err := decodeDaemon(body(t, encodeDaemon(&d, true).Serialize()))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got, addrCmp); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

// TestNetmaskEncoding pins the byte layout the kernel expects.
func TestNetmaskEncoding(t *testing.T) {
	s := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, PersistenceTimeout: time.Minute, PersistenceBits: 24}
	if got := netmaskAttr(Inet, 24); string(got) != "\xff\xff\xff\x00" {
		t.Errorf("IPv4 /24 mask = % x, want ff ff ff 00", got)
	}
	got, err := decodeService(body(t, encodeService(&s, true).Serialize()))
	if err != nil || got.PersistenceBits != 24 {
		t.Errorf("decoded bits %d (%v), want 24", got.PersistenceBits, err)
	}
}

// FuzzDecode: the decoders never panic on what the kernel (or anyone on
// the socket) sends.
func FuzzDecode(f *testing.F) {
	r := newRand(5)
	for range 20 {
		for _, s := range randomTable(r) {
			f.Add(body(f, encodeService(&s, true).Serialize()))
			for _, d := range s.Destinations {
				f.Add(body(f, encodeDest(&s, &d, true).Serialize()))
			}
		}
	}
	f.Add([]byte{4, 0, 1, 0})
	f.Add([]byte{0xff, 0xff, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeService(b)
		decodeDest(b, Inet)
		decodeDest(b, Inet6)
		decodeDaemon(b)
		decodeStats(b)
		nested(b, 1)
	})
}

func TestOpErrorMapping(t *testing.T) {
	svc := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Scheduler: "mh"}
	d := Destination{Addr: netip.MustParseAddr("10.0.0.2")}
	tests := []struct {
		kind  OpKind
		errno syscall.Errno
		want  error
	}{
		{AddService, unix.EEXIST, ErrExists},
		{AddService, unix.ENOENT, ErrNotSupported}, // scheduler module missing
		{UpdateService, unix.ENOENT, ErrNotSupported},
		{UpdateService, unix.ESRCH, ErrNotFound},
		{DeleteService, unix.ESRCH, ErrNotFound},
		{AddDestination, unix.ESRCH, ErrNotFound},
		{UpdateDestination, unix.ENOENT, ErrNotFound},
		{DeleteDestination, unix.ENOENT, ErrNotFound},
		{AddDestination, unix.EEXIST, ErrExists},
		{AddDestination, unix.ERANGE, ErrInvalid},
		{AddService, unix.EAFNOSUPPORT, ErrNotSupported},
	}
	for _, tt := range tests {
		err := opError(&Op{Kind: tt.kind, Service: svc, Destination: d}, tt.errno)
		if !errors.Is(err, tt.want) || !errors.Is(err, tt.errno) {
			t.Errorf("%s %v = %v, want %v wrapping the errno", tt.kind, tt.errno, err, tt.want)
		}
		if !strings.Contains(err.Error(), tt.kind.String()) {
			t.Errorf("%v does not say what was being done", err)
		}
	}
	if err := opError(&Op{Kind: AddService, Service: svc}, unix.EPERM); !errors.Is(err, unix.EPERM) || errors.Is(err, ErrInvalid) {
		t.Errorf("EPERM = %v", err)
	}
}
