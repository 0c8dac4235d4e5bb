package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -t checks the bgp block like the rest: the corpus file of an
// active-active director passes, a broken block fails with each error at
// its position.
func TestCheckFlagBGP(t *testing.T) {
	good := filepath.Join("..", "..", "internal", "keepalived", "testdata", "bgp_ecmp.conf")
	var out bytes.Buffer
	if code := run([]string{"-t", "-f", good}, &out); code != 0 || !strings.Contains(out.String(), "configuration OK") {
		t.Fatalf("director -t %s = %d\n%s", good, code, out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.conf")
	text := `bgp {
    local_as 65001
    router_id 10.0.0.1
    neighbor 10.0.0.254 {
        remote_as 65000
        hold_time 1
    }
    announce 10.0.0.99
}
`
	if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-t", "-f", bad}, &out); code != 1 {
		t.Fatalf("director -t on a bad bgp block = %d, want 1\n%s", code, out.String())
	}
	for _, want := range []string{
		bad + ":6:9: hold_time: 1s: want whole seconds, at least 3s",
		bad + ":8:5: announce 10.0.0.99: no virtual_server on this address",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
