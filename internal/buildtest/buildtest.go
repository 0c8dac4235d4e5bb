// Package buildtest builds the module's programs for tests that run them as
// real processes.
package buildtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Program builds the main package at pkg (an import path below the module,
// such as "github.com/lvskit/lvskit/examples/director") into a temporary
// folder and returns the binary's path.
func Program(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return out
}
