// Package peer runs programs nobody in this project wrote as test peers
// inside netnstest hosts: keepalived as a VRRP router and tshark as the
// judge of what went over the wire; promtool judges metrics expositions.
// The bench programs start keepalived through it too (RunKeepalived, in an
// nslab host).
//
// The programs come from Debian (scripts/install-test-deps.sh installs
// them). A missing program skips the test, or fails it under CI=true.
package peer

import (
	"os"
	"os/exec"
	"testing"
)

// need finds a program or skips (fails under CI=true) the test.
func need(t testing.TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err == nil {
		return p
	}
	msg := "peer: " + prog + " not installed; run scripts/install-test-deps.sh"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
