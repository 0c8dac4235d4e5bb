package keepalived

import (
	"strconv"
	"strings"
)

// token is one word of a line. Quoted tokens were written (at least partly)
// between double quotes; a quoted "{" is text, not a block delimiter.
type token struct {
	Text   string
	Pos    Pos
	Quoted bool
}

// node is one statement: a keyword with its arguments on the same line and,
// when followed by '{', the statements of its block.
type node struct {
	name     string
	pos      Pos
	quoted   bool
	args     []token
	block    bool
	children []*node
	// end is where the '}' that closed the block is; not valid when the
	// file ended first.
	end Pos
	// closer marks a '}' that keepalived's reading moved out of the block
	// it closed (see decodeBlock); it has no name of its own.
	closer bool
}

// tokenize splits a logical line into words. Double quotes group
// (and may be glued to unquoted text: ab"c d"e is one word); inside them
// shell-like backslash escapes are decoded. Outside quotes '{' and '}'
// are words of their own.
func tokenize(text string, pos Pos, d *diags) []token {
	var toks []token
	i := 0
	for i < len(text) {
		c := text[i]
		if c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r' || c == '\n' {
			i++
			continue
		}
		at := Pos{File: pos.File, Line: pos.Line, Col: pos.Col + i}
		if c == '{' || c == '}' {
			toks = append(toks, token{Text: string(c), Pos: at})
			i++
			continue
		}
		var b strings.Builder
		quoted := false
	word:
		for i < len(text) {
			c := text[i]
			switch {
			case c == '"':
				quoted = true
				j := i + 1
				for {
					if j >= len(text) {
						d.errorf(Pos{File: pos.File, Line: pos.Line, Col: pos.Col + i}, "unterminated quoted string")
						i = j
						break word
					}
					if text[j] == '"' {
						break
					}
					if text[j] == '\\' && j+1 < len(text) {
						n := unescape(text[j+1:], &b)
						j += 1 + n
						continue
					}
					b.WriteByte(text[j])
					j++
				}
				i = j + 1
			case c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r' || c == '\n' || c == '{' || c == '}':
				break word
			default:
				b.WriteByte(c)
				i++
			}
		}
		toks = append(toks, token{Text: b.String(), Pos: at, Quoted: quoted})
	}
	return toks
}

// unescape decodes one escape sequence (the text after the backslash),
// writes the result to b and returns how many bytes it used.
func unescape(s string, b *strings.Builder) int {
	c := s[0]
	switch c {
	case 'a':
		b.WriteByte('\a')
	case 'b':
		b.WriteByte('\b')
	case 'E':
		b.WriteByte(0x1b)
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'v':
		b.WriteByte('\v')
	case 'x':
		n := 1
		for n < len(s) && n < 3 && isHex(s[n]) {
			n++
		}
		if n == 1 {
			b.WriteByte('x')
			return 1
		}
		v, _ := strconv.ParseUint(s[1:n], 16, 8)
		b.WriteByte(byte(v))
		return n
	case 'c':
		if len(s) > 1 {
			b.WriteByte(s[1] & 0x1f)
			return 2
		}
		b.WriteByte('c')
	default:
		if c >= '0' && c <= '7' {
			n := 1
			for n < len(s) && n < 3 && s[n] >= '0' && s[n] <= '7' {
				n++
			}
			v, _ := strconv.ParseUint(s[:n], 8, 16)
			b.WriteByte(byte(v))
			return n
		}
		b.WriteByte(c)
	}
	return 1
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// strayClose is the warning about a '}' at the top level.
const strayClose = "unexpected '}' with no open block: ignored, as keepalived does"

func isOpen(t token) bool  { return !t.Quoted && t.Text == "{" }
func isClose(t token) bool { return !t.Quoted && t.Text == "}" }

// buildTree turns logical lines into a statement tree. A statement runs to
// the end of its line, or to a '{' that opens its block, or to a '}' that
// closes the enclosing block. A '{' alone at the start of the next line
// also opens the block of the statement that ended the previous line.
func buildTree(lines []srcLine, d *diags) *node {
	root := &node{block: true}
	stack := []*node{root}
	var pending *node // statement that ended its line; may take a '{' next line
	for _, l := range lines {
		toks := tokenize(l.text, l.pos, d)
		checkWords(toks, d)
		i := 0
		if len(toks) > 0 && isOpen(toks[0]) && pending != nil && !pending.block {
			pending.block = true
			stack = append(stack, pending)
			i = 1
		}
		pending = nil
		for i < len(toks) {
			t := toks[i]
			switch {
			case isClose(t):
				if len(stack) == 1 {
					d.warnf(t.Pos, "}", "%s", strayClose)
				} else {
					stack[len(stack)-1].end = t.Pos
					stack = stack[:len(stack)-1]
				}
				i++
				continue
			case isOpen(t):
				// keepalived ignores it, so the '}' that matches it
				// ends the enclosing block, as here.
				d.warnf(t.Pos, "{", "unexpected '{' without a keyword: ignored, as keepalived does (the '}' that matches it ends the enclosing block)")
				i++
				continue
			}
			n := &node{name: t.Text, pos: t.Pos, quoted: t.Quoted}
			j := i + 1
			for j < len(toks) && !isOpen(toks[j]) && !isClose(toks[j]) {
				n.args = append(n.args, toks[j])
				j++
			}
			top := stack[len(stack)-1]
			top.children = append(top.children, n)
			if j < len(toks) && isOpen(toks[j]) {
				n.block = true
				stack = append(stack, n)
				j++
			}
			if j == len(toks) {
				pending = n
			}
			i = j
		}
	}
	for k := len(stack) - 1; k >= 1; k-- {
		n := stack[k]
		d.warnf(n.pos, n.name, "block %q is not closed: missing '}'; keepalived reads it to the end of the file, as here", n.name)
	}
	return root
}
