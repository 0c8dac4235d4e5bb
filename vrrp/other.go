//go:build !linux

package vrrp

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// errNotLinux is returned on systems other than Linux by the parts that
// need Linux sockets or netlink.
var errNotLinux = errors.New("vrrp: raw sockets and link tracking need Linux")

// RawConfig configures NewRawTransport (Linux only).
type RawConfig struct {
	Netns      *netns.NsHandle
	Logger     *slog.Logger
	ReadBuffer int
	// BatchInterval is described with the Linux transport.
	BatchInterval time.Duration
}

// RawTransport is the Linux raw-socket transport; elsewhere Open fails.
type RawTransport struct{}

// NewRawTransport returns a transport whose Open fails outside Linux.
func NewRawTransport(RawConfig) *RawTransport { return &RawTransport{} }

func (*RawTransport) Open(EndpointConfig, func(Packet)) (Endpoint, error) { return nil, errNotLinux }

// Close does nothing.
func (*RawTransport) Close() error { return nil }

// TrackInterface is Linux only; elsewhere it reports an error.
func TrackInterface(name string, ns *netns.NsHandle) Tracker { return notLinuxTracker{} }

type notLinuxTracker struct{}

func (notLinuxTracker) Track(context.Context, func(bool)) error { return errNotLinux }

const syscallNonblock = syscall.O_NONBLOCK

func mkfifo(string) error { return errNotLinux }

// trackLevel needs inotify: Linux only.
func (f *fileTracker) trackLevel(context.Context, func(int, bool)) error { return errNotLinux }
