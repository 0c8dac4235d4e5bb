package keepalived

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"strconv"
	"strings"
)

// This file holds the line level of keepalived's syntax, the part that
// runs before any keyword is looked at: comments, @host conditionals and
// $VAR=value definitions with their expansion; ~SEQ/~LST repetition is in
// seq.go and include lines in include.go. Its output is a flat list of
// logical lines with positions.

// srcLine is one logical line: text without comments or surrounding
// blanks, and the position of its first byte.
type srcLine struct {
	text string
	pos  Pos
}

type definition struct {
	value     string
	multiline bool
}

// Limits that keep hostile or accidental inputs (recursive definitions,
// huge ~SEQ ranges, include loops) from exhausting memory; those of the
// files read are Options.Limits (source.go).
const (
	maxIncludeDepth  = 16
	maxSubstPasses   = 64
	maxOutputLines   = 1 << 20
	maxSeqIterations = 1 << 16
	maxExpandDepth   = 32      // nested expansions of multiline definitions and ~SEQ bodies
	maxWork          = 4 << 20 // logical lines processed, expansions included
)

type preprocessor struct {
	d      *diags
	opts   *Options
	src    *source
	fsys   fs.FS
	osMode bool // paths shown as absolute OS paths ("/" + fs path)
	defs   map[string]*definition
	out    []srcLine
	depth  int
	pwd    string // directory of the file being read, as shown to users
	// stopped is set once a limit was hit, to end processing quickly.
	stopped  bool
	nest     int   // current expansion depth
	work     int   // logical lines processed so far
	outBytes int64 // text of the lines emitted so far
}

// enter accounts for one more level of expansion at pos; it reports false
// (after recording an error) when a limit is hit.
func (p *preprocessor) enter(pos Pos) bool {
	if p.stopped {
		return false
	}
	if p.nest >= maxExpandDepth {
		p.d.errorf(pos, "parameter expansion nested deeper than %d (recursive definition?)", maxExpandDepth)
		p.stopped = true
		return false
	}
	p.nest++
	return true
}

func newPreprocessor(d *diags, opts *Options, src *source) *preprocessor {
	return &preprocessor{d: d, opts: opts, src: src, fsys: src.fsys, osMode: src.osMode, defs: map[string]*definition{}}
}

// display turns an fs path into the name used in positions.
func (p *preprocessor) display(fsPath string) string {
	if p.osMode {
		return "/" + fsPath
	}
	return fsPath
}

// readFile processes one file. fsDir is the directory (fs path) that
// relative includes in this file are resolved against.
func (p *preprocessor) readFile(data []byte, name, fsDir string) {
	prevPwd := p.pwd
	if p.osMode {
		p.pwd = "/" + fsDir
	} else {
		p.pwd = fsDir
	}
	defer func() { p.pwd = prevPwd }()

	var lines []srcLine
	maxLine := p.src.limits.LineBytes
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) > maxLine {
			p.d.errorf(Pos{File: name, Line: n, Col: 1}, "line is longer than %d bytes", maxLine)
			return
		}
		raw := string(line)
		text, col := p.decomment(raw, Pos{File: name, Line: n})
		lines = append(lines, srcLine{text: text, pos: Pos{File: name, Line: n, Col: col}})
	}
	p.processLines(lines, fsDir)
}

// decomment removes a trailing comment ('#' or '!' outside double quotes,
// unless escaped with '\') and surrounding blanks. It returns the text and
// the 1-based column of its first byte.
func (p *preprocessor) decomment(raw string, at Pos) (string, int) {
	var b strings.Builder
	quote := false
	quotePos := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"':
			quote = !quote
			if quote {
				quotePos = i
			}
		case c == '\\' && i+1 < len(raw):
			if !quote && (raw[i+1] == '#' || raw[i+1] == '!') {
				b.WriteByte(raw[i+1])
			} else {
				b.WriteByte(c)
				b.WriteByte(raw[i+1])
			}
			i++
			continue
		case !quote && (c == '#' || c == '!'):
			raw = raw[:i]
			i = len(raw)
			continue
		}
		b.WriteByte(c)
	}
	if quote {
		p.d.errorf(Pos{File: at.File, Line: at.Line, Col: quotePos + 1}, "unterminated quoted string")
	}
	s := b.String()
	trimmed := strings.TrimLeft(s, " \t\f\v")
	col := len(s) - len(trimmed) + 1
	return strings.TrimRight(trimmed, " \t\f\v"), col
}

func (p *preprocessor) emit(l srcLine) {
	if len(p.out) >= maxOutputLines {
		if !p.stopped {
			p.d.errorf(l.pos, "configuration expands to more than %d lines", maxOutputLines)
			p.stopped = true
		}
		return
	}
	// Expansion (~SEQ, ~LST, definitions) multiplies text: what it makes
	// is bounded as the files read are (Limits.TotalBytes), or nested
	// ~SEQs of long lines would take gigabytes.
	if p.outBytes += int64(len(l.text)); p.outBytes > p.src.limits.TotalBytes {
		if !p.stopped {
			p.d.errorf(l.pos, "configuration expands to more than %d bytes", p.src.limits.TotalBytes)
			p.stopped = true
		}
		return
	}
	p.out = append(p.out, l)
}

func (p *preprocessor) processLines(lines []srcLine, fsDir string) {
	for i := 0; i < len(lines) && !p.stopped; i++ {
		if lines[i].text == "" {
			continue
		}
		i += p.processLine(lines[i], lines[i+1:], fsDir)
	}
}

// processLine handles one logical line and returns how many of the lines
// following it were consumed (by a multiline definition).
func (p *preprocessor) processLine(l srcLine, rest []srcLine, fsDir string) int {
	text, pos := l.text, l.pos
	if p.work++; p.work > maxWork {
		if !p.stopped {
			p.d.errorf(pos, "configuration expands to more than %d lines", maxWork)
			p.stopped = true
		}
		return len(rest)
	}
	for pass := 0; ; pass++ {
		if len(text) > p.src.limits.LineBytes {
			p.d.errorf(pos, "parameter substitution makes the line longer than %d bytes", p.src.limits.LineBytes)
			return 0
		}
		if pass > maxSubstPasses {
			p.d.errorf(pos, "parameter substitution does not terminate")
			return 0
		}
		if strings.HasPrefix(text, "@") {
			keep, remainder, off := p.conditional(text)
			if !keep {
				return 0
			}
			text = remainder
			pos.Col += off
			if text == "" {
				return 0
			}
		}
		if name, value, ok := parseDefinition(text); ok {
			if strings.HasSuffix(value, "\\") {
				return p.multilineDefinition(name, value, rest)
			}
			p.defs[name] = &definition{value: value}
			return 0
		}
		if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
			p.repeat(text, pos, fsDir)
			return 0
		}
		if strings.Contains(text, "$") {
			expanded, changed := p.substitute(text, pos)
			if changed {
				if strings.Contains(expanded, "\n") {
					var sub []srcLine
					for _, s := range strings.Split(expanded, "\n") {
						t := strings.TrimSpace(s)
						sub = append(sub, srcLine{text: t, pos: pos})
					}
					if p.enter(pos) {
						p.processLines(sub, fsDir)
						p.nest--
					}
					return 0
				}
				text = strings.TrimSpace(expanded)
				if text == "" {
					return 0
				}
				continue
			}
		}
		break
	}
	if p.include(text, pos, fsDir) {
		return 0
	}
	p.emit(srcLine{text: text, pos: pos})
	return 0
}

// conditional evaluates a leading @id or @^id. It returns whether the line
// is kept, the remaining text and how many bytes were removed.
func (p *preprocessor) conditional(text string) (bool, string, int) {
	ofs, negate := 1, false
	if strings.HasPrefix(text, "@^") {
		ofs, negate = 2, true
	}
	sp := strings.IndexAny(text[ofs:], " \t")
	if sp < 0 {
		return false, "", 0
	}
	id := text[ofs : ofs+sp]
	match := p.opts.Host != "" && id == p.opts.Host
	if match == negate {
		return false, "", 0
	}
	remainder := strings.TrimLeft(text[ofs+sp:], " \t")
	return true, remainder, len(text) - len(remainder)
}

// parseDefinition recognises $NAME=VALUE (no blank before '=').
func parseDefinition(text string) (name, value string, ok bool) {
	if len(text) < 3 || text[0] != '$' || !isNameStart(text[1]) {
		return "", "", false
	}
	i := 2
	for i < len(text) && isNameChar(text[i]) {
		i++
	}
	if i >= len(text) || text[i] != '=' {
		return "", "", false
	}
	return text[1:i], strings.TrimLeft(text[i+1:], " \t"), true
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

func (p *preprocessor) multilineDefinition(name, first string, rest []srcLine) int {
	var parts []string
	add := func(s string) {
		s = strings.TrimRight(strings.TrimSuffix(s, "\\"), " \t")
		if s != "" {
			parts = append(parts, s)
		}
	}
	add(first)
	used := 0
	for _, l := range rest {
		if l.text == "" {
			break
		}
		used++
		if strings.HasSuffix(l.text, "\\") {
			add(l.text)
			continue
		}
		add(l.text)
		break
	}
	p.defs[name] = &definition{value: strings.Join(parts, "\n"), multiline: true}
	return used
}

// substitute replaces $NAME (followed by a blank, ',', ')' or the end) and
// ${NAME} with their definitions, once, left to right. Undefined names are
// left as they are.
func (p *preprocessor) substitute(text string, pos Pos) (string, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(text); i++ {
		if text[i] != '$' || i+1 >= len(text) {
			b.WriteByte(text[i])
			continue
		}
		j := i + 1
		braces := text[j] == '{'
		if braces {
			j++
		}
		if j >= len(text) || !isNameStart(text[j]) {
			b.WriteByte(text[i])
			continue
		}
		k := j + 1
		for k < len(text) && isNameChar(text[k]) {
			k++
		}
		name := text[j:k]
		var params string
		end := k
		if braces {
			m := k
			for m < len(text) && (text[m] == ' ' || (text[m] >= '0' && text[m] <= '9')) {
				m++
			}
			if m >= len(text) || text[m] != '}' {
				b.WriteByte(text[i])
				continue
			}
			params = strings.TrimSpace(text[k:m])
			end = m + 1
		} else if k < len(text) && !strings.ContainsRune(" \t,)", rune(text[k])) {
			b.WriteByte(text[i])
			continue
		}
		value, multiline, ok := p.lookup(name, params, pos)
		if !ok {
			b.WriteByte(text[i])
			continue
		}
		if multiline && strings.TrimSpace(text[end:]) != "" {
			// keepalived expands a multiline definition only when it
			// ends the line.
			b.WriteByte(text[i])
			continue
		}
		b.WriteString(value)
		changed = true
		i = end - 1
	}
	return b.String(), changed
}

func (p *preprocessor) lookup(name, params string, pos Pos) (string, bool, bool) {
	if d, ok := p.defs[name]; ok {
		if params != "" {
			return "", false, false
		}
		return d.value, d.multiline, true
	}
	switch name {
	case "_PWD":
		return p.pwd, false, params == ""
	case "_INSTANCE":
		return p.opts.Host, false, params == ""
	case "_HASH":
		return "#", false, params == ""
	case "_BANG":
		return "!", false, params == ""
	case "_RANDOM":
		lo, hi := 0, 32767
		f := strings.Fields(params)
		if len(f) > 2 {
			p.d.errorf(pos, "too many parameters for ${_RANDOM}")
			return "", false, false
		}
		if len(f) > 0 {
			lo, _ = strconv.Atoi(f[0])
		}
		if len(f) > 1 {
			hi, _ = strconv.Atoi(f[1])
		}
		if hi < lo {
			p.d.errorf(pos, "${_RANDOM %s}: maximum is less than minimum", params)
			return "", false, false
		}
		r := p.opts.Random
		if r == nil {
			r = func(lo, hi int) int { return lo + rand.IntN(hi-lo+1) }
		}
		return strconv.Itoa(r(lo, hi)), false, true
	}
	return "", false, false
}
