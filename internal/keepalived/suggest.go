package keepalived

import (
	"fmt"
	"strings"
)

// This file reports unknown keywords: keepalived logs and skips them, and
// so does lvskit, with a "did you mean" from the keywords of the block and
// what keepalived does with the line (and with a block after it: see
// decodeBlock).

// checkerTypes are the blocks of a real_server that are health checks.
var checkerTypes = set(string(HTTPGet), string(SSLGet), string(TCPCheck), string(UDPCheck),
	string(DNSCheck), string(SMTPCheck), string(PingCheck), string(MiscCheck), string(FileCheck), "BFD_CHECK")

// unknown warns about the unknown keyword c of block ctx ("" at the top
// level), whose known keywords are those of t and ignored.
func (d *decoder) unknown(ctx string, c *node, t table, ignored map[string]bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown keyword %q", c.name)
	if ctx != "" {
		fmt.Fprintf(&b, " in %s", ctx)
	}
	s := suggest(c.name, t, ignored)
	if s != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", s)
	}
	b.WriteString(": ignored, as keepalived does")
	if h := unknownHint(ctx, c, s); h != "" {
		b.WriteString("; " + h)
	}
	if c.block {
		if ctx == "" {
			b.WriteString("; keepalived also ignores its '{', so the lines inside are read at the top level")
		} else {
			fmt.Fprintf(&b, "; keepalived also ignores its '{', so the lines inside are read as %s's and its '}' ends %s", ctx, ctx)
		}
	}
	d.warnf(c.pos, c.name, "%s", b.String())
}

// unknownHint explains unknown keywords that real files hold for a
// reason: a misspelt checker, keywords keepalived no longer knows, sync
// group members outside group { }.
func unknownHint(ctx string, c *node, suggestion string) string {
	switch {
	case checkerTypes[suggestion] || ctx == "real_server" && strings.HasSuffix(strings.ToUpper(c.name), "_CHECK") ||
		ctx == "real_server" && strings.HasSuffix(strings.ToUpper(c.name), "_GET"):
		return "A MISSPELT CHECKER IS NO CHECK AT ALL: this real server is not checked by it"
	case c.name == "lvs_id":
		return "keepalived 2.2.7 no longer knows lvs_id (it is not router_id)"
	case c.name == "nat_mask":
		return "keepalived 2.2.7 no longer knows nat_mask"
	case c.name == "nb_get_retry" && checkerTypes[ctx]:
		return "keepalived 2.2.7 knows nb_get_retry only in HTTP_GET and SSL_GET, so this checker keeps its default retry; write retry"
	case ctx == "vrrp_sync_group" && suggestion == "" && len(c.args) == 0 && !c.block:
		return "the instances of a sync group go inside group { }"
	}
	return ""
}

// suggest returns the known keyword closest to name, or "" when none is
// close: equal but for case, within 1 edit of a name of 5 or more
// characters or 2 edits of one of 8 or more, or equal but for keepalived's
// "vrrp_" prefix of global settings (garp_master_delay in global_defs is
// vrrp_garp_master_delay).
func suggest(name string, t table, ignored map[string]bool) string {
	lname := strings.ToLower(name)
	limit := 0
	switch {
	case len(name) >= 8:
		limit = 2
	case len(name) >= 5:
		limit = 1
	}
	best, bestDist := "", limit+1
	consider := func(k string) {
		lk := strings.ToLower(k)
		dist := limit + 1 // not close
		switch {
		case lk == "vrrp_"+lname || lname == "vrrp_"+lk:
			dist = min(editDistance(lname, lk), 1)
		case abs(len(lk)-len(lname)) <= limit:
			// The distance is at least the difference in length: only
			// names that could be close are measured, so that a file of
			// many unknown words (FuzzLoad's) costs little.
			dist = editDistance(lname, lk)
		}
		if dist <= limit && (dist < bestDist || dist == bestDist && k < best) {
			best, bestDist = k, dist
		}
	}
	for k := range t {
		consider(k)
	}
	for k := range ignored {
		consider(k)
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
