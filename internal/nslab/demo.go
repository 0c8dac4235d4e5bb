package nslab

import (
	"context"
	"strings"
	"time"
)

// What the demo programs (examples/cluster, examples/ecmp) share besides
// the lab itself: polling it, and checking that a run left nothing.

// WaitFor polls cond every interval until it holds, the timeout passes or
// ctx ends, and reports whether it held.
func WaitFor(ctx context.Context, timeout, interval time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
}

// LeftBehind lists the namespaces of a lab with this prefix that still
// exist (after Close, none should); never nil.
func LeftBehind(prefix string) ([]string, error) {
	names, err := Namespaces()
	left := []string{}
	for _, n := range names {
		if strings.HasPrefix(n, prefix+"-") {
			left = append(left, n)
		}
	}
	return left, err
}
