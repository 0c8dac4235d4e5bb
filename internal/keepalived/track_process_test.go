package keepalived

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vrrp_track_process blocks keepalived 2.2.7 corrects (its messages, from
// keepalived -t on the same lines, in the comments): the file runs, each
// correction is a warning at its line.
func TestTrackProcessCorrections(t *testing.T) {
	text := `vrrp_track_process NOPROC {
    weight 10
}
vrrp_track_process MAXFIRST {
    process sleep
    quorum_max 2
    quorum 5
}
vrrp_track_process QUORUMFIRST {
    process sleep
    quorum 5
    quorum_max 2
    param_match bogus
}
vrrp_track_process NONE {
    process sleep
    quorum 1
    quorum_max 0
}
vrrp_instance V {
    interface eth0
    virtual_router_id 9
    track_process {
        NOPROC
        MAXFIRST
    }
}
`
	name := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := ParseFile(name, Options{})
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	type w struct {
		Line, Col int
		Keyword   string
	}
	var got []w
	for _, x := range warns {
		got = append(got, w{x.Pos.Line, x.Pos.Col, x.Keyword})
	}
	want := []w{
		{1, 1, "vrrp_track_process"}, // track process 'NOPROC' process name not specified
		{7, 5, "quorum"},             // Quorum is greater than quorum_max - ignoring
		{12, 5, "quorum_max"},        // quorum_max is less than quorum - ignoring
		{13, 17, "param_match"},      // Invalid param_match type bogus - ignoring
		{24, 9, "track_process"},     // (V) track process NOPROC not found, ignoring...
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	byName := map[string]TrackProcess{}
	for _, p := range cfg.TrackProcesses {
		byName[p.Name] = p
	}
	if _, ok := byName["NOPROC"]; ok {
		t.Error("the block without a process is kept")
	}
	if p := byName["MAXFIRST"]; p.Quorum.Set() || p.QuorumMax.V != 2 {
		t.Errorf("MAXFIRST: quorum %v, quorum_max %v; want quorum unset, quorum_max 2", p.Quorum, p.QuorumMax)
	}
	if p := byName["QUORUMFIRST"]; p.Quorum.V != 5 || p.QuorumMax.Set() || p.ParamMatch.Set() {
		t.Errorf("QUORUMFIRST: quorum %v, quorum_max %v, param_match %v; want 5, unset, unset", p.Quorum, p.QuorumMax, p.ParamMatch)
	}
	if p := byName["NONE"]; p.Quorum.V != 1 || !p.QuorumMax.Set() || p.QuorumMax.V != 0 {
		t.Errorf("NONE: quorum %v, quorum_max %v; want 1, 0", p.Quorum, p.QuorumMax)
	}
	if refs := cfg.Instances[0].TrackProcesses; len(refs) != 1 || refs[0].Name != "MAXFIRST" {
		t.Errorf("instance's track_process = %+v, want MAXFIRST alone", refs)
	}
}
