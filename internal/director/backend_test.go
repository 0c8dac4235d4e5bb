package director

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lvskit/lvskit/ipvs"
)

// TestCountingBackendShowsWhatItWraps: the director's write counter must
// not hide what the backend exports itself (the userspace proxy's
// descriptor budget and refusals).
func TestCountingBackendShowsWhatItWraps(t *testing.T) {
	u, err := ipvs.NewUserspace(ipvs.UserspaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ipvs.NewCollector(&countingBackend{Backend: u}, ipvs.CollectorConfig{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "lvskit_ipvs_proxy_fd_limit") {
		t.Errorf("gathered %v through the counting wrapper, want lvskit_ipvs_proxy_fd_limit", names)
	}
}
