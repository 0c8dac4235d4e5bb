package keepalived

import (
	"bufio"
	"bytes"
	"io/fs"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
)

// This file holds the line level of keepalived's syntax, the part that
// runs before any keyword is looked at: comments, @host conditionals,
// $VAR=value definitions and their expansion, ~SEQ/~LST repetition and
// include. Its output is a flat list of logical lines with positions.

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
// huge ~SEQ ranges, include loops) from exhausting memory.
const (
	maxIncludeDepth  = 16
	maxSubstPasses   = 64
	maxLineLen       = 64 << 10
	maxOutputLines   = 1 << 20
	maxSeqIterations = 1 << 16
	maxFileSize      = 16 << 20
	maxExpandDepth   = 32      // nested expansions of multiline definitions and ~SEQ bodies
	maxWork          = 4 << 20 // logical lines processed, expansions included
)

type preprocessor struct {
	d      *diags
	opts   *Options
	fsys   fs.FS
	osMode bool // paths shown as absolute OS paths ("/" + fs path)
	defs   map[string]*definition
	out    []srcLine
	depth  int
	pwd    string // directory of the file being read, as shown to users
	// stopped is set once a limit was hit, to end processing quickly.
	stopped bool
	nest    int // current expansion depth
	work    int // logical lines processed so far
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

func newPreprocessor(d *diags, opts *Options, fsys fs.FS, osMode bool) *preprocessor {
	return &preprocessor{d: d, opts: opts, fsys: fsys, osMode: osMode, defs: map[string]*definition{}}
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
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxFileSize)
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), "\r")
		text, col := p.decomment(raw, Pos{File: name, Line: n})
		lines = append(lines, srcLine{text: text, pos: Pos{File: name, Line: n, Col: col}})
	}
	if err := sc.Err(); err != nil {
		p.d.errorf(Pos{File: name, Line: n + 1, Col: 1}, "read file: %v", err)
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
		if pass > maxSubstPasses || len(text) > maxLineLen {
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

// repeat expands ~SEQ(var, start, step, end), ~SEQx(...) and
// ~LST(var, v1, v2...) / ~LST({a,b}, {1,2}, ...) lines.
func (p *preprocessor) repeat(text string, pos Pos, fsDir string) {
	open := strings.IndexByte(text, '(')
	closeIdx := matchingParen(text, open)
	if open < 0 || closeIdx < 0 {
		p.d.errorf(pos, "invalid %s specification: missing parenthesis", text[:4])
		return
	}
	kind := strings.TrimSpace(text[:open])
	argText := text[open+1 : closeIdx]
	if s, changed := p.substitute(argText, pos); changed {
		argText = s
	}
	body := strings.TrimLeft(text[closeIdx+1:], " \t")
	bodyPos := pos
	bodyPos.Col += len(text) - len(body)
	run := func(vars []string, vals []string) {
		for i, v := range vars {
			p.defs[v] = &definition{value: vals[i]}
		}
		if body != "" && p.enter(pos) {
			p.processLine(srcLine{text: body, pos: bodyPos}, nil, fsDir)
			p.nest--
		}
	}
	switch kind {
	case "~SEQ", "~SEQx":
		args := splitTop(argText)
		if len(args) < 2 || len(args) > 4 {
			p.d.errorf(pos, "invalid ~SEQ specification: want (var, [start, [step,]] end)")
			return
		}
		v := strings.TrimSpace(args[0])
		if v == "" || !isNameStart(v[0]) {
			p.d.errorf(pos, "invalid ~SEQ variable %q", v)
			return
		}
		var nums []int64
		for _, a := range args[1:] {
			n, err := strconv.ParseInt(strings.TrimSpace(a), 0, 64)
			if err != nil {
				p.d.errorf(pos, "invalid ~SEQ number %q", strings.TrimSpace(a))
				return
			}
			nums = append(nums, n)
		}
		var start, step, end int64
		switch len(nums) {
		case 1:
			end = nums[0]
			start, step = 1, 1
			if end < 0 {
				start = -1
			}
			if end < 1 {
				step = -1
			}
		case 2:
			start, end = nums[0], nums[1]
			step = 1
			if start > end {
				step = -1
			}
		case 3:
			start, step, end = nums[0], nums[1], nums[2]
			if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
				p.d.errorf(pos, "invalid ~SEQ values: step %d cannot go from %d to %d", step, start, end)
				return
			}
		}
		hex := kind == "~SEQx"
		if hex && (start < 0 || end < 0) {
			p.d.errorf(pos, "~SEQx is only valid for positive numbers")
			return
		}
		for n, it := start, 0; (step > 0 && n <= end) || (step < 0 && n >= end); n, it = n+step, it+1 {
			if it >= maxSeqIterations || p.stopped {
				p.d.errorf(pos, "~SEQ has more than %d iterations", maxSeqIterations)
				return
			}
			s := strconv.FormatInt(n, 10)
			if hex {
				s = strconv.FormatInt(n, 16)
			}
			run([]string{v}, []string{s})
		}
	case "~LST":
		args := splitTop(argText)
		if len(args) < 2 {
			p.d.errorf(pos, "invalid ~LST specification: want (var, value...)")
			return
		}
		vars := splitBraced(args[0])
		for _, v := range vars {
			if v == "" || !isNameStart(v[0]) {
				p.d.errorf(pos, "invalid ~LST variable %q", v)
				return
			}
		}
		for _, a := range args[1:] {
			vals := splitBraced(a)
			if len(vals) != len(vars) {
				p.d.errorf(pos, "~LST value %q does not have %d elements", strings.TrimSpace(a), len(vars))
				return
			}
			run(vars, vals)
		}
	default:
		p.d.errorf(pos, "unknown repetition %q", kind)
	}
}

func matchingParen(s string, open int) int {
	if open < 0 {
		return -1
	}
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitTop splits on commas that are not inside {...}.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// splitBraced turns "{a, b}" into [a b] and "a" into [a].
func splitBraced(s string) []string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		var out []string
		for _, f := range strings.Split(s[1:len(s)-1], ",") {
			out = append(out, strings.TrimSpace(f))
		}
		return out
	}
	return []string{s}
}

var includeKinds = map[string]bool{
	"include": true, "includer": true, "includem": true,
	"includew": true, "includeb": true, "includea": true,
}

// include handles an include line (a keyword and exactly one argument)
// and reports whether the line was one.
func (p *preprocessor) include(text string, pos Pos, fsDir string) bool {
	if !strings.HasPrefix(text, "include") {
		return false
	}
	toks, ok := includeFields(text, pos)
	if !ok || len(toks) != 2 || !includeKinds[toks[0].Text] {
		return false
	}
	kind, pattern := toks[0].Text, toks[1].Text
	if p.depth >= maxIncludeDepth {
		p.d.errorf(pos, "include nesting deeper than %d (include loop?)", maxIncludeDepth)
		return true
	}
	var full string
	if strings.HasPrefix(pattern, "/") {
		full = path.Clean(strings.TrimLeft(pattern, "/"))
	} else {
		full = path.Join(fsDir, pattern)
	}
	if full == "" {
		full = "."
	}
	seen := map[string]bool{}
	var files []string
	wild := strings.ContainsAny(pattern, "*?[")
	for _, alt := range expandBraces(full) {
		matches, err := fs.Glob(p.fsys, alt)
		if err != nil {
			p.d.errorf(toks[1].Pos, "include %q: %v", pattern, err)
			return true
		}
		if len(matches) == 0 && (kind == "includeb" || kind == "includea") && alt != full {
			p.d.errorf(toks[1].Pos, "include %q: %q matched no file", pattern, p.display(alt))
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				files = append(files, m)
			}
		}
	}
	// As glob(3) with GLOB_BRACE: the files of each brace alternative in
	// the order of the alternatives, sorted within one alternative.
	read := 0
	for _, f := range files {
		st, err := fs.Stat(p.fsys, f)
		if err != nil || st.IsDir() {
			continue
		}
		data, err := fs.ReadFile(p.fsys, f)
		if err != nil {
			if kind != "include" {
				p.d.errorf(toks[1].Pos, "include %q: %v", pattern, err)
			} else {
				p.d.warnf(toks[1].Pos, kind, "include %q: cannot read %s: %v", pattern, p.display(f), err)
			}
			continue
		}
		read++
		p.depth++
		p.readFile(data, p.display(f), path.Dir(f))
		p.depth--
	}
	if read == 0 {
		switch {
		case kind == "includew" || kind == "includea" || ((kind == "includem" || kind == "includeb") && !wild):
			p.d.errorf(toks[1].Pos, "include %q matched no file", pattern)
		default:
			p.d.warnf(toks[1].Pos, kind, "include %q matched no file", pattern)
		}
	}
	return true
}

// includeFields splits an include line into words. Unlike tokenize it
// keeps '{' and '}' inside words: they are brace expansions here.
func includeFields(text string, pos Pos) ([]token, bool) {
	var toks []token
	for i := 0; i < len(text); {
		if text[i] == ' ' || text[i] == '\t' {
			i++
			continue
		}
		start := i
		var b strings.Builder
		for i < len(text) && text[i] != ' ' && text[i] != '\t' {
			if text[i] == '"' {
				j := strings.IndexByte(text[i+1:], '"')
				if j < 0 {
					return nil, false
				}
				b.WriteString(text[i+1 : i+1+j])
				i += j + 2
				continue
			}
			b.WriteByte(text[i])
			i++
		}
		toks = append(toks, token{Text: b.String(), Pos: Pos{File: pos.File, Line: pos.Line, Col: pos.Col + start}})
	}
	return toks, true
}

// expandBraces performs csh-style brace expansion: "a{b,c}d" -> abd, acd.
func expandBraces(s string) []string {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return []string{s}
	}
	depth := 0
	var parts []string
	start := open + 1
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				parts = append(parts, s[start:i])
				var out []string
				for _, part := range parts {
					out = append(out, expandBraces(s[:open]+part+s[i+1:])...)
					if len(out) > 1024 {
						return out[:1024]
					}
				}
				return out
			}
		case ',':
			if depth == 1 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return []string{s}
}
