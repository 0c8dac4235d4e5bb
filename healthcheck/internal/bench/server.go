package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

var response = []byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")

// runServer is the target side: n loopback listeners answered by one
// thread with one epoll set and raw system calls, so that the server costs
// as little as possible of the two cores it shares with the checker, and
// the same for every checker (lvskit and HAProxy face this one program).
//
// Listeners use TCP_DEFER_ACCEPT, so accept returns connections whose
// request has arrived: a connection costs accept4, read, write, close
// (plus epoll_ctl only when a request comes in pieces). It prints the
// ports, then "ready", then serves until stdin closes; each line "count"
// on stdin is answered with the number of responses sent so far.
func runServer(n int) error {
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("create epoll: %w", err)
	}
	w := bufio.NewWriter(os.Stdout)
	var listener []bool // by fd
	mark := func(fd int, isListener bool) {
		for len(listener) <= fd {
			listener = append(listener, false)
		}
		listener[fd] = isListener
	}
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open listener: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 5); err != nil {
			return fmt.Errorf("set TCP_DEFER_ACCEPT: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return fmt.Errorf("bind listener: %w", err)
		}
		if err := unix.Listen(fd, 1024); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		mark(fd, true)
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return fmt.Errorf("add listener to epoll: %w", err)
		}
		fmt.Fprintln(w, sa.(*unix.SockaddrInet4).Port)
	}
	if err := unix.SetNonblock(0, true); err != nil {
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, 0, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: 0}); err != nil {
		return fmt.Errorf("add stdin to epoll: %w", err)
	}
	fmt.Fprintln(w, "ready")
	if err := w.Flush(); err != nil {
		return err
	}

	var (
		served  int64
		events  [256]unix.EpollEvent
		buf     [4096]byte
		partial = map[int][]byte{} // requests that came in pieces
		ctl     []byte
	)
	// serve reads the request on fd and answers when its head is
	// complete; it reports whether fd is finished with (answered or dead).
	serve := func(fd int) bool {
		for {
			k, err := unix.Read(fd, buf[:])
			if err == unix.EAGAIN {
				return false
			}
			if err != nil || k == 0 {
				return true
			}
			req := buf[:k]
			if p, ok := partial[fd]; ok {
				req = append(p, req...)
			}
			if bytes.Contains(req, []byte("\r\n\r\n")) {
				unix.Write(fd, response)
				served++
				return true
			}
			if len(req) > 8192 {
				return true
			}
			partial[fd] = append([]byte(nil), req...)
		}
	}
	done := func(fd int) {
		delete(partial, fd)
		unix.Close(fd)
	}
	for {
		k, err := unix.EpollWait(ep, events[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll wait: %w", err)
		}
		for _, ev := range events[:k] {
			fd := int(ev.Fd)
			switch {
			case fd == 0:
				for {
					m, err := unix.Read(0, buf[:])
					if err == unix.EAGAIN {
						break
					}
					if err != nil || m == 0 {
						return nil // the parent closed stdin: stop
					}
					ctl = append(ctl, buf[:m]...)
					for {
						i := bytes.IndexByte(ctl, '\n')
						if i < 0 {
							break
						}
						if string(ctl[:i]) == "count" {
							os.Stdout.WriteString(strconv.FormatInt(served, 10) + "\n")
						}
						ctl = ctl[i+1:]
					}
				}
			case fd < len(listener) && listener[fd]:
				for {
					c, _, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break // EAGAIN, or a connection reset before accept
					}
					mark(c, false)
					if serve(c) {
						done(c)
						continue
					}
					if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c)}); err != nil {
						done(c)
					}
				}
			default:
				if serve(fd) {
					done(fd) // close also removes fd from the epoll set
				}
			}
		}
	}
}
