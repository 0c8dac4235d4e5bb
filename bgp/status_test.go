package bgp

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A Status read back from its JSON (a director's /status, say) is the
// Status that was written.
func TestStatusJSON(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Status{
		Running: true,
		Peers: []PeerStatus{{
			Address: netip.MustParseAddr("10.0.0.254"), ASN: 65000, State: Established, Since: since,
			Flaps: 2, LastError: "BFD down", BFD: BFDUp, LocalAddress: netip.MustParseAddr("10.0.0.1"), Sent: 1,
		}, {Address: netip.MustParseAddr("fd00::fe"), ASN: 65001, Internal: true, State: Active}},
		Routes: []RouteStatus{{
			Route: Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []Community{65001<<16 | 7, NoExport}, MED: 5, LocalPref: 200},
			State: RouteAnnounced, Since: since,
		}, {Route: Route{Prefix: netip.MustParsePrefix("2001:db8::10/128")}, State: RouteWithdrawn, Since: since}},
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Status
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	eq := cmp.Options{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
	if diff := cmp.Diff(want, got, eq); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\njson: %s", diff, b)
	}
	for _, bad := range []string{`{"peers":[{"state":"dancing"}]}`, `{"routes":[{"route":{"prefix":"10.0.0.1/32","communities":["x"]}}]}`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil || !strings.Contains(err.Error(), "unmarshal") {
			t.Errorf("unmarshal %s: %v", bad, err)
		}
	}
}
