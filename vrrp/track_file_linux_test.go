package vrrp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type level struct {
	delta int
	fault bool
}

// runFileTracker runs a file tracker until the test ends and returns the
// channel of what it reports.
func runFileTracker(t *testing.T, c FileConfig) (<-chan level, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reports := make(chan level, 64)
	done := make(chan error, 1)
	go func() {
		done <- TrackFile(c).(levelTracker).trackLevel(ctx, func(d int, f bool) { reports <- level{d, f} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tracker: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("tracker did not stop")
		}
	})
	return reports, done
}

// next waits for the next report (bounded: a broken tracker fails the
// test rather than hangs it; how long inotify takes is not asserted).
func next(t *testing.T, ch <-chan level) level {
	t.Helper()
	select {
	case l := <-ch:
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no report from the file tracker")
	}
	return level{}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrackFileInotify: the tracker follows a file written in place,
// renamed into place, renamed away and deleted, as keepalived does;
// other files in the directory and numbers keepalived ignores change
// nothing.
func TestTrackFileInotify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prio")
	write(t, path, "3\n")
	reports, _ := runFileTracker(t, FileConfig{Path: path, Weight: 10})
	// A write in place truncates, then writes: a tracker that reads the
	// file between the two (after the event of an earlier write) sees it
	// empty, which keepalived also reads as 0. And an event may be read
	// late, reporting the previous level again. Such reports may come
	// before a step's own; any other report fails the test.
	empty := level{0, false}
	steps := []struct {
		what string
		do   func()
		want level
	}{
		{"start", func() {}, level{30, false}},
		{"written", func() { write(t, path, "-4\n") }, level{-40, false}},
		{"ignored numbers, then another file, then 5", func() {
			write(t, path, "99999999999\n")
			write(t, filepath.Join(dir, "other"), "7\n")
			write(t, path, "5\n")
		}, level{50, false}},
		{"renamed into place", func() {
			write(t, filepath.Join(dir, "new"), "0x10")
			if err := os.Rename(filepath.Join(dir, "new"), path); err != nil {
				t.Fatal(err)
			}
		}, level{160, false}},
		{"renamed away", func() {
			if err := os.Rename(path, filepath.Join(dir, "old")); err != nil {
				t.Fatal(err)
			}
		}, level{0, false}},
		{"created", func() { write(t, path, "-30") }, level{0, true}},
		{"deleted", func() {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, level{0, false}},
	}
	prev := level{30, false}
	for _, s := range steps {
		s.do()
		for got := next(t, reports); got != s.want; got = next(t, reports) {
			if got != prev && got != empty {
				t.Fatalf("%s: reported %+v, want %+v (or first %+v again, or an empty file's %+v)", s.what, got, s.want, prev, empty)
			}
		}
		prev = s.want
	}
}

// A missing directory drops the tracker, as keepalived drops the
// track_file; init_file writes its value into a missing file, or over an
// existing one with overwrite.
func TestTrackFileDroppedAndInit(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "file")
	err := TrackFile(FileConfig{Path: missing}).(levelTracker).trackLevel(context.Background(), func(int, bool) {})
	if !errors.Is(err, errTrackerDropped) {
		t.Errorf("missing directory: %v, want the tracker dropped", err)
	}

	dir := t.TempDir()
	two, five := 2, 5
	fresh := filepath.Join(dir, "fresh")
	r, _ := runFileTracker(t, FileConfig{Path: fresh, Weight: 1, Init: &two})
	if got := next(t, r); got != (level{2, false}) {
		t.Errorf("init_file 2 into a missing file: %+v", got)
	}
	kept := filepath.Join(dir, "kept")
	write(t, kept, "9\n")
	r, _ = runFileTracker(t, FileConfig{Path: kept, Weight: 1, Init: &five})
	if got := next(t, r); got != (level{9, false}) {
		t.Errorf("init_file without overwrite over 9: %+v", got)
	}
	over := filepath.Join(dir, "over")
	write(t, over, "9\n")
	r, _ = runFileTracker(t, FileConfig{Path: over, Weight: 1, Init: &five, InitOverwrite: true})
	if got := next(t, r); got != (level{5, false}) {
		t.Errorf("init_file 5 overwrite over 9: %+v", got)
	}
}
