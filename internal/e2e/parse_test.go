package e2e

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Output as ipvsadm 1.31 (Debian 12) prints it.
func TestParseConns(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []ipvsConn
	}{
		{name: "empty table", out: "IPVS connection entries\npro expire state       source             virtual            destination\n"},
		{
			name: "entries",
			out: "IPVS connection entries\n" +
				"pro expire state       source             virtual            destination\n" +
				"TCP 14:59  ESTABLISHED 192.168.0.50:41234 192.168.0.253:5000 192.168.0.1:5000\n" +
				"TCP 00:58  NONE        192.168.0.50:0     192.168.0.253:5000 192.168.0.1:5000\n",
			want: []ipvsConn{
				{Proto: "TCP", Expire: "14:59", State: "ESTABLISHED", Source: "192.168.0.50:41234", Virtual: "192.168.0.253:5000", Dest: "192.168.0.1:5000"},
				{Proto: "TCP", Expire: "00:58", State: "NONE", Source: "192.168.0.50:0", Virtual: "192.168.0.253:5000", Dest: "192.168.0.1:5000"},
			},
		},
		{name: "not a table", out: "Can't initialize ipvs: Protocol not available\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseConns(tt.out)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("parseConns (-want +got):\n%s", d)
			}
			for _, c := range tt.want {
				if c.Source != "192.168.0.50:41234" {
					continue
				}
				if f, ok := findConn(got, c.Source, c.Virtual); !ok || f != c {
					t.Errorf("findConn(%s, %s) = %+v, %v", c.Source, c.Virtual, f, ok)
				}
			}
			if _, ok := findConn(got, "192.168.0.50:1", "192.168.0.253:5000"); ok {
				t.Error("findConn found a connection that is not listed")
			}
		})
	}
}

func TestParseServiceStats(t *testing.T) {
	const out = "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
		"  -> RemoteAddress:Port\n" +
		"TCP  192.168.0.253:5000                  1       12        0      720        0\n" +
		"  -> 192.168.0.1:5000                    1       12        0      720        0\n"
	got, err := parseServiceStats(out, "TCP", "192.168.0.253:5000")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(serviceStats{Conns: 1, InPkts: 12, InBytes: 720}, got); d != "" {
		t.Errorf("parseServiceStats (-want +got):\n%s", d)
	}
	if _, err := parseServiceStats(out, "UDP", "192.168.0.253:5000"); err == nil {
		t.Error("found a UDP service that is not listed")
	}
	bad := "TCP  192.168.0.253:5000  1  x  0  720  0\n"
	if _, err := parseServiceStats(bad, "TCP", "192.168.0.253:5000"); err == nil {
		t.Error("no error for a non-numeric counter")
	}
}
