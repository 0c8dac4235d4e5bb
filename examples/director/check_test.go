package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 16: -t said "configuration OK" to a vrrp_instance name that is
// not UTF-8, on which the start then panicked. -t now refuses it at its
// position, as a start does.
func TestCheckFlagBadName(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.conf")
	text := "vrrp_instance V\xff1 {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        10.0.0.9\n    }\n}\n"
	if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"-t", "-f", bad}, &out, &out); code != 1 {
		t.Fatalf("director -t = %d, want 1\n%s", code, out.String())
	}
	if want := bad + ":1:15: error: word \"V\\xff1\": not valid UTF-8"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}
