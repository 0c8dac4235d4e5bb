package director

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/lvskit/lvskit/internal/keepalived"
)

// Translating any configuration the parser accepts never panics: it gives
// a plan or positioned errors.
func FuzzTranslate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "keepalived", "testdata", "*.conf"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := keepalived.Parse(bytes.NewReader(data), "fuzz.conf", keepalived.Options{FS: emptyFS{}})
		if err != nil {
			return
		}
		p, _, err := Translate(cfg, "fuzz.conf", "")
		if err != nil {
			if len(Diagnostics(err)) == 0 {
				t.Fatalf("error without diagnostics: %v", err)
			}
			return
		}
		// Every unit is the same configuration as itself: a reload of an
		// unchanged file keeps everything.
		for _, c := range changes(p.units(), p.units()) {
			if c.what != kept {
				t.Fatalf("unit %s of one plan compared with itself: %s", c.key, c.what)
			}
		}
	})
}

// emptyFS makes include lines find nothing, so fuzzing reads no files.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) { return nil, fs.ErrNotExist }
