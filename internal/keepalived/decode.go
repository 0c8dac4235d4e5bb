package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// decoder turns the statement tree into a typed Config. Every keyword is
// handled by a function from a per-block table; a keyword missing from the
// table is an error, one in the block's "ignored" set is a warning.
type decoder struct {
	*diags
	cfg *Config
}

type kwFunc func(n *node)

type table map[string]kwFunc

// decodeBlock runs the handlers of t over the children of n.
func (d *decoder) decodeBlock(ctx string, n *node, t table, ignored map[string]bool) {
	for _, c := range n.children {
		if f, ok := t[c.name]; ok {
			f(c)
			continue
		}
		if ignored[c.name] {
			d.notImplemented(c.pos, c.name)
			continue
		}
		if ctx == "" {
			d.errorf(c.pos, "unknown keyword %q", c.name)
		} else {
			d.errorf(c.pos, "unknown keyword %q in %s", c.name, ctx)
		}
	}
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ---- argument checks ----

// plain checks that n has no block and between min and max arguments
// (max < 0: unlimited).
func (d *decoder) plain(n *node, min, max int) bool {
	if n.block {
		d.errorf(n.pos, "%s: does not take a { } block", n.name)
		return false
	}
	return d.nargs(n, min, max)
}

func (d *decoder) nargs(n *node, min, max int) bool {
	if len(n.args) < min {
		if min == 1 {
			d.errorf(n.pos, "%s: missing argument", n.name)
		} else {
			d.errorf(n.pos, "%s: needs %d arguments, got %d", n.name, min, len(n.args))
		}
		return false
	}
	if max >= 0 && len(n.args) > max {
		d.errorf(n.args[max].Pos, "%s: unexpected argument %q", n.name, n.args[max].Text)
		return false
	}
	return true
}

// blockOnly checks that n has a block and at most max arguments.
func (d *decoder) blockOnly(n *node, min, max int) bool {
	if !n.block {
		d.errorf(n.pos, "%s: needs a { } block", n.name)
		return false
	}
	return d.nargs(n, min, max)
}

// ---- value parsers ----

func (d *decoder) parseInt(kw string, t token, min, max int64) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(t.Text), 10, 64)
	if err != nil {
		d.errorf(t.Pos, "%s: invalid number %q", kw, t.Text)
		return 0, false
	}
	if v < min || v > max {
		d.errorf(t.Pos, "%s: %d is out of range [%d, %d]", kw, v, min, max)
		return 0, false
	}
	return v, true
}

// maxTimer bounds durations: keepalived's timers are far below this.
const maxTimer = 10 * 365 * 24 * time.Hour

func (d *decoder) parseDuration(kw string, t token) (time.Duration, bool) {
	f, err := strconv.ParseFloat(t.Text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(t.Text, "xXpP_") {
		d.errorf(t.Pos, "%s: invalid time %q (want seconds, e.g. 1 or 0.5)", kw, t.Text)
		return 0, false
	}
	if f < 0 || f*float64(time.Second) > float64(maxTimer) {
		d.errorf(t.Pos, "%s: time %q is out of range", kw, t.Text)
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
	d.errorf(t.Pos, "%s: invalid boolean %q (want on|off|true|false|yes|no)", kw, t.Text)
	return false, false
}

func (d *decoder) parseAddr(kw string, t token) (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.Text)
	if err != nil || a.Zone() != "" && !a.Is6() {
		d.errorf(t.Pos, "%s: invalid IP address %q", kw, t.Text)
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
			d.errorf(t.Pos, "%s: invalid IP address %q", kw, s)
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.errorf(t.Pos, "%s: invalid address/prefix %q", kw, s)
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
					d.errorf(a.Pos, "%s: weight needs a value", kw)
					return r, false
				}
				i++
				w, ok := d.parseInt(kw+" weight", args[i], min, max)
				if !ok {
					return r, false
				}
				r.Weight = Value[int]{V: int(w), Pos: a.Pos}
			case "reverse":
				r.Reverse = true
			case "noreverse", "no_reverse":
				r.Reverse = false
			default:
				d.errorf(a.Pos, "%s: unexpected %q after %q", kw, a.Text, name.Text)
				return r, false
			}
		}
		return r, true
	})
}
