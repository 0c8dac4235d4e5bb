package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
)

// detection measures, on the wall clock, how long after a real server is
// killed its HTTP_GET monitor reports it down: runs times, each killing
// the server at a random moment between two probes. The policy's worst
// case is delay_loop + delay_before_retry (the next probe and its retry
// fail at once on a refused connection). This is the timing that the unit
// test TestDetectionOfKilledServer pins on a fake clock, measured here on
// a real one, where a busy machine shows as the excess over the bound.
func detection(runs int) (string, error) {
	policy := healthcheck.Policy{DelayLoop: 500 * time.Millisecond, DelayBeforeRetry: 200 * time.Millisecond,
		ConnectTimeout: 5 * time.Second, Warmup: -1, Bootstrap: -1}
	bound := policy.DelayLoop + policy.DelayBeforeRetry
	var took []time.Duration
	for range runs {
		d, err := detectOnce(policy)
		if err != nil {
			return "", err
		}
		took = append(took, d)
	}
	slices.Sort(took)
	pick := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	var b strings.Builder
	fmt.Fprintf(&b, "\nDetection of a killed server (HTTP_GET, delay_loop %v, delay_before_retry %v, retry 1; %d runs, killed at a random moment between probes; wall clock from the kill to the down event):\n\n",
		policy.DelayLoop, policy.DelayBeforeRetry, runs)
	fmt.Fprintf(&b, "| policy worst case | median | p90 | max | max − worst case |\n|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %v | %v | %v | %v | %+v |\n", bound, pick(0.5).Round(time.Millisecond), pick(0.9).Round(time.Millisecond),
		took[len(took)-1].Round(time.Millisecond), (took[len(took)-1] - bound).Round(time.Millisecond))
	return b.String(), nil
}

func detectOnce(policy healthcheck.Policy) (time.Duration, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	defer srv.Close()
	addr, err := netip.ParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		return 0, err
	}
	downAt := make(chan time.Time, 1)
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
		Checker: &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: addr}, URLs: []healthcheck.URL{{Path: "/"}}},
		Policy:  policy,
		OnEvent: func(e healthcheck.Event) {
			if !e.Up {
				select {
				case downAt <- time.Now():
				default:
				}
			}
		},
	})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Two probes pass (the first runs at once), then the kill comes at a
	// random moment of the steady loop.
	time.Sleep(policy.DelayLoop + rand.N(policy.DelayLoop))
	killed := time.Now()
	srv.Close()
	select {
	case at := <-downAt:
		return at.Sub(killed), nil
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("no down event within 30s of the kill")
	}
}
