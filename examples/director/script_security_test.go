package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -t refuses a script of mode 0777 run as root under
// enable_script_security (exit 1, the script's line and column), and
// accepts the same file without enable_script_security, as keepalived -t
// does (it only logs the unsafe script when it runs it).
func TestCheckFlagScriptSecurity(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "check.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, 0o777); err != nil {
		t.Fatal(err)
	}
	conf := func(security string) string {
		path := filepath.Join(t.TempDir(), "keepalived.conf")
		text := fmt.Sprintf(`global_defs {
    %s
    script_user root
}
vrrp_script chk {
    script %s
}
vrrp_instance V {
    interface eth0
    virtual_router_id 9
    virtual_ipaddress {
        10.0.0.9/24
    }
    track_script {
        chk
    }
}
`, security, prog)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var out bytes.Buffer
	path := conf("enable_script_security")
	if code := run([]string{"-t", "-f", path}, &out, &out); code != 1 {
		t.Fatalf("director -t = %d, want 1\n%s", code, out.String())
	}
	if want := path + ":6:5: error: script: unsafe permissions for script " + prog; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}

	out.Reset()
	path = conf("")
	if code := run([]string{"-t", "-f", path}, &out, &out); code != 0 {
		t.Fatalf("director -t without enable_script_security = %d, want 0\n%s", code, out.String())
	}
}
