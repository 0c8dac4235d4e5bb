package ipvs

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// How the nftables backend keeps the model in the kernel. Every service has
// a 32-bit id (sid) and every destination an id within its service (did),
// hashes of their keys (probed past collisions) so that they stay the same
// for as long as the object exists: the flow and persistence maps refer to
// them. A service's attributes are the comment of its element in the
// dispatch map; a destination's address and port are its element's data in
// the dests map (whose per-element counter counts it), its weight and
// forwarding method the comment of its element in the dinfo set. Dump
// reads these back, so it returns what Apply wrote, from the kernel.

// nftComment is the comment prefix of every element lvskit writes.
const nftCommentVersion = "lvskit1"

// nftServiceAttrs are the parts of a Service that its dispatch element's
// comment carries.
type nftServiceAttrs struct {
	sid     uint32
	sched   string
	flags   ServiceFlags
	persist time.Duration
	bits    int
}

func (a nftServiceAttrs) comment() string {
	return fmt.Sprintf("%s sid=%08x sched=%s flags=%#x persist=%d bits=%d", nftCommentVersion,
		a.sid, a.sched, uint32(a.flags), int64(a.persist/time.Second), a.bits)
}

// parseComment splits "lvskit1 k=v k=v" into its fields.
func parseComment(c string) (map[string]string, error) {
	f := strings.Fields(c)
	if len(f) == 0 || f[0] != nftCommentVersion {
		return nil, fmt.Errorf("comment %q: not written by lvskit", c)
	}
	out := make(map[string]string, len(f)-1)
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("comment %q: field %q has no value", c, kv)
		}
		out[k] = v
	}
	return out, nil
}

func parseServiceComment(c string) (nftServiceAttrs, error) {
	m, err := parseComment(c)
	if err != nil {
		return nftServiceAttrs{}, err
	}
	var a nftServiceAttrs
	sid, err1 := strconv.ParseUint(m["sid"], 16, 32)
	flags, err2 := strconv.ParseUint(m["flags"], 0, 32)
	persist, err3 := strconv.ParseInt(m["persist"], 10, 64)
	bits, err4 := strconv.Atoi(m["bits"])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return nftServiceAttrs{}, fmt.Errorf("service comment %q: %w", c, err)
		}
	}
	if m["sched"] == "" {
		return nftServiceAttrs{}, fmt.Errorf("service comment %q: no scheduler", c)
	}
	a.sid, a.sched, a.flags, a.persist, a.bits = uint32(sid), m["sched"], ServiceFlags(flags), time.Duration(persist)*time.Second, bits
	return a, nil
}

func destComment(d *Destination) string {
	return fmt.Sprintf("%s w=%d fwd=%s", nftCommentVersion, d.Weight, d.Forward)
}

func parseDestComment(c string) (weight int32, fwd Forward, err error) {
	m, err := parseComment(c)
	if err != nil {
		return 0, 0, err
	}
	w, err := strconv.ParseInt(m["w"], 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("destination comment %q: %w", c, err)
	}
	switch m["fwd"] {
	case "nat":
		fwd = Masquerade
	case "dr":
		fwd = DirectRoute
	default:
		return 0, 0, fmt.Errorf("destination comment %q: forwarding %q", c, m["fwd"])
	}
	return int32(w), fwd, nil
}

// nftID hashes a key to an id; zero is avoided so that an id is never
// confused with an empty register.
func nftID(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	if v := h.Sum32(); v != 0 {
		return v
	}
	return 1
}

// freeID returns the first id from nftID(key) on that taken does not hold.
func freeID(key string, taken func(uint32) bool) uint32 {
	id := nftID(key)
	for taken(id) || id == 0 {
		id++
	}
	return id
}

// Byte layouts of keys and data as they sit in nftables registers: each
// field of a concatenation padded to 4 bytes, ids and ports big-endian as
// the packet has them (ids are only compared with themselves).

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func padPort(p uint16) []byte { return []byte{byte(p >> 8), byte(p), 0, 0} }

func padProto(p Protocol) []byte { return []byte{byte(p), 0, 0, 0} }

func addrBytes(a netip.Addr) []byte {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}

func idPair(sid, did uint32) []byte { return append(be32(sid), be32(did)...) }

func splitIDPair(b []byte) (sid, did uint32, ok bool) {
	if len(b) != 8 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), true
}

// addrPortData is a dests element's data: address, then port padded.
func addrPortData(a netip.Addr, port uint16) []byte { return append(addrBytes(a), padPort(port)...) }

func parseAddrPortData(b []byte, fam Family) (netip.Addr, uint16, bool) {
	n := 4
	if fam == Inet6 {
		n = 16
	}
	if len(b) != n+4 {
		return netip.Addr{}, 0, false
	}
	a, ok := netip.AddrFromSlice(b[:n])
	return a, binary.BigEndian.Uint16(b[n:]), ok
}
