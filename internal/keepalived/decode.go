package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decoder turns the statement tree into a typed Config. Every keyword is
// handled by a function from a per-block table; a keyword missing from the
// table is unknown (a warning, as keepalived logs and skips it), one in the
// block's "ignored" set is known but not implemented (a warning too).
type decoder struct {
	*diags
	cfg *Config
	// spill is what a block handed back to the one enclosing it: the
	// statements after a '}' that ended it early, or the lines of a block
	// keepalived does not open (see decodeBlock).
	spill []*node
}

type kwFunc func(n *node)

type table map[string]kwFunc

// decodeBlock runs the handlers of t over the children of n the way
// keepalived's reader walks a block. keepalived logs an unknown keyword
// and skips its line, but it does not skip a block after it: it ignores
// the '{', reads the lines inside as lines of n, and the '}' that closed
// them closes n. What followed in n then belongs to the block enclosing
// n, and n's own '}' closes that one, and so on up to the top level,
// where keepalived ignores a '}'. decodeBlock does the same: it reads the
// unknown block's lines here, and a '}' of such a block (a closer node)
// ends n early and hands the rest to the enclosing decodeBlock (spill).
func (d *decoder) decodeBlock(ctx string, n *node, t table, ignored map[string]bool) {
	queue := slices.Clone(n.children)
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c.closer {
			if ctx == "" {
				d.warnf(c.pos, "}", "%s", strayClose)
				continue
			}
			d.spill = append(queue, closerOf(n)...)
			return
		}
		if f, ok := t[c.name]; ok {
			f(c)
			if d.spill != nil {
				queue = append(d.spill, queue...)
				d.spill = nil
			}
			continue
		}
		if ignored[c.name] {
			d.notImplemented(c.pos, c.name)
			continue
		}
		d.unknown(ctx, c, t, ignored)
		if c.block {
			queue = append(append(slices.Clone(c.children), closerOf(c)...), queue...)
		}
	}
}

// closerOf is the '}' that closed n, as a statement of its own, or
// nothing when the file ended first.
func closerOf(n *node) []*node {
	if !n.end.IsValid() {
		return nil
	}
	return []*node{{closer: true, pos: n.end}}
}

// unopened handles a '{' after a keyword that takes none: keepalived does
// not open it, so its lines are read in the enclosing block and its '}'
// ends that block.
func (d *decoder) unopened(n *node) {
	d.warnf(n.pos, n.name, "%s does not take a { } block: keepalived ignores the '{', reads the lines inside as if outside it, and the '}' ends the enclosing block; so does the director", n.name)
	d.spill = append(slices.Clone(n.children), closerOf(n)...)
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ---- argument checks ----

// plain checks that n has between min and max arguments (max < 0:
// unlimited). A block after it is read as keepalived reads it (unopened).
func (d *decoder) plain(n *node, min, max int) bool {
	if n.block {
		d.unopened(n)
	}
	return d.nargs(n, min, max)
}

// nargs checks the number of arguments of n. Missing ones make keepalived
// ignore the line; extra ones it ignores, and so does nargs (it drops
// them from n, with a warning).
func (d *decoder) nargs(n *node, min, max int) bool {
	if len(n.args) < min {
		if min == 1 {
			d.warnf(n.pos, n.name, "%s: missing argument: the line is ignored, as keepalived does", n.name)
		} else {
			d.warnf(n.pos, n.name, "%s: needs %d arguments, got %d: the line is ignored, as keepalived does", n.name, min, len(n.args))
		}
		return false
	}
	if max >= 0 && len(n.args) > max {
		extra := make([]string, 0, len(n.args)-max)
		for _, a := range n.args[max:] {
			extra = append(extra, a.Text)
		}
		word := "argument"
		if len(extra) > 1 {
			word = "arguments"
		}
		d.warnf(n.args[max].Pos, n.name, "%s: unexpected %s %q ignored, as keepalived does", n.name, word, strings.Join(extra, " "))
		n.args = n.args[:max]
	}
	return true
}

// blockOnly checks that n has a block and at most max arguments.
func (d *decoder) blockOnly(n *node, min, max int) bool {
	if !n.block {
		d.errorf(n.pos, "%s: needs a { } block", n.name)
		return false
	}
	if len(n.args) < min {
		d.errorf(n.pos, "%s: missing argument", n.name)
		return false
	}
	return d.nargs(n, min, max)
}

// ---- value parsers ----

func (d *decoder) parseInt(kw string, t token, min, max int64) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(t.Text), 10, 64)
	if err != nil {
		d.ignoredf(t.Pos, kw, "%s: invalid number %q", kw, t.Text)
		return 0, false
	}
	if v < min || v > max {
		d.ignoredf(t.Pos, kw, "%s: %d is out of range [%d, %d]", kw, v, min, max)
		return 0, false
	}
	return v, true
}

// maxTimer bounds durations: keepalived's timers are far below this.
const maxTimer = 10 * 365 * 24 * time.Hour

func (d *decoder) parseDuration(kw string, t token) (time.Duration, bool) {
	f, err := strconv.ParseFloat(t.Text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(t.Text, "xXpP_") {
		d.ignoredf(t.Pos, kw, "%s: invalid time %q (want seconds, e.g. 1 or 0.5)", kw, t.Text)
		return 0, false
	}
	if f < 0 || f*float64(time.Second) > float64(maxTimer) {
		d.ignoredf(t.Pos, kw, "%s: time %q is out of range", kw, t.Text)
		return 0, false
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, true
}

func (d *decoder) parseBool(kw string, t token) (bool, bool) {
	switch strings.ToLower(t.Text) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	d.ignoredf(t.Pos, kw, "%s: invalid boolean %q (want on|off|true|false|yes|no)", kw, t.Text)
	return false, false
}

func (d *decoder) parseAddr(kw string, t token) (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.Text)
	if err != nil || a.Zone() != "" && !a.Is6() {
		d.ignoredf(t.Pos, kw, "%s: invalid IP address %q", kw, t.Text)
		return netip.Addr{}, false
	}
	return a, true
}

func (d *decoder) parsePort(kw string, t token) (uint16, bool) {
	v, ok := d.parseInt(kw, t, 0, 65535)
	return uint16(v), ok
}

// parsePrefix reads ADDR[/LEN]; an address alone gets a host prefix.
func (d *decoder) parsePrefix(kw string, t token) (netip.Prefix, bool) {
	s := t.Text
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			d.ignoredf(t.Pos, kw, "%s: invalid IP address %q", kw, s)
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.ignoredf(t.Pos, kw, "%s: invalid address/prefix %q", kw, s)
		return netip.Prefix{}, false
	}
	return p, true
}

// ---- handler builders ----

func (d *decoder) str(dst *Value[string]) kwFunc {
	return func(n *node) {
		if d.plain(n, 1, 1) {
			*dst = Value[string]{V: n.args[0].Text, Pos: n.pos}
		}
	}
}

func (d *decoder) integer(dst *Value[int], min, max int64) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if v, ok := d.parseInt(n.name, n.args[0], min, max); ok {
			*dst = Value[int]{V: int(v), Pos: n.pos}
		}
	}
}

func (d *decoder) duration(dst *Value[time.Duration]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if v, ok := d.parseDuration(n.name, n.args[0]); ok {
			*dst = Value[time.Duration]{V: v, Pos: n.pos}
		}
	}
}

// positiveDuration is duration for keepalived's timers whose range starts
// above 0 (vrrp_garp_interval, vrrp_gna_interval, advert_int): 0 is
// invalid, and keepalived keeps the default.
func (d *decoder) positiveDuration(dst *Value[time.Duration]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		v, ok := d.parseDuration(n.name, n.args[0])
		if !ok {
			return
		}
		if v <= 0 {
			d.ignoredf(n.args[0].Pos, n.name, "%s: %s is invalid (it must be above 0)", n.name, n.args[0].Text)
			return
		}
		*dst = Value[time.Duration]{V: v, Pos: n.pos}
	}
}

// flag handles "keyword [BOOL]": alone it means true.
func (d *decoder) flag(dst *Value[bool]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 0, 1) {
			return
		}
		v := true
		if len(n.args) == 1 {
			var ok bool
			if v, ok = d.parseBool(n.name, n.args[0]); !ok {
				return
			}
		}
		*dst = Value[bool]{V: v, Pos: n.pos}
	}
}

// fixed handles a keyword without arguments that sets dst to v.
func (d *decoder) fixed(dst *Value[bool], v bool) kwFunc {
	return func(n *node) {
		if d.plain(n, 0, 0) {
			*dst = Value[bool]{V: v, Pos: n.pos}
		}
	}
}

func (d *decoder) addr(dst *Value[netip.Addr]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if a, ok := d.parseAddr(n.name, n.args[0]); ok {
			*dst = Value[netip.Addr]{V: a, Pos: n.pos}
		}
	}
}

// hostAddr handles an address that keepalived reads as ADDR[/LEN] and
// keeps the address of (unicast_src_ip, mcast_src_ip).
func (d *decoder) hostAddr(dst *Value[netip.Addr]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if a, ok := d.parseHostAddr(n.name, n.args[0]); ok {
			*dst = Value[netip.Addr]{V: a, Pos: n.pos}
		}
	}
}

// parseHostAddr reads an address; keepalived accepts a prefix length
// after it and drops it, with a warning here.
func (d *decoder) parseHostAddr(kw string, t token) (netip.Addr, bool) {
	if i := strings.IndexByte(t.Text, '/'); i >= 0 {
		p, err := netip.ParsePrefix(t.Text)
		if err != nil {
			d.ignoredf(t.Pos, kw, "%s: invalid IP address %q", kw, t.Text)
			return netip.Addr{}, false
		}
		d.warnf(t.Pos, kw, "%s: prefix length dropped from %s: %s, as keepalived does", kw, t.Text, p.Addr())
		return p.Addr(), true
	}
	return d.parseAddr(kw, t)
}

func (d *decoder) port(dst *Value[uint16]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if v, ok := d.parsePort(n.name, n.args[0]); ok {
			*dst = Value[uint16]{V: v, Pos: n.pos}
		}
	}
}

func (d *decoder) uint32v(dst *Value[uint32]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if v, ok := d.parseInt(n.name, n.args[0], 0, math.MaxUint32); ok {
			*dst = Value[uint32]{V: uint32(v), Pos: n.pos}
		}
	}
}

// script handles "keyword SCRIPT [user [group]]".
func (d *decoder) script(dst *Value[Script]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 3) {
			return
		}
		if s, ok := d.parseScript(n); ok {
			*dst = Value[Script]{V: s, Pos: n.pos}
		}
	}
}

func (d *decoder) parseScript(n *node) (Script, bool) {
	raw := n.args[0].Text
	argv, err := splitCommand(raw)
	if err != nil {
		d.errorf(n.args[0].Pos, "%s: %v", n.name, err)
		return Script{}, false
	}
	if len(argv) == 0 {
		d.errorf(n.args[0].Pos, "%s: empty command", n.name)
		return Script{}, false
	}
	s := Script{Raw: raw, Argv: argv}
	if len(n.args) > 1 {
		s.User = n.args[1].Text
	}
	if len(n.args) > 2 {
		s.Group = n.args[2].Text
	}
	return s, true
}

func (d *decoder) user(dst *Value[User]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 2) {
			return
		}
		u := User{User: n.args[0].Text}
		if len(n.args) > 1 {
			u.Group = n.args[1].Text
		}
		*dst = Value[User]{V: u, Pos: n.pos}
	}
}

// splitCommand splits a command line the way keepalived does for scripts
// (alloc_strvec_quoted_escaped): blanks separate words; single and double
// quotes group and may be glued to other text; a backslash escapes,
// inside either kind of quote too, with the escapes of the configuration
// (\n, \t, \xHH, octal \NNN, \cX, ...; any other character stands for
// itself). A backslash at the end or an unterminated quote is an error.
func splitCommand(s string) ([]string, error) {
	var out []string
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		var b strings.Builder
		var quote byte
	word:
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				if i+1 == len(s) {
					return nil, fmt.Errorf("backslash at the end of command %q", s)
				}
				i += 1 + unescapeCommand(s[i+1:], &b)
				continue
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					b.WriteByte(c)
				}
			case c == '\'' || c == '"':
				quote = c
			case isBlank(c):
				break word
			default:
				b.WriteByte(c)
			}
			i++
		}
		if quote != 0 {
			return nil, fmt.Errorf("unterminated %c quote in command %q", quote, s)
		}
		out = append(out, b.String())
	}
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r' || c == '\v'
}

// unescapeCommand decodes one escape of a command line (the text after
// the backslash) as keepalived does: \x takes every hex digit that
// follows; it writes the byte to b and returns how many bytes it used.
func unescapeCommand(s string, b *strings.Builder) int {
	if s[0] == 'x' && len(s) > 1 && isHex(s[1]) {
		var v byte
		n := 1
		for ; n < len(s) && isHex(s[n]); n++ {
			d, _ := strconv.ParseUint(s[n:n+1], 16, 8)
			v = v<<4 | byte(d)
		}
		b.WriteByte(v)
		return n
	}
	return unescape(s, b)
}

// lineTokens returns a list-block line as tokens: its first word and
// arguments.
func lineTokens(l *node) []token {
	return append([]token{{Text: l.name, Pos: l.pos, Quoted: l.quoted}}, l.args...)
}

// eachLine calls line with the words of each line of the list block n
// (a block of one-line entries), refusing blocks nested in it.
func (d *decoder) eachLine(n *node, line func(toks []token)) {
	if !d.blockOnly(n, 0, 0) {
		return
	}
	for _, l := range n.children {
		if l.block {
			d.errorf(l.pos, "%s: unexpected { } block", n.name)
			continue
		}
		line(lineTokens(l))
	}
}

// lineBlock decodes a list block (virtual_routes, virtual_rules,
// track_script, ...) with parse, appending each good entry to dst.
func lineBlock[T any](d *decoder, dst *[]T, parse func(kw string, toks []token) (T, bool)) kwFunc {
	return func(n *node) {
		d.eachLine(n, func(toks []token) {
			if v, ok := parse(n.name, toks); ok {
				*dst = append(*dst, v)
			}
		})
	}
}

// list handles a block whose lines are single words (notification_email,
// sync group "group").
func (d *decoder) list(dst *[]Value[string]) kwFunc {
	return func(n *node) {
		d.eachLine(n, func(toks []token) {
			for _, t := range toks {
				*dst = append(*dst, Value[string]{V: t.Text, Pos: t.Pos})
			}
		})
	}
}

// trackRefs handles track_interface/track_script/track_file blocks:
// lines "NAME [weight N [reverse|noreverse|no_reverse]]".
func (d *decoder) trackRefs(dst *[]TrackRef, min, max int64) kwFunc {
	return lineBlock(d, dst, func(kw string, toks []token) (TrackRef, bool) {
		name, args := toks[0], toks[1:]
		r := TrackRef{Pos: name.Pos, Name: name.Text}
		for i := 0; i < len(args); i++ {
			a := args[i]
			switch a.Text {
			case "weight":
				if i+1 >= len(args) {
					d.ignoredf(a.Pos, kw, "%s: weight needs a value", kw)
					continue
				}
				i++
				if w, ok := d.parseInt(kw+" weight", args[i], min, max); ok {
					r.Weight = Value[int]{V: int(w), Pos: a.Pos}
				}
			case "reverse":
				r.Reverse = true
			case "noreverse", "no_reverse":
				r.Reverse = false
			default:
				d.ignoredf(a.Pos, kw, "%s: unexpected %q after %q", kw, a.Text, name.Text)
			}
		}
		return r, true
	})
}
