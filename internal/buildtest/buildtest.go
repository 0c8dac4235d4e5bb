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
	return filepath.Join(Programs(t, pkg), filepath.Base(pkg))
}

// Programs builds several main packages into one temporary folder, each
// binary named after its package's folder, and returns the folder.
func Programs(t testing.TB, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, strings.TrimSpace(string(b)))
	}
	return dir
}
