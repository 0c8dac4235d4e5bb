package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// newLogger logs text lines to w. Under systemd's journal (journal true:
// sdnotify.UnderJournal), which stamps every line itself, the lines carry
// no time of their own but a "<N>" syslog priority prefix, which journald
// reads as the entry's priority (SyslogLevelPrefix=, on by default), so
// `journalctl -p warning` finds the warnings.
func newLogger(w io.Writer, level slog.Level, journal bool) *slog.Logger {
	if !journal {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	pw := &priorityWriter{w: w}
	h := slog.NewTextHandler(pw, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(journalHandler{h: h, w: pw})
}

// journalHandler tells its writer each record's level before the text
// handler writes it.
type journalHandler struct {
	h slog.Handler
	w *priorityWriter
}

func (j journalHandler) Enabled(ctx context.Context, l slog.Level) bool { return j.h.Enabled(ctx, l) }

func (j journalHandler) Handle(ctx context.Context, r slog.Record) error {
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	j.w.level = r.Level
	return j.h.Handle(ctx, r)
}

func (j journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return journalHandler{h: j.h.WithAttrs(as), w: j.w}
}

func (j journalHandler) WithGroup(name string) slog.Handler {
	return journalHandler{h: j.h.WithGroup(name), w: j.w}
}

// priorityWriter prefixes each line with the syslog priority of the
// record being written (sd-daemon(3)).
type priorityWriter struct {
	mu    sync.Mutex // held by journalHandler.Handle around the write
	w     io.Writer
	level slog.Level
}

func (p *priorityWriter) Write(b []byte) (int, error) {
	prefix := "<6>" // info
	switch {
	case p.level >= slog.LevelError:
		prefix = "<3>"
	case p.level >= slog.LevelWarn:
		prefix = "<4>"
	case p.level < slog.LevelInfo:
		prefix = "<7>"
	}
	if _, err := io.WriteString(p.w, prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
