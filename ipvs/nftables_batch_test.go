package ipvs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// nlMsg is one message of an encoded batch.
type nlMsg struct {
	typ, flags uint16
	seq        uint32
	attrs      map[uint16][]byte // top-level attributes after the nfgenmsg
}

func splitBatch(t *testing.T, b []byte) []nlMsg {
	t.Helper()
	var out []nlMsg
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN+4 {
			t.Fatalf("%d bytes left, less than a header", len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN+4 || l > len(b) || l%4 != 0 {
			t.Fatalf("message of %d bytes in %d", l, len(b))
		}
		m := nlMsg{typ: binary.NativeEndian.Uint16(b[4:]), flags: binary.NativeEndian.Uint16(b[6:]),
			seq: binary.NativeEndian.Uint32(b[8:]), attrs: map[uint16][]byte{}}
		for a := b[unix.NLMSG_HDRLEN+4 : l]; len(a) > 0; {
			al := int(binary.NativeEndian.Uint16(a))
			if al < 4 || al > len(a) {
				t.Fatalf("attribute of %d bytes in %d", al, len(a))
			}
			m.attrs[binary.NativeEndian.Uint16(a[2:])&^unix.NLA_F_NESTED] = a[4:al]
			a = a[nlmAlign(al):]
		}
		out = append(out, m)
		b = b[l:]
	}
	return out
}

// TestNFTBatchTable: a table of 1,000 NAT services x 10 destinations
// encodes as one batch, begin and end around messages numbered one by
// one, only the last asking for an acknowledgement; each shared map's
// elements travel in as few messages as 64 KiB attributes allow, after
// every rule.
func TestNFTBatchTable(t *testing.T) {
	var want []Service
	for i := range 1000 {
		s := Service{Protocol: TCP, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}), Port: 80, Scheduler: "wrr"}
		for j := range 10 {
			s.Destinations = append(s.Destinations, Destination{Addr: netip.AddrFrom4([4]byte{10, 2, byte(i / 25), byte((i%25)*10 + j + 1)}),
				Port: 8080, Weight: int32(j%3 + 1), Forward: Masquerade})
		}
		want = append(want, s)
	}
	cur := &nftState{svcs: map[ServiceKey]*nftSvc{}, base: map[Family]bool{}}
	next, changed, err := planNFT(cur, Diff(nil, want))
	if err != nil {
		t.Fatal(err)
	}
	w := newNFTBatch(41, 7)
	if err := writeChanges(w, cur, next, changed, 1<<16, defaultNFTTimeouts); err != nil {
		t.Fatal(err)
	}
	b, err := w.bytes()
	if err != nil {
		t.Fatal(err)
	}
	msgs := splitBatch(t, b)
	if first, last := msgs[0], msgs[len(msgs)-1]; first.typ != unix.NFNL_MSG_BATCH_BEGIN || last.typ != unix.NFNL_MSG_BATCH_END {
		t.Fatalf("batch from message type %d to %d, want begin and end", first.typ, last.typ)
	}
	if g := msgs[0].attrs[unix.NFNL_BATCH_GENID]; len(g) != 4 || binary.BigEndian.Uint32(g) != 7 {
		t.Errorf("begin's generation %x, want 7", g)
	}
	body := msgs[1 : len(msgs)-1]
	if len(body) != w.messages() {
		t.Fatalf("%d messages in the batch, the writer counted %d", len(body), w.messages())
	}
	elemMsgs := map[string]int{}
	lastRule, firstElem := -1, len(body)
	for i, m := range body {
		if m.seq != 42+uint32(i) {
			t.Fatalf("message %d numbered %d, want %d", i, m.seq, 42+i)
		}
		if ack := m.flags&unix.NLM_F_ACK != 0; ack != (i == len(body)-1) {
			t.Errorf("message %d of %d asks for an acknowledgement: %v", i, len(body), ack)
		}
		switch m.typ & 0xff {
		case unix.NFT_MSG_NEWRULE:
			lastRule = i
		case unix.NFT_MSG_NEWSETELEM:
			firstElem = min(firstElem, i)
			if set := strings.TrimRight(string(m.attrs[unix.NFTA_SET_ELEM_LIST_SET]), "\x00"); !strings.HasPrefix(set, "sch_") {
				elemMsgs[set]++
			}
		}
	}
	if lastRule > firstElem {
		t.Errorf("an element message (%d) before the last rule (%d)", firstElem, lastRule)
	}
	// dests: 10,000 elements of about 40 bytes; dinfo's carry comments.
	for set, most := range map[string]int{setDests: 8, setNATIn: 8, setNATOut: 8, setSvcNAT: 2} {
		if n := elemMsgs[set]; n == 0 || n > most {
			t.Errorf("%s's elements in %d messages, want 1 to %d", set, n, most)
		}
	}
	t.Logf("%d messages, %d bytes, element messages per shared map %v", len(body), len(b), elemMsgs)
}

// TestNFTBatchNamesRefusal: the kernel's refusal of a message names what
// the message did, with the kernel's extended message; the last
// message's acknowledgement ends the reading.
func TestNFTBatchNamesRefusal(t *testing.T) {
	tab := &nftables.Table{Name: nftTableName, Family: nftables.TableFamilyIPv4}
	w := newNFTBatch(9, 0)
	w.AddTable(tab)
	w.FlushChain(&nftables.Chain{Name: "svc_1", Table: tab})
	if _, err := w.bytes(); err != nil {
		t.Fatal(err)
	}
	answer := func(seq uint32, errno int32, msg string) []byte {
		var ext []byte
		if msg != "" {
			ext = appendStr(nil, unix.NLMSGERR_ATTR_MSG, msg)
		}
		b := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+4+unix.NLMSG_HDRLEN+len(ext)))
		b = binary.NativeEndian.AppendUint16(b, unix.NLMSG_ERROR)
		b = binary.NativeEndian.AppendUint16(b, 0)
		b = binary.NativeEndian.AppendUint32(b, seq)
		b = binary.NativeEndian.AppendUint32(b, 0)
		b = binary.NativeEndian.AppendUint32(b, uint32(errno))
		b = binary.NativeEndian.AppendUint32(b, unix.NLMSG_HDRLEN) // the request's header
		b = append(b, make([]byte, 4)...)
		b = binary.NativeEndian.AppendUint32(b, seq)
		b = append(b, make([]byte, 4)...)
		return append(b, ext...)
	}
	var r nftReply
	if err := w.read(&r, answer(11, -int32(syscall.ENOENT), "No such file or directory")); err != nil {
		t.Fatal(err)
	}
	if !r.done || len(r.errs) != 1 {
		t.Fatalf("after the refusal of the last message: done %v, %d errors", r.done, len(r.errs))
	}
	if err := r.errs[0]; !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "flush chain svc_1") {
		t.Errorf("refusal %q, want ENOENT naming flush chain svc_1", err)
	}
	// A batch refused whole (the generation moved on) is answered at its
	// begin only.
	r = nftReply{}
	if err := w.read(&r, answer(9, -int32(syscall.ERESTART), "")); err != nil {
		t.Fatal(err)
	}
	if !r.done || len(r.errs) != 1 || !restarted(r.errs[0]) {
		t.Errorf("after the refusal of the begin: done %v, errors %v; want done, ERESTART", r.done, r.errs)
	}
	// A rule deletion naming no chain would empty the table's every chain.
	msgs := splitBatch(t, w.b)
	flush := msgs[2]
	if string(flush.attrs[unix.NFTA_RULE_CHAIN]) != "svc_1\x00" || flush.attrs[unix.NFTA_RULE_HANDLE] != nil {
		t.Errorf("flush chain's attributes %v, want the chain as NFTA_RULE_CHAIN and no handle", flush.attrs)
	}
}
