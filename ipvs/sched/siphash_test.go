package sched

import (
	"encoding/binary"
	"testing"
)

// sipHash is a generic SipHash-c-d over the same round and constants as
// hsiphash32, for checking them against published vectors.
func sipHash(c, d int, k0, k1 uint64, msg []byte) uint64 {
	v0, v1, v2, v3 := sipC0^k0, sipC1^k1, sipC2^k0, sipC3^k1
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		for range c {
			v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		}
		v0 ^= m
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	b := uint64(n)<<56 | binary.LittleEndian.Uint64(last[:])
	v3 ^= b
	for range c {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	v0 ^= b
	v2 ^= 0xff
	for range d {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func TestSipHashVector(t *testing.T) {
	// The SipHash paper's example (appendix A): key 00..0f, message 00..0e.
	key := make([]byte, 16)
	msg := make([]byte, 15)
	for i := range key {
		key[i] = byte(i)
	}
	for i := range msg {
		msg[i] = byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key), binary.LittleEndian.Uint64(key[8:])
	if got := sipHash(2, 4, k0, k1, msg); got != 0xa129ca6149be45e5 {
		t.Errorf("SipHash-2-4 = %#x, want 0xa129ca6149be45e5", got)
	}
	// hsiphash32 is SipHash-1-3 of a 4-byte message, truncated.
	for _, v := range []uint32{0, 1, 0xc0a80001, 0xffffffff} {
		var m [4]byte
		binary.LittleEndian.PutUint32(m[:], v)
		if got, want := hsiphash32(v, mhKey1, mhKey1), uint32(sipHash(1, 3, mhKey1, mhKey1, m[:])); got != want {
			t.Errorf("hsiphash32(%#x) = %#x, SipHash-1-3 says %#x", v, got, want)
		}
	}
}
