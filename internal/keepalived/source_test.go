package keepalived

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
)

// parseErrors parses conf (named name) with opts and returns the text of
// each diagnostic, failing unless the configuration is refused.
func parseErrors(t *testing.T, name, conf string, opts Options) []string {
	t.Helper()
	cfg, _, err := Parse(strings.NewReader(conf), name, opts)
	if cfg != nil || err == nil {
		t.Fatalf("Parse accepted the configuration")
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *ParseError", err)
	}
	var out []string
	for _, d := range pe.Diagnostics {
		out = append(out, d.String())
	}
	return out
}

func hasError(t *testing.T, got []string, want string) {
	t.Helper()
	for _, g := range got {
		if g == want {
			return
		}
	}
	t.Errorf("errors %q, want one to be %q", got, want)
}

// Only regular files are read: a device, a FIFO, a directory named by an
// include are errors at the include, found before the file is opened
// (opening a FIFO would wait for a writer; /dev/zero never ends). A
// directory a wildcard matches is skipped, as keepalived does.
func TestIncludeRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "keepalived.conf")
	got := parseErrors(t, main, "include /dev/zero\ninclude fifo.conf\ninclude sub.conf\ninclude s*.conf\n", Options{})
	for _, want := range []string{
		main + `:1:9: include "/dev/zero": /dev/zero: a character device, not a regular file`,
		main + `:2:9: include "fifo.conf": ` + fifo + `: a FIFO, not a regular file`,
		main + `:3:9: include "sub.conf": ` + dir + `/sub.conf: a directory, not a regular file`,
	} {
		hasError(t, got, want)
	}
	if len(got) != 3 {
		t.Errorf("errors %q, want 3 (the wildcard's directory is skipped)", got)
	}

	// The main file too.
	for _, name := range []string{"/dev/zero", fifo, dir} {
		if _, _, err := ParseFile(name, Options{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ParseFile(%s) = %v, want it refused as not a regular file", name, err)
		}
	}
}

// countingFS counts the files read (opened and read from; fs.Stat and
// fs.Glob open files too).
type countingFS struct {
	fs.FS
	reads atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c}, nil
}

type countingFile struct {
	fs.File
	fs   *countingFS
	read bool
}

func (f *countingFile) Read(p []byte) (int, error) {
	if !f.read {
		f.read = true
		f.fs.reads.Add(1)
	}
	return f.File.Read(p)
}

// A file that includes itself four times would be read 4^16 times before
// the depth limit (issue 16: a hang). The number of files read is bounded
// instead, and reading stops at the limit.
func TestIncludeFanOut(t *testing.T) {
	fsys := &countingFS{FS: fstest.MapFS{"self.conf": {Data: []byte(strings.Repeat("include self.conf\n", 4))}}}
	got := parseErrors(t, "main.conf", "include self.conf\n", Options{FS: fsys})
	limit := `include "self.conf": self.conf: the configuration reads more than 4096 files (includes that fan out?)`
	if last := got[len(got)-1]; !strings.HasSuffix(last, limit) {
		t.Errorf("errors %q, want the last to be %q", got, limit)
	}
	if n := fsys.reads.Load(); n != DefaultFiles-1 {
		t.Errorf("%d files read, want %d (the limit, less the main file)", n, DefaultFiles-1)
	}
}

// A huge file is refused by its size before it is read: a sparse 200 MB
// include (issue 16: 31 s and 4 GB before a line-count error).
func TestIncludeHugeFile(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.conf")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(200 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	main := filepath.Join(dir, "keepalived.conf")
	got := parseErrors(t, main, "include huge.conf\n", Options{})
	hasError(t, got, main+`:1:9: include "huge.conf": `+huge+`: larger than 16777216 bytes`)
}

// zeros is an endless reader.
type zeros struct{ read atomic.Int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.read.Add(int64(len(p)))
	return len(p), nil
}

// Each limit of Options.Limits, at its edge: a file of FileBytes is read,
// one byte more is refused (also from an endless reader, read no further
// than the limit); TotalBytes over several files; Files; LineBytes, as
// written and as substitution makes it.
func TestLimits(t *testing.T) {
	const ten = "! comment\n"
	fsys := fstest.MapFS{"a": {Data: []byte(ten)}, "b": {Data: []byte(ten + "\n")}}
	lim := Limits{FileBytes: 10, TotalBytes: 30, Files: 3, LineBytes: 16}
	if _, _, err := Parse(strings.NewReader(ten), "main.conf", Options{FS: fsys, Limits: lim}); err != nil {
		t.Errorf("a file of FileBytes: %v", err)
	}
	if _, _, err := Parse(strings.NewReader(ten+"\n"), "main.conf", Options{FS: fsys, Limits: lim}); err == nil || err.Error() != "read config main.conf: larger than 10 bytes" {
		t.Errorf("a file over FileBytes: %v", err)
	}
	z := &zeros{}
	if _, _, err := Parse(z, "zero.conf", Options{}); err == nil || !strings.Contains(err.Error(), "larger than 16777216 bytes") {
		t.Errorf("an endless reader: %v", err)
	}
	if n := z.read.Load(); n > DefaultFileBytes+64<<10 {
		t.Errorf("%d bytes read from an endless reader, want at most the limit and a buffer", n)
	}
	hasError(t, parseErrors(t, "main.conf", "include b\n", Options{FS: fsys, Limits: lim}),
		`main.conf:1:9: include "b": b: larger than 10 bytes`)

	lim.FileBytes = 20 // main 20 bytes, a 10 twice: 40 > 30
	hasError(t, parseErrors(t, "main.conf", "include a\ninclude a\n", Options{FS: fsys, Limits: lim}),
		`main.conf:2:9: include "a": a: the configuration's files together are larger than 30 bytes`)
	lim.FileBytes, lim.TotalBytes = 30, 100 // main and a twice are 3 files
	hasError(t, parseErrors(t, "main.conf", "include a\ninclude a\ninclude a\n", Options{FS: fsys, Limits: lim}),
		`main.conf:3:9: include "a": a: the configuration reads more than 3 files (includes that fan out?)`)

	lim = Limits{LineBytes: 16}
	hasError(t, parseErrors(t, "main.conf", "global_defs {\n router_id a_name_of_17b\n}\n", Options{FS: fsys, Limits: lim}),
		`main.conf:2:1: line is longer than 16 bytes`)
	hasError(t, parseErrors(t, "main.conf", "$A=0123456789\nglobal_defs {\n router_id $A$A\n}\n", Options{FS: fsys, Limits: lim}),
		`main.conf:3:2: parameter substitution makes the line longer than 16 bytes`)
}

// A 10 MB line is reported as what it is (issue 16: "parameter
// substitution does not terminate"), at its line, without reading on.
func TestLongLine(t *testing.T) {
	conf := "global_defs {\n router_id " + strings.Repeat("a", 10<<20) + "\n}\n"
	got := parseErrors(t, "main.conf", conf, Options{FS: fstest.MapFS{}})
	if want := []string{`main.conf:2:1: line is longer than 65536 bytes`}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("errors %q, want %q", got, want)
	}
}

// Nested ~SEQs multiply text: 2^32 lines from one line of input. What
// expansion makes is bounded by TotalBytes like the files themselves
// (FuzzLoad found a variant that took the fuzzer's memory).
func TestExpansionBytes(t *testing.T) {
	conf := "~SEQ(A, 0, 65535) ~SEQ(B, 0, 65535) vrrp_script s_${A}_${B}_" + strings.Repeat("x", 200) + " {\n}\n"
	lim := Limits{TotalBytes: 1 << 20}
	hasError(t, parseErrors(t, "main.conf", conf, Options{FS: fstest.MapFS{}, Limits: lim}),
		`main.conf:1:37: configuration expands to more than 1048576 bytes`)
}
