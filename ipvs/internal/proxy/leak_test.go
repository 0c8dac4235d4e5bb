package proxy

import (
	"flag"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var leakConns = flag.Int("proxy.leakconns", 20000, "connections in TestNoFDLeak (the issue's full run is 100000)")

// TestNoFDLeak runs a bounded number of short connections through the
// proxy and checks that the process has as many file descriptors after
// Close as before (goroutines are checked by goleak in TestMain).
func TestNoFDLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	before := countFDs(t)
	func() {
		a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
		p := New(Config{CopyGoroutines: *copyGoroutines})
		defer p.Close()
		k := addService(t, p, ServiceConfig{Scheduler: "wlc"}, map[*backend]int{a: 1, b: 1}, a, b)
		var done, failed atomic.Int64
		var wg sync.WaitGroup
		const workers = 16
		per := *leakConns / workers
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64)
				// Spread clients over source addresses so TIME_WAIT
				// entries do not exhaust one address's ports.
				// The bounds are for a broken proxy, not timings: a SYN
				// dropped by a full backlog is resent after 1, 3, 7 s.
				d := net.Dialer{Timeout: 20 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+w))}}
				for range per {
					c, err := d.Dial("tcp", k.Addr.String())
					if err != nil {
						failed.Add(1)
						continue
					}
					c.SetDeadline(time.Now().Add(20 * time.Second))
					c.Write([]byte("ping"))
					c.(*net.TCPConn).CloseWrite()
					n, _ := io.ReadFull(c, buf[:7]) // "a\nping" or "b\nping"
					if n != 6 {
						failed.Add(1)
					}
					io.Copy(io.Discard, c)
					c.Close()
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		s := serviceStatus(t, p, k)
		t.Logf("%d connections in %v (%.0f/s), %d failed; service conns=%d bytes in=%d out=%d",
			done.Load(), el.Round(time.Millisecond), float64(done.Load())/el.Seconds(), failed.Load(), s.Stats.Conns, s.Stats.BytesIn, s.Stats.BytesOut)
		if failed.Load() != 0 {
			t.Errorf("%d connections failed", failed.Load())
		}
		if got, want := s.Stats.Conns, uint64(per*workers); got != want {
			t.Errorf("service counted %d connections, want %d", got, want)
		}
		eventually(t, "all released", func() bool {
			s := serviceStatus(t, p, k)
			return s.Dests[0].ActiveConns+s.Dests[0].InactiveConns+s.Dests[1].ActiveConns+s.Dests[1].InactiveConns == 0
		})
		p.Close()
		a.close()
		b.close()
	}()
	// Go keeps splice pipes in a sync.Pool that GC empties (closing them
	// in a finalizer): collect before counting.
	// Bounded in time, not in rounds: on a loaded machine the finalizer
	// goroutine may not run for a second or two.
	var after int
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		runtime.GC()
		if after = countFDs(t); after <= before || time.Now().After(deadline) {
			break
		}
	}
	if after > before {
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			t.Logf("fd %s -> %s", e.Name(), l)
		}
	}
	if after > before {
		t.Errorf("file descriptors: %d before, %d after", before, after)
	}
	t.Logf("file descriptors: %d before, %d after", before, after)
}
