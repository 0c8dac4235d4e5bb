package main

import (
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
	if code, _, errOut := runCheck("-t", "-f", good); code != exitOK || errOut != good+": configuration OK\n" {
		t.Fatalf("director -t %s = %d\n%s", good, code, errOut)
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
	code, _, errOut := runCheck("-t", "-f", bad)
	if code != exitErrors {
		t.Fatalf("director -t on a bad bgp block = %d, want %d\n%s", code, exitErrors, errOut)
	}
	for _, want := range []string{
		bad + ":6:9: error: hold_time: 1s: want whole seconds, at least 3s",
		bad + ":8:5: error: announce 10.0.0.99: no virtual_server on this address",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
}
