package compat

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/netnstest"
)

// The parser of keepalived's messages, on keepalived -t's output for a
// file of the cases (recorded from keepalived 2.2.7).
func TestParseMessages(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "keepalived", "t_issue_cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := parseMessages(string(out))
	want := []Message{
		{3, "Unknown keyword 'lvs_id'"},
		{4, "number '0' outside range [0.000001, 4294.967295]"},
		{4, "vrrp_garp_interval '0' is invalid"},
		{22, "PARSER : unknown [dr] routing method for virtual server."},
		{24, "Unknown keyword 'nat_mask'"},
		{27, "Unknown keyword 'nb_get_retry'"},
		{29, "Unknown keyword 'SMTP_CHEKC'"},
		{29, "Unexpected '{' - ignoring"},
		{32, "Unknown keyword '}'"},
		{0, "Virtual server [192.168.100.100]:udp:53: no scheduler set, setting default 'wlc'"},
		{0, "Virtual server [192.168.100.100]:udp:53: no forwarding method set, setting default NAT"},
		{7, "(VI_1) unknown state 'master', defaulting to BACKUP"},
		{14, "Truncating auth_pass to 8 characters"},
		{0, "(VI_1) No VIP specified; at least one is sensible"},
		{0, "(VI_1) No VIP specified; at least one is sensible"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}

	// Every one of them the director reports too.
	conf := filepath.Join("testdata", "keepalived", "t_issue_cases.conf")
	_, warns, err := director.Load(conf, "")
	if missed := matchCorrections(got, warns, director.Report(warns, err)); len(missed) > 0 {
		t.Errorf("keepalived's corrections the director does not report: %v", missed)
	}
}

// The parser of keepalived's VRRP dump (recorded from keepalived 2.2.7 on
// family_vrrp_instance.conf), and the same values from the director's
// plan of that file.
func TestParseDump(t *testing.T) {
	log, err := os.ReadFile(filepath.Join("testdata", "keepalived", "dump_family_vrrp_instance.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := parseDump(string(log))
	// keepalived's parent process may write a line into the middle of its
	// child's dump: it must not end a list.
	interleaved := strings.Replace(string(log), "10.1.1.1/24 dev eth0 scope global label eth0:1\n",
		"10.1.1.1/24 dev eth0 scope global label eth0:1\nThu Dec  3 14:00:22 2026: Startup complete\n", 1)
	if interleaved == string(log) {
		t.Fatal("the sample dump lacks the VIP line the test interleaves after")
	}
	if diff := cmp.Diff(got, parseDump(interleaved)); diff != "" {
		t.Errorf("dump with a line of the parent process inside (-plain +interleaved):\n%s", diff)
	}
	want := Values{
		"global router_id": "vm", "global garp_interval": "0s", "global gna_interval": "0s",
		"VI_1 version": "2", "VI_1 state": "BACKUP", "VI_1 vrid": "51", "VI_1 priority": "150",
		"VI_1 advert_int": "2s", "VI_1 preempt": "disabled", "VI_1 auth_type": "PASS", "VI_1 auth_pass": "secret",
		"VI_1 vips":    "10.1.1.1/24 10.1.1.2/24",
		"VI_6 version": "3", "VI_6 state": "BACKUP", "VI_6 vrid": "61", "VI_6 priority": "90",
		"VI_6 advert_int": "500ms", "VI_6 preempt": "enabled", "VI_6 vips": "2001:db8::100/64",
		"VI_6 src": "2001:db8::1", "VI_6 peers": "2001:db8::2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dump (-want +got):\n%s", diff)
	}
	cases, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	for _, c := range cases {
		if c.Name == "family_vrrp_instance" {
			if err := os.WriteFile(conf, c.Text, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	plan, _, err := director.Load(conf, "vm")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffValues(got, planValues(plan, true)); len(d) > 0 {
		t.Errorf("director's values differ from keepalived's:\n%s", strings.Join(d, "\n"))
	}
}

func TestInterfaces(t *testing.T) {
	text := "vrrp_instance V {\n interface bond0.7\n track_interface {\n  eth5 weight 2\n }\n virtual_ipaddress {\n  10.0.0.1 dev eth6 label eth6:1\n }\n}\nglobal_defs {\n lvs_sync_daemon eth7 VI_1\n}\n"
	want := []string{"bond0.7", "eth0", "eth1", "eth2", "eth3", "eth5", "eth6", "eth7"}
	if diff := cmp.Diff(want, interfaces(text)); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
}

// The fidelity suite: every case and every Debian sample through
// keepalived 2.2.7 and the director, in namespaces. Each row must agree
// with keepalived on the verdict, the VRRP values and keepalived's
// corrections, or be named in Differences (and a named one must still
// differ); no sample may be refused but for a named reason.
func TestIntegrationCompat(t *testing.T) {
	netnstest.RequireRoot(t)
	if _, err := os.Stat("/usr/sbin/keepalived"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("keepalived is not installed (scripts/install-test-deps.sh)")
		}
		t.Skip("keepalived is not installed")
	}
	cases, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	samples, err := Samples(SamplesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) == 0 {
		t.Fatalf("no samples in %s (Debian's keepalived package ships them)", SamplesDir)
	}
	rows, err := Run(context.Background(), append(cases, samples...), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", Table(rows))
	for _, r := range rows {
		d := r.Differences()
		_, named := Differences[r.Case.Name]
		switch {
		case len(d) > 0 && !named:
			t.Errorf("%s differs from keepalived without a reason in Differences: %s\nkeepalived:\n%s\ndirector: %v",
				r.Case.Name, strings.Join(d, "; "), r.Output, r.Diagnostics)
		case len(d) == 0 && named:
			t.Errorf("%s is named in Differences but no longer differs", r.Case.Name)
		}
		if r.Case.Kind == "sample" && r.Director == Refused && !named {
			t.Errorf("sample %s is refused", r.Case.Name)
		}
	}
	if len(rows) != len(cases)+len(samples) {
		t.Errorf("%d rows for %d files", len(rows), len(cases)+len(samples))
	}
}
