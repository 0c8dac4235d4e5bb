package keepalived

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"abc", "", 3}, {"smtp_chekc", "smtp_check", 1},
		{"lvs_sync_daemon_inteface", "lvs_sync_daemon_interface", 1}, {"priorty", "priority", 1},
		{"kitten", "sitting", 3}, {"ab", "ba", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := table{"priority": nil, "SMTP_CHECK": nil, "TCP_CHECK": nil, "vrrp_garp_master_delay": nil, "state": nil}
	for name, want := range map[string]string{
		"priorty":           "priority",
		"SMTP_CHEKC":        "SMTP_CHECK",
		"tcp_check":         "TCP_CHECK",
		"garp_master_delay": "vrrp_garp_master_delay",
		"stat":              "", // short words get no guess
		"completely_else":   "",
	} {
		if got := suggest(name, known, nil); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
}

// keepalived does not skip the block of an unknown keyword: it reads the
// lines inside in the enclosing block, and the '}' that closed them
// closes that block, so what follows moves up one level each time, and a
// '}' at the top level is ignored. Here the unknown block in real_server
// moves weight 7 into virtual_server and the second real_server to the
// top level, where it is unknown too.
func TestUnknownBlockLevels(t *testing.T) {
	conf := `virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.0.2 80 {
        TCP_CHEK {
            connect_timeout 4
        }
        weight 7
    }
    real_server 10.0.0.3 80 {
        weight 3
    }
}
`
	cfg, warns, err := Parse(strings.NewReader(conf), "u.conf", Options{FS: fstest.MapFS{}})
	if err != nil {
		t.Fatal(err)
	}
	vs := cfg.VirtualServers[0]
	if len(vs.RealServers) != 1 || vs.RealServers[0].ConnectTimeout.V.Seconds() != 4 || len(vs.RealServers[0].Checkers) != 0 {
		t.Errorf("real servers %+v, want 10.0.0.2 alone with connect_timeout 4 and no checker", vs.RealServers)
	}
	if vs.Weight.V != 7 {
		t.Errorf("virtual_server weight %v, want 7 (read there after the unknown block's '}')", vs.Weight)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.Pos.String()+" "+w.Keyword)
	}
	want := []string{
		"u.conf:4:9 TCP_CHEK",    // unknown in real_server
		"u.conf:9:5 real_server", // at the top level now, unknown
		"u.conf:10:9 weight",     // read at the top level
		"u.conf:11:5 }",          // real_server's '}' at the top level
		"u.conf:12:1 }",          // virtual_server's
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s\nfull:\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), warns)
	}
}
