package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Backend kinds for OpenConfig.Kind.
const (
	KindAuto      = "auto"
	KindNetlink   = "netlink"
	KindUserspace = "userspace"
	KindMemory    = "memory"
)

// OpenConfig says which backend Open returns and how to build it.
type OpenConfig struct {
	// Kind is "netlink", "userspace", "memory", or "auto". Empty means
	// "auto": the kernel's IPVS where it has it, else the userspace proxy.
	Kind string

	// Netlink configures the netlink backend (namespace, batching).
	// Its Logger defaults to Logger.
	Netlink NetlinkConfig

	// Userspace configures the userspace backend. Its Logger defaults to
	// Logger.
	Userspace UserspaceConfig

	// Logger is told which backend was chosen and why. Nil discards.
	Logger *slog.Logger
}

// Open returns the backend cfg asks for. With Kind "auto" it opens the
// netlink backend and falls back to the userspace one only when the kernel
// has no IPVS (an error wrapping ErrNotSupported), logging the reason; any
// other netlink error (no CAP_NET_ADMIN, say) is returned, never hidden by
// a downgrade.
func Open(ctx context.Context, cfg OpenConfig) (Backend, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Netlink.Logger == nil {
		cfg.Netlink.Logger = log
	}
	if cfg.Userspace.Logger == nil {
		cfg.Userspace.Logger = log
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open ipvs backend: %w", err)
	}
	switch cfg.Kind {
	case "", KindAuto:
		n, err := OpenNetlink(cfg.Netlink)
		if err == nil {
			log.Info("ipvs: using the kernel's IPVS over netlink", "backend", KindNetlink)
			return n, nil
		}
		if !errors.Is(err, ErrNotSupported) {
			return nil, fmt.Errorf("open ipvs backend: %w", err)
		}
		u, uerr := NewUserspace(cfg.Userspace)
		if uerr != nil {
			return nil, fmt.Errorf("open ipvs backend: kernel: %v; userspace: %w", err, uerr)
		}
		log.Info("ipvs: kernel has no IPVS, using the userspace proxy", "backend", KindUserspace, "reason", err.Error())
		return u, nil
	case KindNetlink:
		n, err := OpenNetlink(cfg.Netlink)
		if err != nil {
			return nil, err
		}
		log.Info("ipvs: using the kernel's IPVS over netlink", "backend", KindNetlink)
		return n, nil
	case KindUserspace:
		u, err := NewUserspace(cfg.Userspace)
		if err != nil {
			return nil, fmt.Errorf("open ipvs backend: %w", err)
		}
		log.Info("ipvs: using the userspace proxy", "backend", KindUserspace)
		return u, nil
	case KindMemory:
		log.Info("ipvs: using an in-memory table", "backend", KindMemory)
		return NewMemory(), nil
	}
	return nil, fmt.Errorf("open ipvs backend: kind %q: not auto, netlink, userspace or memory: %w", cfg.Kind, ErrInvalid)
}
