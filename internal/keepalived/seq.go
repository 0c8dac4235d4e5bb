package keepalived

import (
	"strconv"
	"strings"
)

// This file holds keepalived's line repetition: ~SEQ, ~SEQx and ~LST
// lines expand into one logical line per value, before any keyword is
// looked at (see preprocess.go).

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
			if p.stopped {
				return // a limit was hit and reported
			}
			if it >= maxSeqIterations {
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
