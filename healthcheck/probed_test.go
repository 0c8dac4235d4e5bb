package healthcheck_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/healthcheck"
)

// Probed is false until a probe is counted: a probe that failed for a
// local reason is not; a failed one, starting down with alpha (no
// transition, no event), is.
func TestMonitorProbed(t *testing.T) {
	clock := clocktest.New(t0)
	local := step{err: &healthcheck.LocalError{Err: errors.New("no buffer space")}}
	s := &script{clock: clock, steps: []step{local, fail()}}
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{Checker: s, Clock: clock,
		Policy: noWarmup(healthcheck.Policy{Alpha: true})})
	if err != nil {
		t.Fatal(err)
	}
	if m.Probed() {
		t.Fatal("probed before running")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	probe := func() {
		clock.BlockUntil(1)
		clock.AdvanceToNext()
		clock.BlockUntil(1) // that probe is over, the next scheduled
	}
	probe()
	if m.Probed() {
		t.Error("probed after a probe that failed for a local reason")
	}
	probe()
	if !m.Probed() || m.Up() {
		t.Errorf("after a failed probe: probed %v, up %v; want probed, down", m.Probed(), m.Up())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
