package keepalived

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzParse feeds arbitrary text to the parser: it must never panic, and
// it returns either a config or a *ParseError with positioned diagnostics,
// never both. Seeds are the corpus files.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.conf"))
	more, _ := filepath.Glob(filepath.Join("testdata", "includes", "*", "*"))
	for _, name := range append(files, more...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("$A=$A$A\nglobal_defs {\n router_id $A\n}\n")
	f.Add("~SEQ(A, 0, 1, 100000) ~SEQ(B, 0, 1, 3) x\n")
	f.Add("$M= \\\n$M \\\n\n$M\n")
	f.Add("include x.conf\n")
	f.Add("vrrp_instance {{{{\n}}}}\n\"\n")
	// Includes resolve inside this small file system only.
	fsys := fstest.MapFS{
		"x.conf":     {Data: []byte("include x.conf\n")},
		"y/vs.conf":  {Data: []byte("virtual_server 10.0.0.1 80 {\n}\n")},
		"y/bad.conf": {Data: []byte("vrrp_instance {\n")},
	}
	f.Fuzz(func(t *testing.T, conf string) {
		cfg, _, err := Parse(strings.NewReader(conf), "fuzz.conf", Options{
			Host:   "h1",
			FS:     fsys,
			Random: func(lo, hi int) int { return lo },
		})
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		if cfg != nil {
			t.Fatal("config returned with an error")
		}
		var pe *ParseError
		if !errors.As(err, &pe) || len(pe.Diagnostics) == 0 {
			t.Fatalf("error %v is not a *ParseError with diagnostics", err)
		}
		for _, d := range pe.Diagnostics {
			if !d.Pos.IsValid() || d.Msg == "" {
				t.Fatalf("diagnostic without position or message: %#v", d)
			}
		}
	})
}
