package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -t accepts a good file (exit 0, warnings on stderr) and rejects a bad
// one with exit 1 after printing every error with its position.
func TestCheckFlag(t *testing.T) {
	// The book's file, behind a global_defs with a keyword the director
	// ignores: accepted, with a warning at that keyword's position.
	book, err := os.ReadFile(filepath.Join("..", "..", "internal", "keepalived", "testdata", "book_lvs_1.conf"))
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "good.conf")
	if err := os.WriteFile(good, append([]byte("global_defs {\n    enable_snmp_vrrp\n}\n"), book...), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"-t", "-f", good}, &out); code != 0 {
		t.Fatalf("director -t %s = %d, want 0\n%s", good, code, out.String())
	}
	if !strings.Contains(out.String(), "configuration OK") || !strings.Contains(out.String(), `warning: `+good+`:2:5: keyword "enable_snmp_vrrp"`) {
		t.Errorf("output:\n%s", out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.conf")
	text := "vrrp_instance V {\n    interface eth0\n    virtual_router_id 300\n    priority banana\n}\n"
	if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-t", "-f", bad}, &out); code != 1 {
		t.Fatalf("director -t on a bad file = %d, want 1\n%s", code, out.String())
	}
	for _, want := range []string{bad + ":3:", bad + ":4:14:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks an error at %s:\n%s", want, out.String())
		}
	}
}

// With --backend userspace, -t also rejects what that backend cannot
// carry, at its line.
func TestCheckFlagUserspace(t *testing.T) {
	file := filepath.Join("..", "..", "internal", "keepalived", "testdata", "book_lvs_1.conf")
	var out bytes.Buffer
	if code := run([]string{"-t", "--backend", "userspace", "-f", file}, &out); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), file+":36:5: lb_kind DR: not supported by the userspace backend") {
		t.Errorf("output:\n%s", out.String())
	}
}

// Unknown flags and values are usage errors (exit 2).
func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--log-level", "loud"}, &out); code != 2 {
		t.Errorf("--log-level loud = %d, want 2", code)
	}
	if code := run([]string{"--nope"}, &out); code != 2 {
		t.Errorf("--nope = %d, want 2", code)
	}
}
