package compat

import (
	"regexp"

	"github.com/lvskit/lvskit/internal/director"
)

// unlined maps keepalived's messages that carry no line (its checks once
// a block is read) to the keyword of the director warning that reports
// the same correction.
var unlined = []struct {
	msg     *regexp.Regexp
	keyword string
}{
	{regexp.MustCompile(`no scheduler set, setting default`), "lb_algo"},
	{regexp.MustCompile(`no forwarding method set, setting default NAT`), "lb_kind"},
	{regexp.MustCompile(`no protocol set - defaulting to UDP`), "protocol"},
	{regexp.MustCompile(`protocol specified for fwmark - protocol will be ignored`), "protocol"},
	{regexp.MustCompile(`one packet scheduling requires UDP`), "ops"},
	{regexp.MustCompile(`has no real servers - ignoring`), "virtual_server"},
	{regexp.MustCompile(`zero port only valid for persistent services`), "virtual_server"},
	{regexp.MustCompile(`quorum .* exceeds total weight`), "quorum"},
	{regexp.MustCompile(`hysteresis .* >= quorum`), "hysteresis"},
	{regexp.MustCompile(`real server .* is duplicated`), "real_server"},
	{regexp.MustCompile(`ports don't match`), "real_server"},
	{regexp.MustCompile(`No VIP specified`), "virtual_ipaddress"},
	{regexp.MustCompile(`Initial state master is incompatible with AH authentication`), "state"},
	{regexp.MustCompile(`State MASTER must match being address owner`), "state"},
	{regexp.MustCompile(`Strict mode does not support authentication`), "authentication"},
	{regexp.MustCompile(`preempt_delay is incompatible with strict mode`), "preempt_delay"},
	{regexp.MustCompile(`accept mode for VRRP version 2 does not comply with RFC3768`), "accept"},
	{regexp.MustCompile(`^Sync group .* has only 1 virtual router`), "vrrp_sync_group"},
	{regexp.MustCompile(`^Sync group .* has no virtual router`), "vrrp_sync_group"},
	// keepalived reports these at the '}' that ends the block, the
	// director at the block's first line.
	{regexp.MustCompile(`^No script set for vrrp_script`), "vrrp_script"},
	{regexp.MustCompile(`^No file set for track_file`), "track_file"},
	{regexp.MustCompile(`^track process '.*' process name not specified`), "vrrp_track_process"},
}

// unlinedErrors are keepalived's messages without a line that stop it; the
// director must refuse the file too.
var unlinedErrors = regexp.MustCompile(`the virtual router id must be set|Unknown interface!`)

// matchCorrections reports which of keepalived's messages the director
// reports too: a message with a line needs a director diagnostic on that
// line; one without, a director warning of the keyword unlined names, or
// an error for one keepalived stops on. It returns the unmatched ones.
func matchCorrections(ms []Message, warns []director.Warning, ds []director.Diagnostic) []Message {
	lines := map[int]bool{}
	for _, d := range ds {
		lines[d.Pos.Line] = true
	}
	keywords := map[string]bool{}
	for _, w := range warns {
		keywords[w.Keyword] = true
	}
	refused := director.VerdictOf(ds) == director.Refused
	var missed []Message
	for _, m := range ms {
		ok := false
		switch {
		case m.Line > 0 && lines[m.Line]:
			ok = true
		case unlinedErrors.MatchString(m.Text):
			ok = refused
		default: // a message without a line, or reported elsewhere
			for _, u := range unlined {
				if u.msg.MatchString(m.Text) {
					ok = keywords[u.keyword]
					break
				}
			}
		}
		if !ok {
			missed = append(missed, m)
		}
	}
	return missed
}
