package main

import (
	"testing"

	"github.com/lvskit/lvskit/internal/buildtest"
)

// buildDirector compiles this command into a temporary folder.
func buildDirector(t *testing.T) string {
	t.Helper()
	return buildtest.Program(t, "github.com/lvskit/lvskit/examples/director")
}
