package names

import (
	"strings"
	"testing"
)

func TestChecks(t *testing.T) {
	long := strings.Repeat("a", MaxLen+1)
	for _, tc := range []struct {
		s                 string
		text, name, iface string // the errors wanted; "" for none
	}{
		{"", "", "", ""},
		{"VI_1", "", "", ""},
		{"eth0:1", "", "", ""},
		{"Zürich", "", "", ""},
		{"V\xff1", "not valid UTF-8", "not valid UTF-8", "not valid UTF-8"},
		{"a\nb", "control character U+000A", "control character U+000A", "control character U+000A"},
		{"a\u0085b", "control character U+0085", "control character U+0085", "control character U+0085"},
		{"a\x7fb", "control character U+007F", "control character U+007F", "control character U+007F"},
		{"/bin/check\targ", "", "control character U+0009", "control character U+0009"},
		{"an_interface_16b", "", "", "16 bytes long, at most 15"},
		{long, "", "256 bytes long, at most 255", "256 bytes long, at most 15"},
	} {
		for _, c := range []struct {
			what string
			f    func(string) error
			want string
		}{{"Text", Text, tc.text}, {"Name", Name, tc.name}, {"Interface", Interface, tc.iface}} {
			err := c.f(tc.s)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("%s(%.20q) = %q, want %q", c.what, tc.s, got, c.want)
			}
		}
	}
}
