package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Backend kinds for OpenConfig.Kind and Choice.Kind.
const (
	KindAuto      = "auto"
	KindNetlink   = "netlink"
	KindNFTables  = "nftables"
	KindUserspace = "userspace"
	KindMemory    = "memory"
)

// OpenConfig says which backend Open returns and how to build it.
type OpenConfig struct {
	// Kind is "netlink", "nftables", "userspace", "memory", or "auto".
	// Empty means "auto": the kernel's IPVS where it has it, else
	// nftables, else the userspace proxy.
	Kind string

	// Netlink configures the netlink backend (namespace, batching).
	// Its Logger defaults to Logger.
	Netlink NetlinkConfig

	// NFTables configures the nftables backend. Its Netns defaults to
	// Netlink.Netns and its Logger to Logger.
	NFTables NFTablesConfig

	// Userspace configures the userspace backend. Its Logger defaults to
	// Logger.
	Userspace UserspaceConfig

	// Logger is told which backend was chosen and why. Nil discards.
	Logger *slog.Logger
}

// Choice is what Open chose and why, for a program to tell its user.
type Choice struct {
	// Kind is the backend opened: KindNetlink, KindNFTables, KindUserspace
	// or KindMemory.
	Kind string
	// Reason says why, in words: "asked for", or for "auto" what the
	// better backends answered ("the kernel has no IPVS: ...").
	Reason string
}

// Open returns the backend cfg asks for, and which it is and why. With Kind
// "auto" it tries, in order, the netlink backend (kernel IPVS), the
// nftables backend and the userspace proxy, going on to the next only when
// the kernel lacks what the previous needs (an error wrapping
// ErrNotSupported), and logs which it chose and why; any other error (no
// CAP_NET_ADMIN, say) is returned, never hidden by a downgrade.
func Open(ctx context.Context, cfg OpenConfig) (Backend, Choice, error) {
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
	if cfg.NFTables.Logger == nil {
		cfg.NFTables.Logger = log
	}
	if cfg.NFTables.Netns <= 0 {
		cfg.NFTables.Netns = cfg.Netlink.Netns
	}
	if err := ctx.Err(); err != nil {
		return nil, Choice{}, fmt.Errorf("open ipvs backend: %w", err)
	}
	b, ch, err := open(cfg)
	if err != nil {
		return nil, Choice{}, fmt.Errorf("open ipvs backend: %w", err)
	}
	log.Info("ipvs: backend chosen", "backend", ch.Kind, "reason", ch.Reason)
	return b, ch, nil
}

func open(cfg OpenConfig) (Backend, Choice, error) {
	asked := Choice{Kind: cfg.Kind, Reason: "asked for"}
	switch cfg.Kind {
	case "", KindAuto:
		n, err := OpenNetlink(cfg.Netlink)
		if err == nil {
			return n, Choice{Kind: KindNetlink, Reason: "the kernel has IPVS"}, nil
		}
		if !errors.Is(err, ErrNotSupported) {
			return nil, Choice{}, err
		}
		f, ferr := OpenNFTables(cfg.NFTables)
		if ferr == nil {
			return f, Choice{Kind: KindNFTables, Reason: fmt.Sprintf("the kernel has no IPVS (%v) but has nf_tables", err)}, nil
		}
		if !errors.Is(ferr, ErrNotSupported) {
			return nil, Choice{}, fmt.Errorf("kernel IPVS: %v; nftables: %w", err, ferr)
		}
		u, uerr := NewUserspace(cfg.Userspace)
		if uerr != nil {
			return nil, Choice{}, fmt.Errorf("kernel IPVS: %v; nftables: %v; userspace: %w", err, ferr, uerr)
		}
		return u, Choice{Kind: KindUserspace, Reason: fmt.Sprintf("the kernel has no IPVS (%v) and no nf_tables (%v)", err, ferr)}, nil
	case KindNetlink:
		n, err := OpenNetlink(cfg.Netlink)
		if err != nil {
			return nil, Choice{}, err
		}
		return n, asked, nil
	case KindNFTables:
		f, err := OpenNFTables(cfg.NFTables)
		if err != nil {
			return nil, Choice{}, err
		}
		return f, asked, nil
	case KindUserspace:
		u, err := NewUserspace(cfg.Userspace)
		if err != nil {
			return nil, Choice{}, err
		}
		return u, asked, nil
	case KindMemory:
		return NewMemory(), asked, nil
	}
	return nil, Choice{}, fmt.Errorf("kind %q: not auto, netlink, nftables, userspace or memory: %w", cfg.Kind, ErrInvalid)
}

// CapabilitiesOf returns what a backend of the given kind can carry,
// without opening one (for checking a configuration ahead of running it).
// For "auto" it returns false: what auto opens depends on the kernel.
func CapabilitiesOf(kind string) (Capabilities, bool) {
	switch kind {
	case KindNetlink, KindMemory:
		return KernelCapabilities(), true
	case KindNFTables:
		return NFTablesCapabilities(), true
	case KindUserspace:
		return userspaceCapabilities(), true
	}
	return Capabilities{}, false
}
