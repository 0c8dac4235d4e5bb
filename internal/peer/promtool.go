package peer

import (
	"os/exec"
	"strings"
	"testing"
)

// CheckMetrics runs `promtool check metrics` (Debian's prometheus package)
// on a Prometheus text exposition, as an independent reader of it, and
// fails the test with promtool's complaints.
func CheckMetrics(t testing.TB, exposition string) {
	t.Helper()
	cmd := exec.Command(need(t, "promtool"), "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
