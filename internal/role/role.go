// Package role holds what the router and real-server programs share: flag
// helpers and the "apply, wait for a signal, undo" life cycle.
package role

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lvskit/lvskit/netcfg"
)

// List is a repeatable string flag.
type List []string

func (l *List) String() string     { return strings.Join(*l, ",") }
func (l *List) Set(s string) error { *l = append(*l, s); return nil }

// Changes is what a role changed, in order, from several netcfg calls.
type Changes []*netcfg.Change

// Undo reverts every change, last first, and returns all failures.
func (cs Changes) Undo() error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		errs = append(errs, cs[i].Undo())
	}
	return errors.Join(errs...)
}

func (cs Changes) String() string {
	var parts []string
	for _, c := range cs {
		if !c.Empty() {
			parts = append(parts, c.String())
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "\n")
}

// Hold applies a configuration through apply, waits for SIGINT or SIGTERM
// (or ctx), and undoes what apply changed unless keep is set. serve, if not
// nil, runs while the configuration holds; its error ends the wait.
func Hold(ctx context.Context, log *slog.Logger, keep bool, apply func() (Changes, error), serve func(context.Context) error) error {
	change, err := apply()
	if err != nil {
		return err
	}
	log.Info("configured", "changes", change.String())
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var serr error
	if serve != nil {
		serr = serve(ctx)
	} else {
		<-ctx.Done()
	}
	if keep {
		log.Info("exiting and keeping the configuration (--keep)")
		return serr
	}
	if err := change.Undo(); err != nil {
		return fmt.Errorf("undo configuration: %w", err)
	}
	log.Info("configuration undone")
	return serr
}

// Logger is the roles' logger: text to stderr.
func Logger(name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("role", name)
}
