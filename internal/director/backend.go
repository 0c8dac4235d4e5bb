package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/lvskit/lvskit/ipvs"
)

// Backend names accepted by Options.Backend.
const (
	BackendAuto      = "auto"
	BackendNetlink   = "netlink"
	BackendUserspace = "userspace"
)

// openBackend opens the IPVS backend asked for. "auto" takes the kernel's
// table where the kernel has IPVS and the userspace proxy otherwise. It
// returns the backend, its name and why it was chosen.
func openBackend(want string, log *slog.Logger) (ipvs.Backend, string, string, error) {
	switch want {
	case "", BackendAuto:
		nl, err := ipvs.OpenNetlink(ipvs.NetlinkConfig{Logger: log})
		if err == nil {
			return nl, BackendNetlink, "the kernel has IPVS", nil
		}
		u, uerr := ipvs.NewUserspace(ipvs.UserspaceConfig{Logger: log})
		if uerr != nil {
			return nil, "", "", fmt.Errorf("open userspace backend: %w", uerr)
		}
		reason := fmt.Sprintf("the kernel has no usable IPVS (%v), so the director proxies in userspace", err)
		if !errors.Is(err, ipvs.ErrNotSupported) {
			reason = fmt.Sprintf("kernel IPVS could not be opened (%v), so the director proxies in userspace", err)
		}
		return u, BackendUserspace, reason, nil
	case BackendNetlink:
		nl, err := ipvs.OpenNetlink(ipvs.NetlinkConfig{Logger: log})
		if err != nil {
			return nil, "", "", fmt.Errorf("open netlink backend: %w", err)
		}
		return nl, BackendNetlink, "asked for with --backend netlink", nil
	case BackendUserspace:
		u, err := ipvs.NewUserspace(ipvs.UserspaceConfig{Logger: log})
		if err != nil {
			return nil, "", "", fmt.Errorf("open userspace backend: %w", err)
		}
		return u, BackendUserspace, "asked for with --backend userspace", nil
	}
	return nil, "", "", fmt.Errorf("open backend: unknown backend %q (want auto, netlink or userspace)", want)
}

// countingBackend counts the operations applied to a backend, so that a
// reload can be shown to touch only what changed.
type countingBackend struct {
	ipvs.Backend
	writes atomic.Uint64
}

func (c *countingBackend) Apply(ctx context.Context, ops []ipvs.Op) error {
	err := c.Backend.Apply(ctx, ops)
	n := len(ops)
	var ae *ipvs.ApplyError
	if errors.As(err, &ae) {
		n = ae.Index
	} else if err != nil {
		n = 0
	}
	c.writes.Add(uint64(n))
	return err
}
