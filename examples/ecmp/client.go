package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

// The client: long-lived connections that each send a request every
// interval and read the answer (HTTP/1.1 keep-alive: the real servers'
// page, which names the server), and short connections, one request each,
// that come and go meanwhile. Everything stops with its context.

const (
	pageURL      = "http://" + vip + "/"
	longInterval = 100 * time.Millisecond
	// answerTimeout is how long a long-lived connection waits for an
	// answer before it counts as broken: longer than any convergence the
	// demo causes (TCP retransmits meanwhile).
	answerTimeout = 15 * time.Second
	dialTimeout   = 3 * time.Second
)

// breakEvent is a long-lived connection that failed.
type breakEvent struct {
	At     time.Time
	Conn   int
	Server string // who served it before
	// Replaced is, for a connection that broke before its first answer
	// (Server empty), the server of the connection it replaced.
	Replaced string `json:",omitempty"`
	Err      string
}

// longConn is one long-lived connection; it reconnects after a failure,
// so that the client always holds the same number.
type longConn struct {
	id int

	mu      sync.Mutex
	sport   uint16
	server  string
	prev    string // the server of the connection before this one
	lastOK  time.Time
	since   time.Time // of the current connection
	answers int
}

type connState struct {
	ID      int
	Sport   uint16
	Server  string
	LastOK  time.Time
	Since   time.Time
	Answers int
}

func (c *longConn) state() connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return connState{c.id, c.sport, c.server, c.lastOK, c.since, c.answers}
}

type client struct {
	h     *nslab.Host
	conns []*longConn

	mu     sync.Mutex
	breaks []breakEvent

	shortOK, shortFailed atomic.Int64
	shortOn              atomic.Bool

	wg sync.WaitGroup
}

func newClient(h *nslab.Host, n int) *client {
	c := &client{h: h}
	for i := range n {
		c.conns = append(c.conns, &longConn{id: i})
	}
	return c
}

// start runs the long-lived connections and the short ones (paused until
// shortOn is set) until ctx ends.
func (c *client) start(ctx context.Context) {
	for _, lc := range c.conns {
		c.wg.Go(func() { c.runLong(ctx, lc) })
	}
	c.wg.Go(func() { c.runShort(ctx) })
}

func (c *client) wait() { c.wg.Wait() }

func (c *client) runLong(ctx context.Context, lc *longConn) {
	req := []byte("GET / HTTP/1.1\r\nHost: " + vip + "\r\nUser-Agent: lvskit-ecmp-demo\r\n\r\n")
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := c.h.Dial(dctx, "tcp", vip+":80")
		cancel()
		if err != nil {
			sleepCtx(ctx, longInterval)
			continue
		}
		lc.mu.Lock()
		lc.sport = uint16(conn.LocalAddr().(*net.TCPAddr).Port)
		if lc.server != "" {
			lc.prev = lc.server
		}
		lc.since, lc.server = time.Now(), ""
		lc.mu.Unlock()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		br := bufio.NewReader(conn)
		for ctx.Err() == nil {
			server, err := exchange(conn, br, req)
			if err != nil {
				if ctx.Err() == nil {
					lc.mu.Lock()
					b := breakEvent{At: time.Now(), Conn: lc.id, Server: lc.server, Err: err.Error()}
					if b.Server == "" {
						b.Replaced = lc.prev
					}
					lc.mu.Unlock()
					c.mu.Lock()
					c.breaks = append(c.breaks, b)
					c.mu.Unlock()
				}
				break
			}
			lc.mu.Lock()
			lc.server, lc.lastOK = server, time.Now()
			lc.answers++
			lc.mu.Unlock()
			sleepCtx(ctx, longInterval)
		}
		stop()
		conn.Close()
	}
}

// exchange sends one request on conn and reads the answer.
func exchange(conn net.Conn, br *bufio.Reader, req []byte) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(answerTimeout))
	if _, err := conn.Write(req); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return resp.Header.Get("X-Served-By"), nil
}

// runShort opens a connection for one request every 50 ms while shortOn.
func (c *client) runShort(ctx context.Context) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: c.h.DialContext, DisableKeepAlives: true}}
	var inflight sync.WaitGroup
	defer inflight.Wait()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.shortOn.Load() {
			continue
		}
		inflight.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, pageURL, nil)
			if err != nil {
				return
			}
			resp, err := hc.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			switch {
			case ctx.Err() != nil:
			case err != nil || resp.StatusCode != http.StatusOK:
				c.shortFailed.Add(1)
			default:
				c.shortOK.Add(1)
			}
		})
	}
}

// states is a snapshot of the long-lived connections.
func (c *client) states() []connState {
	out := make([]connState, len(c.conns))
	for i, lc := range c.conns {
		out[i] = lc.state()
	}
	return out
}

// breaksSince lists the failures after t.
func (c *client) breaksSince(t time.Time) []breakEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []breakEvent{}
	for _, b := range c.breaks {
		if b.At.After(t) {
			out = append(out, b)
		}
	}
	return out
}

// answeredSince reports whether every long-lived connection has had an
// answer after t.
func (c *client) answeredSince(t time.Time) bool {
	for _, s := range c.states() {
		if !s.LastOK.After(t) {
			return false
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
