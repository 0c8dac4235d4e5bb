package keepalived

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// Every word of a file is text, and every name is short enough for what
// it names: each refusal is an error at the word's position (names.go).
func TestNames(t *testing.T) {
	long := strings.Repeat("n", 256)
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{"instance name not UTF-8", "vrrp_instance V\xff1 {\n interface eth0\n virtual_router_id 1\n}\n", []string{
			`bad.conf:1:15: word "V\xff1": not valid UTF-8`,
		}},
		{"raw control character", "global_defs {\n router_id a\x01b\n}\n", []string{
			`bad.conf:2:12: word "a\x01b": control character U+0001`,
		}},
		{"escaped control character", "global_defs {\n router_id \"a\\cAb\"\n}\n", []string{
			`bad.conf:2:12: word "a\x01b": control character U+0001`,
		}},
		{"newline in a script", inst(`notify_master "/bin/x\ny"`), []string{
			`bad.conf:4:16: word "/bin/x\ny": control character U+000A`,
		}},
		{"C1 control character", "global_defs {\n router_id a\u0085b\n}\n", []string{
			`bad.conf:2:12: word "a\u0085b": control character U+0085`,
		}},
		{"invalid UTF-8 from a definition", "$N=\xc3\x28\nvrrp_sync_group G$N {\n group {\n  VI\n }\n}\n" + inst(), []string{
			`bad.conf:2:17: word "G\xc3(": not valid UTF-8`,
		}},
		{"tab in a name", inst() + "global_defs {\n router_id \"a\\tb\"\n}\n", []string{
			`bad.conf:7:2: router_id "a\tb": control character U+0009`,
		}},
		{"long instance name", "vrrp_instance " + long + " {\n interface eth0\n virtual_router_id 1\n}\n", []string{
			`bad.conf:1:1: vrrp_instance "` + long + `": 256 bytes long, at most 255`,
		}},
		{"long interface", "vrrp_instance VI {\n interface an_interface_16b\n virtual_router_id 1\n}\n", []string{
			`bad.conf:2:2: interface "an_interface_16b": 16 bytes long, at most 15`,
		}},
		{"long label and track_interface", inst("virtual_ipaddress {", " 10.0.0.1/24 label eth0:vip_number1", "}", "track_interface {", " eth0\xff", "}"), []string{
			`bad.conf:8:3: word "eth0\xff": not valid UTF-8`,
			`bad.conf:5:3: label "eth0:vip_number1": 16 bytes long, at most 15`,
		}},
		{"long vrrp_script name", "vrrp_script " + long + " {\n script /bin/true\n}\n", []string{
			`bad.conf:1:1: vrrp_script "` + long + `": 256 bytes long, at most 255`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErrors(t, "bad.conf", tt.conf, Options{FS: fstest.MapFS{}})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nconfig:\n%q", diff, tt.conf)
			}
		})
	}
}
