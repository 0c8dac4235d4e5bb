package compat

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/lvskit/lvskit/internal/nslab"
)

// ifaceWords are keywords followed by an interface name.
var ifaceWords = regexp.MustCompile(`(?m)(?:^|\s)(?:interface|dev|lvs_sync_daemon_interface|lvs_sync_daemon|bind_if|default_interface)\s+([A-Za-z][\w.:-]*)`)

// validIface reports whether s can be a link name (IFNAMSIZ, no '/' or
// blanks; ':' is a label, not part of the name).
func validIface(s string) bool {
	return s != "" && len(s) <= 15 && !strings.ContainsAny(s, "/: \t")
}

// interfaces lists the links a configuration names, so that keepalived
// finds them: eth0 to eth3 always (samples and defaults use them), the
// words after interface, dev, lvs_sync_daemon and friends, and the lines
// of track_interface blocks.
func interfaces(text string) []string {
	set := map[string]bool{"eth0": true, "eth1": true, "eth2": true, "eth3": true}
	for _, m := range ifaceWords.FindAllStringSubmatch(text, -1) {
		name, _, _ := strings.Cut(m[1], ":") // eth0:1 is a label of eth0
		if validIface(name) {
			set[name] = true
		}
	}
	in := false
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "track_interface":
			in = true
		case in && len(f) > 0 && f[0] == "}":
			in = false
		case in && len(f) > 0 && validIface(f[0]):
			set[f[0]] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	if len(out) > 32 {
		out = out[:32]
	}
	return out
}

// addLink makes an ifb link named name in h, up, with multicast and ARP
// (keepalived refuses multicast VRRP and disables ARP on a link without).
func addLink(h *nslab.Host, name string) error {
	nl := h.Netlink()
	if err := nl.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		return fmt.Errorf("add ifb link %s: %w", name, err)
	}
	l, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	for _, set := range []func(netlink.Link) error{nl.LinkSetMulticastOn, nl.LinkSetARPOn, nl.LinkSetUp} {
		if err := set(l); err != nil {
			return fmt.Errorf("set up link %s: %w", name, err)
		}
	}
	return nil
}
