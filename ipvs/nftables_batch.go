package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// How a transaction reaches the kernel. The backend encodes its objects
// straight into one nfnetlink batch and sends it with one sendmsg; the
// kernel checks, applies and commits it (or aborts it whole) before that
// call returns, and queues its answers. Only the last message asks for an
// acknowledgement: errors come back in any case, each naming the sequence
// number of the message it refuses, and the acknowledgement of the last
// one, which the kernel sends after the commit, tells the reader it has
// seen them all. google/nftables' Conn.Flush asks for an acknowledgement of
// every message and for an echo of every rule, which for a table of
// thousands of services costs more than the objects themselves: its
// encoding (expr.Marshal) is used here, its batching is not.
//
// Consecutive element messages for the same map are merged, up to the
// 64 KiB an attribute can hold, so that a map's elements travel in a few
// messages whatever the number of services they belong to. The batch
// carries the ruleset generation the backend planned from: if anyone
// committed in between, the kernel refuses the batch with ERESTART and
// the backend reads the table again.

// nftBatch is one transaction being encoded. It implements nftWriter.
type nftBatch struct {
	b     []byte
	first uint32   // sequence number of the first message after the begin
	what  []string // what each message does, by sequence number - first
	elems elemRun  // the element message being filled, if open
	err   error    // the first encoding error
	setID uint32   // the last set's id in this batch
}

// elemRun is an element message that later elements for the same map may
// join.
type elemRun struct {
	open  bool
	typ   uint16
	fam   nftables.TableFamily
	table string
	set   string
	msg   int // offset of its header in b
	list  int // offset of its element list attribute
	n     int // elements in it
}

// maxAttr is the most an attribute's 16-bit length can hold.
const maxAttr = 0xffff

var _ nftWriter = (*nftBatch)(nil)

// newNFTBatch starts a batch whose messages are numbered from seq on. A
// non-zero genID makes the kernel refuse the batch (ERESTART) unless the
// ruleset is still at that generation.
func newNFTBatch(seq, genID uint32) *nftBatch {
	w := &nftBatch{first: seq + 1}
	h := w.header(unix.NFNL_MSG_BATCH_BEGIN, unix.AF_UNSPEC, unix.NLM_F_REQUEST, seq)
	binary.BigEndian.PutUint16(w.b[h+18:], unix.NFNL_SUBSYS_NFTABLES)
	if genID != 0 {
		w.b = appendAttr(w.b, unix.NFNL_BATCH_GENID, binary.BigEndian.AppendUint32(nil, genID))
	}
	w.finish(h)
	return w
}

// header appends a netlink header and the nfgenmsg after it, returning
// the header's offset; finish sets the length once the message is whole.
func (w *nftBatch) header(typ uint16, fam byte, flags uint16, seq uint32) int {
	off := len(w.b)
	w.b = binary.NativeEndian.AppendUint32(w.b, 0)
	w.b = binary.NativeEndian.AppendUint16(w.b, typ)
	w.b = binary.NativeEndian.AppendUint16(w.b, flags)
	w.b = binary.NativeEndian.AppendUint32(w.b, seq)
	w.b = binary.NativeEndian.AppendUint32(w.b, 0)
	w.b = append(w.b, fam, unix.NFNETLINK_V0, 0, 0)
	return off
}

func (w *nftBatch) finish(off int) {
	binary.NativeEndian.PutUint32(w.b[off:], uint32(len(w.b)-off))
}

// begin starts an nf_tables message that does what.
func (w *nftBatch) begin(msg uint16, fam nftables.TableFamily, flags uint16, what string) int {
	w.closeElems()
	seq := w.first + uint32(len(w.what))
	w.what = append(w.what, what)
	return w.header(unix.NFNL_SUBSYS_NFTABLES<<8|msg, byte(fam), unix.NLM_F_REQUEST|flags, seq)
}

// appendAttr appends a netlink attribute, padded to 4 bytes.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendStr(b []byte, typ uint16, s string) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(s)+1))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, s...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendU32(b []byte, typ uint16, v uint32) []byte {
	return appendAttr(b, typ, binary.BigEndian.AppendUint32(nil, v))
}

// nest opens a nested attribute; unnest closes it.
func nest(b []byte, typ uint16) ([]byte, int) {
	off := len(b)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint16(b, typ|unix.NLA_F_NESTED)
	return b, off
}

func unnest(b []byte, off int) []byte {
	binary.NativeEndian.PutUint16(b[off:], uint16(len(b)-off))
	return b
}

func (w *nftBatch) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *nftBatch) AddTable(t *nftables.Table) {
	h := w.begin(unix.NFT_MSG_NEWTABLE, t.Family, unix.NLM_F_CREATE, "add table "+t.Name)
	w.b = appendStr(w.b, unix.NFTA_TABLE_NAME, t.Name)
	w.b = appendU32(w.b, unix.NFTA_TABLE_FLAGS, 0)
	w.finish(h)
}

// DelTable deletes a table and everything in it.
func (w *nftBatch) DelTable(t *nftables.Table) {
	h := w.begin(unix.NFT_MSG_DELTABLE, t.Family, 0, "delete table "+t.Name)
	w.b = appendStr(w.b, unix.NFTA_TABLE_NAME, t.Name)
	w.finish(h)
}

func (w *nftBatch) AddChain(c *nftables.Chain) {
	h := w.begin(unix.NFT_MSG_NEWCHAIN, c.Table.Family, unix.NLM_F_CREATE, "add chain "+c.Name)
	w.b = appendStr(w.b, unix.NFTA_CHAIN_TABLE, c.Table.Name)
	w.b = appendStr(w.b, unix.NFTA_CHAIN_NAME, c.Name)
	if c.Hooknum != nil && c.Priority != nil {
		var hook int
		w.b, hook = nest(w.b, unix.NFTA_CHAIN_HOOK)
		w.b = appendU32(w.b, unix.NFTA_HOOK_HOOKNUM, uint32(*c.Hooknum))
		w.b = appendU32(w.b, unix.NFTA_HOOK_PRIORITY, uint32(*c.Priority))
		w.b = unnest(w.b, hook)
	}
	if c.Policy != nil {
		w.b = appendU32(w.b, unix.NFTA_CHAIN_POLICY, uint32(*c.Policy))
	}
	if c.Type != "" {
		w.b = appendStr(w.b, unix.NFTA_CHAIN_TYPE, string(c.Type))
	}
	w.finish(h)
}

// FlushChain deletes the chain's rules: a rule deletion naming the chain
// and no rule. (Its attributes are the rule's: a rule deletion naming no
// chain empties every chain of the table.)
func (w *nftBatch) FlushChain(c *nftables.Chain) {
	w.named(unix.NFT_MSG_DELRULE, c.Table, "flush chain", unix.NFTA_RULE_TABLE, unix.NFTA_RULE_CHAIN, c.Name)
}

func (w *nftBatch) DelChain(c *nftables.Chain) {
	w.named(unix.NFT_MSG_DELCHAIN, c.Table, "delete chain", unix.NFTA_CHAIN_TABLE, unix.NFTA_CHAIN_NAME, c.Name)
}

// named appends a message whose only attributes are a table's name and
// an object's, of the attribute types the message wants.
func (w *nftBatch) named(msg uint16, t *nftables.Table, what string, tableAttr, nameAttr uint16, name string) {
	h := w.begin(msg, t.Family, 0, what+" "+name)
	w.b = appendStr(w.b, tableAttr, t.Name)
	w.b = appendStr(w.b, nameAttr, name)
	w.finish(h)
}

func (w *nftBatch) AddRule(r *nftables.Rule) {
	h := w.begin(unix.NFT_MSG_NEWRULE, r.Table.Family, unix.NLM_F_CREATE|unix.NLM_F_APPEND, "add a rule to chain "+r.Chain.Name)
	w.b = appendStr(w.b, unix.NFTA_RULE_TABLE, r.Table.Name)
	w.b = appendStr(w.b, unix.NFTA_RULE_CHAIN, r.Chain.Name)
	var list int
	w.b, list = nest(w.b, unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range r.Exprs {
		data, err := expr.Marshal(byte(r.Table.Family), e)
		if err != nil {
			w.fail(fmt.Errorf("encode a rule of chain %s: %w", r.Chain.Name, err))
			continue
		}
		w.b = appendAttr(w.b, unix.NFTA_LIST_ELEM|unix.NLA_F_NESTED, data)
	}
	w.b = unnest(w.b, list)
	w.finish(h)
}

// Set flags google/nftables names but x/sys does not.
const (
	nftSetConcat = 0x80 // NFT_SET_CONCAT
	nftaSetExpr  = 0x11 // NFTA_SET_EXPR
	nftaFieldLen = 1    // NFTA_SET_FIELD_LEN
)

func (w *nftBatch) AddSet(s *nftables.Set, elems []nftables.SetElement) error {
	kind := "set"
	if s.IsMap {
		kind = "map"
	}
	h := w.begin(unix.NFT_MSG_NEWSET, s.Table.Family, unix.NLM_F_CREATE, "add "+kind+" "+s.Name)
	var flags uint32
	for _, f := range []struct {
		on  bool
		bit uint32
	}{{s.Constant, unix.NFT_SET_CONSTANT}, {s.Interval, unix.NFT_SET_INTERVAL}, {s.IsMap, unix.NFT_SET_MAP},
		{s.HasTimeout, unix.NFT_SET_TIMEOUT}, {s.Dynamic, unix.NFT_SET_EVAL}, {s.Concatenation, nftSetConcat}} {
		if f.on {
			flags |= f.bit
		}
	}
	w.b = appendStr(w.b, unix.NFTA_SET_TABLE, s.Table.Name)
	w.b = appendStr(w.b, unix.NFTA_SET_NAME, s.Name)
	w.b = appendU32(w.b, unix.NFTA_SET_FLAGS, flags)
	w.b = appendU32(w.b, unix.NFTA_SET_KEY_TYPE, s.KeyType.GetNFTMagic())
	w.b = appendU32(w.b, unix.NFTA_SET_KEY_LEN, s.KeyType.Bytes)
	w.setID++ // the kernel wants one, to name a set of this batch without its name
	w.b = appendU32(w.b, unix.NFTA_SET_ID, w.setID)
	if s.IsMap {
		dt := s.DataType.GetNFTMagic()
		if s.DataType == nftables.TypeVerdict {
			dt = unix.NFT_DATA_VERDICT
		}
		w.b = appendU32(w.b, unix.NFTA_SET_DATA_TYPE, dt)
		w.b = appendU32(w.b, unix.NFTA_SET_DATA_LEN, s.DataType.Bytes)
	}
	if s.Size > 0 || s.Concatenation {
		var desc int
		w.b, desc = nest(w.b, unix.NFTA_SET_DESC)
		if s.Size > 0 {
			w.b = appendU32(w.b, unix.NFTA_SET_DESC_SIZE, s.Size)
		}
		if s.Concatenation {
			var concat int
			w.b, concat = nest(w.b, nftables.NFTA_SET_DESC_CONCAT)
			for _, t := range nftables.ConcatSetTypeElements(s.KeyType) {
				var field int
				w.b, field = nest(w.b, unix.NFTA_LIST_ELEM)
				w.b = appendU32(w.b, nftaFieldLen, t.Bytes)
				w.b = unnest(w.b, field)
			}
			w.b = unnest(w.b, concat)
		}
		w.b = unnest(w.b, desc)
	}
	if s.Interval {
		// What nft writes, so that it prints the keys as it would its own.
		w.b = appendAttr(w.b, unix.NFTA_SET_USERDATA, userdata.AppendUint32(nil, userdata.NFTNL_UDATA_SET_KEYBYTEORDER, 2))
	}
	if s.Counter {
		var e int
		w.b, e = nest(w.b, nftaSetExpr)
		w.b = appendStr(w.b, unix.NFTA_EXPR_NAME, "counter")
		w.b = unnest(w.b, e)
	}
	w.finish(h)
	return w.AddElements(s, elems)
}

func (w *nftBatch) DelSet(s *nftables.Set) {
	w.named(unix.NFT_MSG_DELSET, s.Table, "delete set", unix.NFTA_SET_TABLE, unix.NFTA_SET_NAME, s.Name)
}

// FlushSet deletes every element of s (an element deletion naming none).
func (w *nftBatch) FlushSet(s *nftables.Set) {
	w.named(unix.NFT_MSG_DELSETELEM, s.Table, "flush set", unix.NFTA_SET_ELEM_LIST_TABLE, unix.NFTA_SET_ELEM_LIST_SET, s.Name)
}

func (w *nftBatch) AddElements(s *nftables.Set, elems []nftables.SetElement) error {
	return w.elements(unix.NFT_MSG_NEWSETELEM, s, elems)
}

func (w *nftBatch) DelElements(s *nftables.Set, elems []nftables.SetElement) error {
	return w.elements(unix.NFT_MSG_DELSETELEM, s, elems)
}

// elements appends elems to the open element message when it is for the
// same map and operation and has room, else to new ones.
func (w *nftBatch) elements(typ uint16, s *nftables.Set, elems []nftables.SetElement) error {
	var one []byte
	for i := range elems {
		one = appendElement(one[:0], &elems[i], s.HasTimeout)
		if len(one) > maxAttr-64 {
			return fmt.Errorf("element of %s: %d bytes, too long for a message", s.Name, len(one))
		}
		r := &w.elems
		if !r.open || r.typ != typ || r.fam != s.Table.Family || r.table != s.Table.Name || r.set != s.Name ||
			len(w.b)-r.list+len(one) > maxAttr {
			w.openElems(typ, s)
		}
		w.b = append(w.b, one...)
		r.n++
	}
	return nil
}

func (w *nftBatch) openElems(typ uint16, s *nftables.Set) {
	verb := "add elements to "
	if typ == unix.NFT_MSG_DELSETELEM {
		verb = "delete elements of "
	}
	flags := uint16(0)
	if typ == unix.NFT_MSG_NEWSETELEM {
		flags = unix.NLM_F_CREATE
	}
	h := w.begin(typ, s.Table.Family, flags, verb+s.Name)
	w.b = appendStr(w.b, unix.NFTA_SET_ELEM_LIST_TABLE, s.Table.Name)
	w.b = appendStr(w.b, unix.NFTA_SET_ELEM_LIST_SET, s.Name)
	var list int
	w.b, list = nest(w.b, unix.NFTA_SET_ELEM_LIST_ELEMENTS)
	w.elems = elemRun{open: true, typ: typ, fam: s.Table.Family, table: s.Table.Name, set: s.Name, msg: h, list: list}
}

// closeElems ends the open element message, if any.
func (w *nftBatch) closeElems() {
	r := &w.elems
	if !r.open {
		return
	}
	w.b = unnest(w.b, r.list)
	w.finish(r.msg)
	if r.n > 1 {
		w.what[len(w.what)-1] = fmt.Sprintf("%s (%d)", w.what[len(w.what)-1], r.n)
	}
	*r = elemRun{}
}

// appendElement encodes one element of a set (NFTA_LIST_ELEM).
func appendElement(b []byte, e *nftables.SetElement, timeouts bool) []byte {
	b, el := nest(b, unix.NFTA_LIST_ELEM)
	if e.IntervalEnd {
		b = appendU32(b, unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END)
	}
	var k int
	b, k = nest(b, unix.NFTA_SET_ELEM_KEY)
	b = appendAttr(b, unix.NFTA_DATA_VALUE, e.Key)
	b = unnest(b, k)
	if len(e.KeyEnd) > 0 {
		b, k = nest(b, nftables.NFTA_SET_ELEM_KEY_END)
		b = appendAttr(b, unix.NFTA_DATA_VALUE, e.KeyEnd)
		b = unnest(b, k)
	}
	if timeouts && e.Timeout != 0 {
		b = appendAttr(b, unix.NFTA_SET_ELEM_TIMEOUT, binary.BigEndian.AppendUint64(nil, uint64(e.Timeout.Milliseconds())))
	}
	switch {
	case e.VerdictData != nil:
		var d, v int
		b, d = nest(b, unix.NFTA_SET_ELEM_DATA)
		b, v = nest(b, unix.NFTA_DATA_VERDICT)
		b = appendU32(b, unix.NFTA_VERDICT_CODE, uint32(e.VerdictData.Kind))
		if e.VerdictData.Chain != "" {
			b = appendStr(b, unix.NFTA_VERDICT_CHAIN, e.VerdictData.Chain)
		}
		b = unnest(b, v)
		b = unnest(b, d)
	case len(e.Val) > 0:
		var d int
		b, d = nest(b, unix.NFTA_SET_ELEM_DATA)
		b = appendAttr(b, unix.NFTA_DATA_VALUE, e.Val)
		b = unnest(b, d)
	}
	if e.Comment != "" {
		b = appendAttr(b, unix.NFTA_SET_ELEM_USERDATA, userdata.AppendString(nil, userdata.NFTNL_UDATA_SET_ELEM_COMMENT, e.Comment))
	}
	return unnest(b, el)
}

// bytes closes the batch and returns it whole; the last message asks for
// an acknowledgement. It returns nil when the batch holds no message.
func (w *nftBatch) bytes() ([]byte, error) {
	w.closeElems()
	if w.err != nil {
		return nil, w.err
	}
	if len(w.what) == 0 {
		return nil, nil
	}
	// The last message's flags: find its header by walking the batch.
	last := 0
	for off := 0; off < len(w.b); off += int(binary.NativeEndian.Uint32(w.b[off:])) {
		last = off
	}
	flags := binary.NativeEndian.Uint16(w.b[last+6:])
	binary.NativeEndian.PutUint16(w.b[last+6:], flags|unix.NLM_F_ACK)
	h := w.header(unix.NFNL_MSG_BATCH_END, unix.AF_UNSPEC, unix.NLM_F_REQUEST, w.last()+1)
	binary.BigEndian.PutUint16(w.b[h+18:], unix.NFNL_SUBSYS_NFTABLES)
	w.finish(h)
	return w.b, nil
}

// last is the sequence number of the last message.
func (w *nftBatch) last() uint32 { return w.first + uint32(len(w.what)) - 1 }

// messages is how many nf_tables messages the batch holds.
func (w *nftBatch) messages() int { return len(w.what) }

// nftReply is what the kernel answered to a batch.
type nftReply struct {
	errs []error // the refusals, each naming its message
	done bool    // the last message's acknowledgement arrived
}

// read takes one datagram of answers to the batch.
func (w *nftBatch) read(r *nftReply, data []byte) error {
	for len(data) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(data))
		if l < unix.NLMSG_HDRLEN || l > len(data) {
			return fmt.Errorf("read answer: message of %d bytes in %d", l, len(data))
		}
		typ := binary.NativeEndian.Uint16(data[4:])
		if typ == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4+unix.NLMSG_HDRLEN {
			errno := -int32(binary.NativeEndian.Uint32(data[16:]))
			seq := binary.NativeEndian.Uint32(data[20+8:])
			if errno != 0 {
				r.errs = append(r.errs, w.refusal(seq, syscall.Errno(errno), data[20:l]))
			}
			// The batch's begin is answered only when the kernel
			// refuses the batch whole (a moved generation: ERESTART),
			// without a word on the messages in it.
			if seq == w.last() || seq == w.first-1 && errno != 0 {
				r.done = true
			}
		}
		data = data[nlmAlign(l):]
	}
	return nil
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }

// refusal names the message seq in an error from the kernel, with the
// kernel's extended message when it sent one.
func (w *nftBatch) refusal(seq uint32, errno syscall.Errno, rest []byte) error {
	what := "the transaction"
	if seq >= w.first && seq <= w.last() {
		what = w.what[seq-w.first]
	}
	if msg := extAckMessage(rest); msg != "" {
		return fmt.Errorf("%s: %w (%s)", what, errno, msg)
	}
	return fmt.Errorf("%s: %w", what, errno)
}

// extAckMessage returns NLMSGERR_ATTR_MSG from an error's trailing
// attributes (after the original header; the request's payload is not
// echoed: the socket has NETLINK_CAP_ACK).
func extAckMessage(rest []byte) string {
	if len(rest) < unix.NLMSG_HDRLEN {
		return ""
	}
	a := rest[unix.NLMSG_HDRLEN:]
	for len(a) >= 4 {
		l := int(binary.NativeEndian.Uint16(a))
		if l < 4 || l > len(a) {
			return ""
		}
		if binary.NativeEndian.Uint16(a[2:])&^unix.NLA_F_NESTED == unix.NLMSGERR_ATTR_MSG {
			return strings.TrimRight(string(a[4:l]), "\x00")
		}
		a = a[nlmAlign(l):]
	}
	return ""
}

// restarted says whether err is the kernel's refusal of a batch planned
// from an older generation.
func restarted(err error) bool { return errors.Is(err, unix.ERESTART) }
