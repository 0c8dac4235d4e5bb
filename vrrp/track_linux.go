package vrrp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TrackInterface is keepalived's track_interface: up while the link is
// administratively up and its carrier is not down. ns is the namespace
// of the link; nil means the caller's. A link that does not exist is
// reported down after a second on the instance's clock.
func TrackInterface(name string, ns *netns.NsHandle) Tracker {
	return &linkTracker{name: name, ns: ns}
}

type linkTracker struct {
	name  string
	ns    *netns.NsHandle
	clock Clock // nil: the system clock
}

func (l *linkTracker) onClock(c Clock) Tracker {
	m := *l
	m.clock = c
	return &m
}

func linkUp(l netlink.Link) bool {
	a := l.Attrs()
	return a.Flags&1 != 0 && a.OperState != netlink.OperDown && a.OperState != netlink.OperLowerLayerDown
}

func (l *linkTracker) Track(ctx context.Context, report func(up bool)) error {
	ch := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	var errs = make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{
		Namespace:    l.ns,
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		return fmt.Errorf("subscribe to links: %w", err)
	}
	seen := false
	var lastErr error
	// The subscription lists the existing links first: one not among them
	// after a second does not exist.
	missing := clock.Or(l.clock).NewTimer(time.Second)
	defer missing.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			// The subscription reports, and goes on after, messages it
			// skips — such as one sent to the link group by another
			// process in the namespace ("wrong sender portid") — and ends
			// by closing the channel, so only that is fatal.
			lastErr = err
		case u, ok := <-ch:
			if !ok {
				return errors.Join(fmt.Errorf("watch link %s: subscription closed", l.name), lastErr)
			}
			if u.Link.Attrs().Name != l.name {
				continue
			}
			seen = true
			report(linkUp(u.Link) && u.Header.Type != 17 /* RTM_DELLINK */)
		case <-missing.C():
			if !seen {
				report(false) // the link does not exist
				seen = true
			}
		}
	}
}
