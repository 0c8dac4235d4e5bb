package director

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lvskit/lvskit/clock"
	"golang.org/x/sys/unix"
)

// This file holds the control socket (Options.ControlSocket): the status
// document and the metrics over HTTP on a Unix socket that only root can
// open, so that `director status` works without --metrics, and the
// director's health for a watchdog.

// DefaultControlSocket is where the director command listens by default
// (systemd's RuntimeDirectory=lvskit makes /run/lvskit).
const DefaultControlSocket = "/run/lvskit/director.sock"

// serveControl listens on the control socket, when one is configured, and
// serves Handler there until the returned server is shut down.
func (d *Director) serveControl() (*http.Server, error) {
	path := d.opts.ControlSocket
	if path == "" {
		return nil, nil
	}
	ln, err := d.listenControl(path)
	if errors.Is(err, ErrControlSocketTaken) && d.opts.ControlSocketOptional {
		d.log.Warn("another director holds the control socket: running without one", "path", path)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 5 * time.Second}
	d.log.Info("serving /status and /metrics on the control socket", "path", path)
	d.bg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("control socket", "err", err)
		}
	})
	return srv, nil
}

// ErrControlSocketTaken is returned when another running director holds
// the control socket's path.
var ErrControlSocketTaken = errors.New("another director holds the control socket")

// listenControl makes the socket at path readable and writable by its
// owner only (0600), in a folder it creates 0700. Ownership of the path is
// an exclusive flock on path+".lock", held for the listener's life: two
// directors started together cannot both take it (checking whether a
// socket answers, then binding, would let them), and a director that dies
// releases it with its last file descriptor. The socket is bound under a
// temporary name and renamed into place once its mode is set, so it is
// never reachable with the umask's mode; a socket left behind by a
// director that died is replaced.
func (d *Director) listenControl(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	_, err := os.Stat(dir)
	madeDir := os.IsNotExist(err)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make control socket folder: %w", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		d.log.Warn("the control socket's folder is open to others (the socket itself is 0600)", "dir", dir, "mode", fi.Mode().Perm().String())
	}
	lock, err := lockControl(path)
	if err != nil {
		return nil, err
	}
	l := &controlListener{path: path, lock: lock}
	if madeDir {
		l.dir = dir
	}
	ln, err := bindControl(path)
	if err != nil {
		l.release() // the lock, and the folder if made here
		return nil, err
	}
	l.UnixListener = ln
	return l, nil
}

// bindControl puts a listening socket of mode 0600 at path, replacing a
// stale one (the caller holds the path's lock).
func bindControl(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen on control socket: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	tmp := path + ".new-" + strconv.Itoa(os.Getpid())
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("set control socket mode: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("put control socket in place: %w", err)
	}
	return ln, nil
}

// lockControl takes the exclusive lock that owns the control socket's
// path, without waiting.
func lockControl(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock control socket: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("listen on control socket %s: %w", path, ErrControlSocketTaken)
		}
		return nil, fmt.Errorf("lock control socket: %w", err)
	}
	return f, nil
}

// controlListener removes its socket file and its lock file when closed,
// and the folder when it made it and nothing else is in it.
type controlListener struct {
	*net.UnixListener
	path string
	lock *os.File // flocked; see lockControl
	dir  string   // made by listenControl
}

func (l *controlListener) Close() error {
	err := l.UnixListener.Close()
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	l.release()
	return err
}

// release gives up the path: the lock file goes (while still locked, so
// no one takes a lock on a file about to vanish from under them, except
// in the instant between; such a director is told the path is taken), then
// the folder if listenControl made it and it is empty.
func (l *controlListener) release() {
	_ = os.Remove(l.path + ".lock")
	l.lock.Close()
	if l.dir != "" {
		_ = os.Remove(l.dir) // fails, as it should, when not empty
	}
}

// Started is closed once Run has applied the configuration: the VRRP
// instances run and every virtual service has been written to the IPVS
// table (the first sync). A service manager is told READY then.
func (d *Director) Started() <-chan struct{} { return d.started }

// healthTimeout bounds Healthy's wait for the director's lock and for a
// dump of the IPVS table.
const healthTimeout = 5 * time.Second

// Healthy reports whether the director is working: Run has started it and
// is not stopping, its state can be read (no reload or stop holds it
// stuck), and the IPVS backend answers a dump. A watchdog pings only
// while it returns nil.
func (d *Director) Healthy(ctx context.Context) error {
	ctx, cancel := clock.WithTimeout(ctx, d.clock, healthTimeout)
	defer cancel()
	select {
	case <-d.started:
	default:
		return errors.New("check health: the director has not started")
	}
	locked := make(chan bool, 1)
	go func() {
		d.mu.Lock()
		ok := d.running && !d.stopped
		d.mu.Unlock()
		locked <- ok
	}()
	select {
	case ok := <-locked:
		if !ok {
			return errors.New("check health: the director is stopping")
		}
	case <-ctx.Done():
		return fmt.Errorf("check health: the director's state stayed locked: %w", ctx.Err())
	}
	if _, err := d.backend.Dump(ctx); err != nil {
		return fmt.Errorf("check health: dump IPVS table: %w", err)
	}
	return nil
}
