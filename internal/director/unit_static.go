package director

import (
	"context"
	"errors"
	"fmt"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/netcfg"
)

// staticSpec is one line of static_ipaddress, static_routes or
// static_rules. Each line is a unit of its own, named by what it sets, so
// that a reload touches exactly the lines that changed: a changed line has
// another key, so the old one stops (its address, route or rule removed)
// and the new one starts, while every other line is kept. Addresses start
// before routes and routes before rules (a route may need an address, a
// rule a route's table), and stop in the reverse order.
type staticSpec struct {
	Kind unitKind
	Pos  keepalived.Pos
	// Item is a netcfg.Address, netcfg.Route or netcfg.Rule.
	Item fmt.Stringer
}

// staticUnits lists the plan's static lines, each once.
func (p *Plan) staticUnits() []unitSpec {
	var out []unitSpec
	seen := map[unitKey]bool{}
	add := func(s staticSpec) {
		if k := s.key(); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	for _, a := range p.Static.Addresses {
		add(staticSpec{Kind: kindStaticAddress, Pos: a.Pos, Item: a.Address})
	}
	for _, r := range p.Static.Routes {
		add(staticSpec{Kind: kindStaticRoute, Pos: r.Pos, Item: r.Route})
	}
	for _, r := range p.Static.Rules {
		add(staticSpec{Kind: kindStaticRule, Pos: r.Pos, Item: r.Rule})
	}
	return out
}

func (s staticSpec) key() unitKey { return unitKey{kind: s.Kind, name: s.Item.String()} }

// staticHost is what static lines are set on: netcfg.Host once New has
// opened it, a stand-in in Check.
type staticHost interface {
	AddAddress(netcfg.Address) (*netcfg.Change, error)
	AddRoute(netcfg.Route) (*netcfg.Change, error)
	AddRule(netcfg.Rule) (*netcfg.Change, error)
}

// build checks that there is a host network to set the line on (there is
// none when Options.Network replaces it); it changes nothing.
func (s staticSpec) build(d *Director, _ unit) (unit, error) {
	h := d.statics
	if h == nil {
		return nil, fmt.Errorf("%s: %s: the director has no host network to set it on", s.Pos, s.Kind)
	}
	u := &staticUnit{d: d, s: s}
	switch it := s.Item.(type) {
	case netcfg.Address:
		u.set = func() (*netcfg.Change, error) { return h.AddAddress(it) }
	case netcfg.Route:
		u.set = func() (*netcfg.Change, error) { return h.AddRoute(it) }
	case netcfg.Rule:
		u.set = func() (*netcfg.Change, error) { return h.AddRule(it) }
	default:
		return nil, fmt.Errorf("%s: %s: cannot set a %T", s.Pos, s.Kind, s.Item)
	}
	return u, nil
}

// uncheckedHost stands in for the host network in Check, which opens
// nothing and starts no unit: nothing is ever set on it.
type uncheckedHost struct{}

var errCheckOnly = errors.New("set: the host network is not opened by Check")

func (uncheckedHost) AddAddress(netcfg.Address) (*netcfg.Change, error) { return nil, errCheckOnly }
func (uncheckedHost) AddRoute(netcfg.Route) (*netcfg.Change, error)     { return nil, errCheckOnly }
func (uncheckedHost) AddRule(netcfg.Rule) (*netcfg.Change, error)       { return nil, errCheckOnly }

// staticUnit sets one static line when it starts and undoes exactly what
// it set when it stops: an address, route or rule that was already there
// stays.
type staticUnit struct {
	d      *Director
	s      staticSpec
	set    func() (*netcfg.Change, error)
	change *netcfg.Change
}

// start sets the line. A failure is logged and the director runs on, as
// keepalived does.
func (u *staticUnit) start(context.Context) {
	c, err := u.set()
	if err != nil {
		u.d.log.Error("set "+u.s.Kind.String(), "line", u.s.Pos.String(), "item", u.s.Item.String(), "err", err)
		return
	}
	u.change = c
}

func (u *staticUnit) stop(bool) {
	if err := u.change.Undo(); err != nil && !errors.Is(err, netcfg.ErrLinkNotFound) {
		u.d.log.Error("remove "+u.s.Kind.String(), "line", u.s.Pos.String(), "item", u.s.Item.String(), "err", err)
	}
}

func (u *staticUnit) discard() {}
