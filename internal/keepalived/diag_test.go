package keepalived

import "testing"

// A diagnostic is written as a compiler writes one; one without any
// position is its message alone, not ": message".
func TestDiagnosticString(t *testing.T) {
	for _, tc := range []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{Pos: Pos{File: "a.conf", Line: 3, Col: 5}, Msg: "bad"}, "a.conf:3:5: bad"},
		{Diagnostic{Pos: Pos{File: "a.conf"}, Msg: "cannot read"}, "a.conf: cannot read"},
		{Diagnostic{Msg: "no position"}, "no position"},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.d, got, tc.want)
		}
	}
}
