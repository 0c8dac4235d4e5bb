package keepalived

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// BenchmarkParse parses the book's director configuration.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "book_lvs_1.conf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	opts := Options{FS: fstest.MapFS{}}
	for b.Loop() {
		if _, _, err := Parse(strings.NewReader(string(data)), "book_lvs_1.conf", opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLarge parses 1000 virtual servers with 10 real servers
// each, generated with ~SEQ and a multiline definition.
func BenchmarkParseLarge(b *testing.B) {
	conf := `$RS= \
real_server 10.${A}.${B}.${R} 80 { \
    weight 1 \
    TCP_CHECK { \
        connect_timeout 3 \
    } \
}

$VS= \
virtual_server 192.${A}.${B}.1 80 { \
    lb_algo wrr \
    lb_kind DR \
    ~SEQ(R, 1, 10) $RS \
}

~SEQ(A, 0, 9) ~SEQ(B, 0, 99) $VS
`
	opts := Options{FS: fstest.MapFS{}}
	for b.Loop() {
		cfg, _, err := Parse(strings.NewReader(conf), "large.conf", opts)
		if err != nil {
			b.Fatal(err)
		}
		if len(cfg.VirtualServers) != 1000 || len(cfg.VirtualServers[999].RealServers) != 10 {
			b.Fatalf("got %d virtual servers", len(cfg.VirtualServers))
		}
	}
}
