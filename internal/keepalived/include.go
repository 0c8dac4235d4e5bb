package keepalived

import (
	"errors"
	"io/fs"
	"path"
	"strings"
)

// This file holds keepalived's include lines: include and its variants,
// with csh-style brace expansion and globs relative to the including
// file (see preprocess.go).

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
	read, refused := 0, 0
	for _, f := range files {
		data, err := p.src.read(f)
		var le *limitError
		switch {
		case err == nil:
		case errors.As(err, &le) && le.dir && wild:
			continue // a directory a wildcard matched, skipped as keepalived does
		case le != nil:
			// Not a regular file, or over a limit (source.go): always an
			// error, whatever the kind of include.
			p.d.errorf(toks[1].Pos, "include %q: %s: %v", pattern, p.display(f), err)
			refused++
			if le.stop {
				p.stopped = true
				return true
			}
			continue
		case kind != "include":
			p.d.errorf(toks[1].Pos, "include %q: %v", pattern, err)
			continue
		default:
			p.d.warnf(toks[1].Pos, kind, "include %q: cannot read %s: %v", pattern, p.display(f), err)
			continue
		}
		read++
		p.depth++
		p.readFile(data, p.display(f), path.Dir(f))
		p.depth--
	}
	if read == 0 && refused == 0 {
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
