package netcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Config says which network namespace a Host configures and where it logs.
// The zero value configures the calling thread's namespace (normally the
// process's) and logs nothing.
type Config struct {
	// NetNS names the namespace: a name as `ip netns add` makes it (looked
	// up under /run/netns) or an absolute path such as /proc/PID/ns/net.
	// Empty means NetNSHandle, or when that is unset too, the namespace of
	// the thread calling Open.
	NetNS string

	// NetNSHandle is an open namespace handle, used when NetNS is empty.
	// Open duplicates it, so the caller keeps (and closes) its own. Zero
	// and negative values mean unset.
	NetNSHandle netns.NsHandle

	// Logger receives debug records of every change made. Nil discards.
	Logger *slog.Logger
}

// Host configures one network namespace: addresses, sysctls, routes,
// rules, announcements, macvlan links and NAT. Its methods are safe for
// concurrent use. Close releases the namespace handle and sockets.
type Host struct {
	ns  netns.NsHandle // our own duplicate, closed by Close
	nl  *netlink.Handle
	log *slog.Logger

	// current: the Host configures the namespace the process runs in, so
	// nothing needs setns(2), and CAP_NET_ADMIN alone is enough.
	current bool

	natMu sync.Mutex // serialises read-modify-write of the nft tables (NAT, Block)

	sockMu sync.Mutex
	socks  map[sockKey]sendSock // packet sockets for Announce, by link

	vmacMu      sync.Mutex
	vmacParents map[string]*vmacParent // by parent link name
	vmacOf      map[string]string      // VMAC name -> its parent's name

	closeOnce sync.Once
}

// Open binds a Host to the namespace cfg names.
func Open(cfg Config) (*Host, error) {
	ns, err := openNS(cfg)
	if err != nil {
		return nil, err
	}
	current := cfg.NetNS == "" && cfg.NetNSHandle <= 0 && inProcessNS(ns)
	var nl *netlink.Handle
	// Route sockets only: the default set also opens XFRM and netfilter
	// sockets, which fail on kernels without xfrm_user loaded.
	if current {
		nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	}
	if err != nil {
		ns.Close()
		return nil, withPrivilegeHint(fmt.Errorf("open netlink in network namespace: %w", err))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Host{ns: ns, nl: nl, log: log, current: current}, nil
}

func openNS(cfg Config) (netns.NsHandle, error) {
	switch {
	case cfg.NetNS != "":
		path := cfg.NetNS
		if !strings.ContainsRune(path, '/') {
			path = filepath.Join("/run/netns", path)
		}
		ns, err := netns.GetFromPath(path)
		if err != nil {
			return netns.None(), fmt.Errorf("open network namespace %q: %w", cfg.NetNS, err)
		}
		if err := checkNetNS(ns); err != nil {
			ns.Close()
			return netns.None(), fmt.Errorf("open network namespace %q: %w", cfg.NetNS, err)
		}
		return ns, nil
	case cfg.NetNSHandle > 0:
		fd, err := unix.FcntlInt(uintptr(cfg.NetNSHandle), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return netns.None(), fmt.Errorf("duplicate network namespace handle %d: %w", cfg.NetNSHandle, err)
		}
		ns := netns.NsHandle(fd)
		if err := checkNetNS(ns); err != nil {
			ns.Close()
			return netns.None(), fmt.Errorf("use network namespace handle %d: %w", cfg.NetNSHandle, err)
		}
		return ns, nil
	default:
		ns, err := netns.Get()
		if err != nil {
			return netns.None(), fmt.Errorf("open current network namespace: %w", err)
		}
		return ns, nil
	}
}

// inProcessNS reports whether ns is the namespace of the process as a
// whole (its main thread's). A caller may call Open from a locked thread
// it moved elsewhere; that Host must then enter its namespace like any
// other.
func inProcessNS(ns netns.NsHandle) bool {
	self, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		return false
	}
	defer self.Close()
	return self.Equal(ns)
}

// checkNetNS makes sure fd is a network namespace, so a wrong path fails
// at Open and not at the first change.
func checkNetNS(ns netns.NsHandle) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(ns), &st); err != nil {
		return err
	}
	if st.Type != unix.NSFS_MAGIC {
		return errors.New("not a namespace file")
	}
	return nil
}

// Close releases the netlink handle and the namespace handle. It is
// idempotent. Changes already made stay in place.
func (h *Host) Close() error {
	var err error
	h.closeOnce.Do(func() {
		h.closeSendSockets()
		h.nl.Close()
		err = h.ns.Close()
	})
	return err
}

// do runs fn on a fresh OS thread that has entered the Host's namespace.
//
// The thread stays locked and is never unlocked: when the goroutine ends,
// the Go runtime terminates a locked thread instead of returning it to the
// pool, so no other goroutine can ever run in the foreign namespace, and
// there is no "switch back" that could fail half-way.
//
// A Host of the process's own namespace skips setns(2) (which needs
// CAP_SYS_ADMIN even to enter the namespace one is in): any thread of
// the pool is in it, as long as nobody leaks a thread elsewhere.
//
// Everything that is bound to a namespace at creation time goes through
// here: opening /proc/sys files (procfs resolves /proc/sys/net against the
// opening task's namespace; the open file then stays bound to it) and
// creating packet sockets (a socket belongs to the namespace it was made
// in, whichever thread uses it later).
func (h *Host) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		if h.current {
			errc <- fn()
			return
		}
		runtime.LockOSThread()
		if err := netns.Set(h.ns); err != nil {
			errc <- withPrivilegeHint(fmt.Errorf("enter network namespace: %w", err))
			return
		}
		errc <- fn()
	}()
	return <-errc
}
