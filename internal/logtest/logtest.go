// Package logtest is a slog handler for tests that keeps what is logged,
// so a test can check which lines a component wrote, at which level and
// with which attributes.
//
//	rec := &logtest.Recorder{}
//	p := proxy.New(proxy.Config{Logger: slog.New(rec)})
//	...
//	for _, r := range rec.Records() { ... }
package logtest

import (
	"context"
	"log/slog"
	"sync"
)

// Recorder is a slog.Handler that keeps every record, at every level.
// Its zero value is ready; it is safe for concurrent use. Attributes and
// groups given to WithAttrs and WithGroup are not kept.
type Recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

var _ slog.Handler = (*Recorder)(nil)

func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

func (r *Recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *Recorder) WithGroup(string) slog.Handler      { return r }

// Records returns what was logged so far, in order.
func (r *Recorder) Records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.recs...)
}

// Attr returns the value of rec's attribute key, and whether it has one.
func Attr(rec slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}
