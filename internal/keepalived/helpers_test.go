package keepalived

import (
	"net/netip"
	"time"

	"github.com/google/go-cmp/cmp"
)

// at is "some valid position". Corpus tests compare whether a position is
// set, not where (positionsCmp); position values are checked by
// TestPositions and the error table.
var at = Pos{File: "*", Line: 1, Col: 1}

var positionsCmp = cmp.Options{
	cmp.Comparer(func(a, b Pos) bool { return a.IsValid() == b.IsValid() }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// exactCmp compares positions exactly.
var exactCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func sv(s string) Value[string] { return Value[string]{V: s, Pos: at} }
func iv(i int) Value[int]       { return Value[int]{V: i, Pos: at} }
func bv(b bool) Value[bool]     { return Value[bool]{V: b, Pos: at} }

func dv(s string) Value[time.Duration] {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return Value[time.Duration]{V: d, Pos: at}
}

func ip(s string) netip.Addr                       { return netip.MustParseAddr(s) }
func av(s string) Value[netip.Addr]                { return Value[netip.Addr]{V: ip(s), Pos: at} }
func pfx(s string) netip.Prefix                    { return netip.MustParsePrefix(s) }
func u32(v uint32) Value[uint32]                   { return Value[uint32]{V: v, Pos: at} }
func u16(v uint16) Value[uint16]                   { return Value[uint16]{V: v, Pos: at} }
func fwd(m string) Value[Forwarding]               { return Value[Forwarding]{V: Forwarding{Method: m}, Pos: at} }
func status(r ...StatusRange) Value[[]StatusRange] { return Value[[]StatusRange]{V: r, Pos: at} }

func scr(raw string, argv ...string) Value[Script] {
	return Value[Script]{V: Script{Raw: raw, Argv: argv}, Pos: at}
}

func scrUser(raw, user, group string, argv ...string) Value[Script] {
	return Value[Script]{V: Script{Raw: raw, Argv: argv, User: user, Group: group}, Pos: at}
}

func ref(name string) TrackRef { return TrackRef{Pos: at, Name: name} }

func refW(name string, w int, reverse bool) TrackRef {
	return TrackRef{Pos: at, Name: name, Weight: iv(w), Reverse: reverse}
}

func addr(prefix string) IPAddress { return IPAddress{Pos: at, Prefix: pfx(prefix)} }

// httpURL is a url block with a path and optional status codes.
func httpURL(path string, codes ...StatusRange) URL {
	u := URL{Pos: at, Path: sv(path)}
	if len(codes) > 0 {
		u.StatusCodes = status(codes...)
	}
	return u
}
