package netcfg

import (
	"errors"
	"fmt"
	"syscall"
	"unicode"

	"github.com/vishvananda/netlink"
)

// ErrLinkNotFound is wrapped by every error about an interface that does
// not exist in the Host's namespace, so callers can wait for one to appear.
var ErrLinkNotFound = errors.New("no such interface")

// withPrivilegeHint adds what privilege is missing to EPERM/EACCES from
// the kernel, keeping the errno for errors.Is.
func withPrivilegeHint(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (needs CAP_NET_ADMIN in the network namespace, and CAP_SYS_ADMIN to enter it)", err)
	}
	return err
}

// link resolves an interface name in the Host's namespace.
func (h *Host) link(name string) (netlink.Link, error) {
	if name == "" {
		return nil, errors.New("no interface name given")
	}
	if err := validLinkName(name); err != nil {
		return nil, err
	}
	l, err := h.nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) {
			return nil, fmt.Errorf("interface %q: %w", name, ErrLinkNotFound)
		}
		return nil, withPrivilegeHint(fmt.Errorf("find interface %q: %w", name, err))
	}
	return l, nil
}

func validLinkName(name string) error {
	if len(name) == 0 || len(name) > 15 {
		return fmt.Errorf("interface name %q: must be 1 to 15 bytes", name)
	}
	for _, c := range name {
		if c == '/' || c == ':' || c == 0 || unicode.IsSpace(c) {
			return fmt.Errorf("interface name %q: contains %q", name, c)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("interface name %q is not allowed", name)
	}
	return nil
}
