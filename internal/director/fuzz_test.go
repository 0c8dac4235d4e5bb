package director

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
)

// debianSamples is where Debian's keepalived package puts its sample
// configurations (scripts/install-test-deps.sh installs it).
const debianSamples = "/usr/share/doc/keepalived/samples"

// FuzzLoad runs the whole load path of a start on arbitrary text: the
// preprocessor with includes (from a file system in memory holding the
// parser's include corpus and a file that includes itself), the parser,
// Translate with the libraries' Validate, the capabilities of the
// userspace backend, and the build of every unit as Check and a start
// build them (no side effects). It asserts that nothing panics, that a
// refusal comes with positioned diagnostics, and that what is accepted
// builds: "-t says OK" implies "a start builds it". Seeds: the parser's
// corpus and Debian's sample configurations.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "keepalived", "testdata", "*.conf"))
	samples, _ := filepath.Glob(filepath.Join(debianSamples, "keepalived.conf.*"))
	for _, name := range append(seeds, samples...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("include includes/vrrp/*.conf\ninclude includes/conf.d/*.conf\n"))
	f.Add([]byte("include self.conf\n"))
	f.Add([]byte("vrrp_instance V\xff1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"))
	fsys := includeFS(f)
	// Small limits keep each execution short; the limits have tests of
	// their own.
	limits := keepalived.Limits{Files: 32, TotalBytes: 1 << 20}
	caps, _ := ipvs.CapabilitiesOf(ipvs.KindUserspace)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := keepalived.Parse(bytes.NewReader(data), "fuzz.conf", keepalived.Options{
			Host: "lvs_1", FS: fsys, Limits: limits, Random: func(lo, _ int) int { return lo }})
		if err != nil {
			if cfg != nil || len(Diagnostics(err)) == 0 {
				t.Fatalf("refused without diagnostics, or with a config: %v", err)
			}
			return
		}
		p, _, err := Translate(cfg, "fuzz.conf", "lvs_1")
		if err != nil {
			if len(Diagnostics(err)) == 0 {
				t.Fatalf("error without diagnostics: %v", err)
			}
			return
		}
		_ = p.CheckCapabilities(ipvs.KindUserspace, caps)
		// Every unit is the same configuration as itself: a reload of an
		// unchanged file keeps everything.
		for _, c := range changes(p.units(), p.units()) {
			if c.what != kept {
				t.Fatalf("unit %s of one plan compared with itself: %s", c.key, c.what)
			}
		}
		if err := newDirector(Options{ConfigPath: "fuzz.conf", Hostname: "lvs_1"}).check(p); err != nil {
			t.Fatalf("accepted, but a unit does not build: %v", err)
		}
	})
}

// includeFS is what include lines of the fuzzed text can read: the
// parser's include corpus under includes/, and a file that includes
// itself.
func includeFS(f *testing.F) fs.FS {
	m := fstest.MapFS{"self.conf": {Data: []byte(strings.Repeat("include self.conf\n", 4))}}
	root := filepath.Join("..", "keepalived", "testdata")
	err := filepath.WalkDir(filepath.Join(root, "includes"), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	return m
}
