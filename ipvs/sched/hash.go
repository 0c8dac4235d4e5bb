package sched

import (
	"fmt"
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// The dh and sh tables have 256 buckets (CONFIG_IP_VS_SH_TAB_BITS=8,
// CONFIG_IP_VS_DH_TAB_BITS=8).
const (
	hashTabBits = 8
	hashTabSize = 1 << hashTabBits
	hashTabMask = hashTabSize - 1
)

type hashTable [hashTabSize]*Dest

// addrFold reduces an address to 32 bits as the kernel does: an IPv4
// address is its own value, an IPv6 address the XOR of its four words.
func addrFold(a netip.Addr) uint32 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	b := a.As16()
	var f uint32
	for i := 0; i < 16; i += 4 {
		f ^= uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
	}
	return f
}

// hash32 is the kernel's hash_32: multiply by the 32-bit golden ratio and
// keep the top bits.
func hash32(v uint32, nbits uint) uint32 { return (v * 0x61C88647) >> (32 - nbits) }

// destHash is dh: a 256-bucket table filled with the destinations in turn,
// looked up by the connection's destination address.
type destHash struct {
	tab atomic.Pointer[hashTable]
}

func (s *destHash) Update(dests []*Dest) {
	t := new(hashTable)
	if len(dests) > 0 {
		for i := range t {
			t[i] = dests[i%len(dests)]
		}
	}
	s.tab.Store(t)
}

func (s *destHash) Pick(f Flow) *Dest {
	t := s.tab.Load()
	if t == nil {
		return nil
	}
	d := t[(addrFold(f.Dst.Addr())*2654435761)&hashTabMask]
	if d == nil || !d.usable() {
		return nil
	}
	return d
}

// sourceHash is sh: a 256-bucket table where each destination takes
// weight consecutive buckets in turn (at least one), looked up by the
// client address (and port with FlagPort). With FlagFallback an
// unavailable bucket is followed by rehashing with increasing offsets.
type sourceHash struct {
	flags Flags
	tab   atomic.Pointer[hashTable]
}

func (s *sourceHash) Update(dests []*Dest) {
	t := new(hashTable)
	if n := len(dests); n > 0 {
		p, count := 0, int32(0)
		for i := range t {
			d := dests[p]
			t[i] = d
			count++
			if count >= d.weight.Load() {
				p = (p + 1) % n
				count = 0
			}
		}
	}
	s.tab.Store(t)
}

func shHashKey(addr uint32, port uint16, offset uint32) uint32 {
	return (offset + hash32(uint32(port)+addr, hashTabBits)) & hashTabMask
}

func (s *sourceHash) Pick(f Flow) *Dest {
	t := s.tab.Load()
	if t == nil {
		return nil
	}
	addr := addrFold(f.Src.Addr())
	var port uint16
	if s.flags&FlagPort != 0 {
		port = f.Src.Port()
	}
	ihash := shHashKey(addr, port, 0)
	d := t[ihash]
	if d == nil {
		return nil
	}
	if d.usable() {
		return d
	}
	if s.flags&FlagFallback == 0 {
		return nil
	}
	for offset := uint32(0); offset < hashTabSize; offset++ {
		d = t[shHashKey(addr, port, (offset+ihash)%hashTabSize)]
		if d == nil {
			return nil
		}
		if d.usable() {
			return d
		}
	}
	return nil
}

// mhPrimes are the table sizes the kernel allows for mh.
var mhPrimes = []int{251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071}

// mhTabBits is the kernel's IP_VS_MH_TAB_BITS (CONFIG_IP_VS_MH_TAB_INDEX/2):
// weights are shifted so that weight/gcd fits in this many bits.
const mhTabBits = 6

// The kernel's fixed hsiphash keys for mh (both words equal).
const (
	mhKey1 = 2654435761
	mhKey2 = 2654446892
)

// maglev is mh: Maglev consistent hashing. Each destination with a
// non-zero last weight walks its own permutation of the table (offset and
// skip from two keyed hashes of its address and port) and claims free
// slots, weight/gcd turns at a time. Lookups hash the client address (and
// port with FlagPort). A destination set to weight 0 keeps its slots (the
// kernel builds the table from the last non-zero weight), so its clients
// get no server, or with FlagFallback the next available one, while every
// other client keeps its server.
type maglev struct {
	flags Flags
	size  uint32
	tab   atomic.Pointer[[]*Dest]
}

func newMaglev(flags Flags, o Options) (Scheduler, error) {
	size := o.MHTableSize
	if size == 0 {
		size = 4093
	}
	ok := false
	for _, p := range mhPrimes {
		ok = ok || p == size
	}
	if !ok {
		return nil, fmt.Errorf("create scheduler mh: table size %d is not one of %v: %w", size, mhPrimes, ErrUnknown)
	}
	return &maglev{flags: flags, size: uint32(size)}, nil
}

func mhHashKey(addr uint32, port uint16, key uint64, offset uint32) uint32 {
	return hsiphash32(offset+uint32(port)+addr, key, key)
}

func (s *maglev) Update(dests []*Dest) {
	t := make([]*Dest, s.size)
	defer s.tab.Store(&t)
	addrs := make([]netip.AddrPort, len(dests))
	weights := make([]int32, len(dests))
	for i, d := range dests {
		addrs[i], weights[i] = d.Addr, d.lastWeight.Load()
	}
	for slot, i := range populateMaglev(addrs, weights, s.size) {
		if i >= 0 {
			t[slot] = dests[i]
		}
	}
}

// MaglevTable returns mh's lookup table for real servers with the given
// addresses and weights, in this order: for each of size slots the index
// of its server, or -1 when no server has a non-zero weight. size must be
// a prime (the kernel allows those of its list; 65537 is the Maglev
// paper's). The table depends on the order of the servers only where two
// claim the same slot in the same round, so callers that want the same
// table everywhere pass the servers sorted.
func MaglevTable(addrs []netip.AddrPort, weights []int, size int) ([]int, error) {
	if len(addrs) != len(weights) {
		return nil, fmt.Errorf("maglev table: %d addresses, %d weights", len(addrs), len(weights))
	}
	if size < 2 || size > 1<<20 || !isPrime(size) {
		return nil, fmt.Errorf("maglev table: size %d is not a prime up to 2^20: %w", size, ErrUnknown)
	}
	w := make([]int32, len(weights))
	for i, x := range weights {
		w[i] = clampWeight(x)
	}
	return populateMaglev(addrs, w, uint32(size)), nil
}

func isPrime(n int) bool {
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return n >= 2
}

// populateMaglev fills a Maglev table of size slots: each server with a
// non-zero weight walks its own permutation (offset and skip from two
// keyed hashes of its address and port) and claims free slots, weight/gcd
// turns at a time. It returns each slot's server index, -1 for none.
func populateMaglev(addrs []netip.AddrPort, weights []int32, size uint32) []int {
	t := make([]int, size)
	for i := range t {
		t[i] = -1
	}
	var g int32
	var maxW int32
	for _, w := range weights {
		if w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
		maxW = max(maxW, w)
	}
	if g < 1 || len(addrs) > int(size) {
		return t
	}
	shift := bits.Len32(uint32(maxW/g)) - mhTabBits
	if shift < 0 {
		shift = 0
	}
	type setup struct {
		perm, skip uint32
		turns      int32
	}
	ds := make([]setup, len(addrs))
	for i, ap := range addrs {
		a, p := addrFold(ap.Addr()), ap.Port()
		off := mhHashKey(a, p, mhKey1, 0) % size
		ds[i] = setup{
			perm: off,
			skip: mhHashKey(a, p, mhKey2, 0)%(size-1) + 1,
		}
		lw := weights[i]
		ds[i].turns = (lw / g) >> shift
		if ds[i].turns == 0 && lw != 0 {
			ds[i].turns = 1
		}
	}
	taken := make([]bool, size)
	n := uint32(0)
	for n < size {
		for i := 0; i < len(addrs); i++ {
			if ds[i].turns < 1 {
				continue
			}
			for turn := int32(0); turn < ds[i].turns; turn++ {
				c := ds[i].perm
				for taken[c] {
					ds[i].perm += ds[i].skip
					if ds[i].perm >= size {
						ds[i].perm -= size
					}
					c = ds[i].perm
				}
				taken[c] = true
				t[c] = i
				if n++; n == size {
					return t
				}
			}
		}
	}
	return t
}

func (s *maglev) Pick(f Flow) *Dest {
	p := s.tab.Load()
	if p == nil {
		return nil
	}
	t := *p
	addr := addrFold(f.Src.Addr())
	var port uint16
	if s.flags&FlagPort != 0 {
		port = f.Src.Port()
	}
	ihash := mhHashKey(addr, port, mhKey1, 0) % s.size
	d := t[ihash]
	if d == nil {
		return nil
	}
	if d.usable() {
		return d
	}
	if s.flags&FlagFallback == 0 {
		return nil
	}
	for offset := uint32(0); offset < s.size; offset++ {
		d = t[mhHashKey(addr, port, mhKey1, (offset+ihash)%s.size)%s.size]
		if d == nil {
			return nil
		}
		if d.usable() {
			return d
		}
	}
	return nil
}

// sipRound is one SipHash round.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// SipHash initialisation constants ("somepseudorandomlygeneratedbytes").
const (
	sipC0 = 0x736f6d6570736575
	sipC1 = 0x646f72616e646f6d
	sipC2 = 0x6c7967656e657261
	sipC3 = 0x7465646279746573
)

// hsiphash32 is the kernel's hsiphash on 64-bit machines (SipHash-1-3,
// output truncated to 32 bits) of one 32-bit little-endian word.
func hsiphash32(v uint32, k0, k1 uint64) uint32 {
	v0, v1, v2, v3 := sipC0^k0, sipC1^k1, sipC2^k0, sipC3^k1
	b := uint64(4)<<56 | uint64(v)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}
