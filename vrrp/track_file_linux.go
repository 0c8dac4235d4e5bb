package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The inotify side of TrackFile, as keepalived's init_track_files and
// process_inotify: one watch on the file's directory (a file may come and
// go, or be renamed into place, which a watch on the file itself would
// miss) for IN_CLOSE_WRITE, IN_DELETE and IN_MOVE of the file's name.

func (f *fileTracker) trackLevel(ctx context.Context, report func(delta int, fault bool)) error {
	dir, name, exists, err := resolveTrackedFile(f.cfg.Path)
	if err != nil {
		report(0, false)
		return fmt.Errorf("track file %s: %w (%w)", f.cfg.Path, err, errTrackerDropped)
	}
	path := filepath.Join(dir, name)
	if err := f.init(path, exists); err != nil {
		report(0, false)
		return fmt.Errorf("track file %s: initialise: %w (%w)", f.cfg.Path, err, errTrackerDropped)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("track file %s: inotify: %w", f.cfg.Path, err)
	}
	// Non-blocking, so the runtime's poller waits on it and Close ends a
	// Read in progress.
	ino := os.NewFile(uintptr(fd), "inotify")
	defer ino.Close()
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_DELETE|unix.IN_MOVE); err != nil {
		return fmt.Errorf("track file %s: watch %s: %w", f.cfg.Path, dir, err)
	}
	stop := context.AfterFunc(ctx, func() { ino.Close() })
	defer stop()

	var value int64
	send := func() {
		report(fileStatus(value, f.cfg.Weight, f.cfg.Reverse))
	}
	if v, ok := readTrackedFile(path); ok {
		value = v
	}
	send()
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := ino.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("track file %s: read inotify: %w", f.cfg.Path, err)
		}
		changed := false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : min(off+unix.SizeofInotifyEvent+int(ev.Len), n)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_ISDIR != 0 || string(bytes.TrimRight(nameBytes, "\x00")) != name {
				continue
			}
			switch {
			case ev.Mask&(unix.IN_MOVED_FROM|unix.IN_DELETE) != 0:
				// Gone: as though it held 0.
				value, changed = 0, true
			case ev.Mask&(unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE) != 0:
				if v, ok := readTrackedFile(path); ok {
					value, changed = v, true
				}
			}
		}
		if changed {
			send()
		}
	}
}

// resolveTrackedFile is keepalived's realpath of a tracked file: the file
// itself if it exists (through symbolic links), else its directory, which
// must exist.
func resolveTrackedFile(path string) (dir, name string, exists bool, err error) {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		if abs, err := filepath.Abs(r); err == nil {
			r = abs
		}
		return filepath.Dir(r), filepath.Base(r), true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", false, fmt.Errorf("not accessible: %w", err)
	}
	d, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err == nil {
		d, err = filepath.Abs(d)
	}
	if err != nil {
		return "", "", false, fmt.Errorf("directory does not exist: %w", err)
	}
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return "", "", false, fmt.Errorf("%s is not a directory", d)
	}
	return d, filepath.Base(path), false, nil
}

// init writes Init into the file (init_file): when it does not exist, or
// always with InitOverwrite, but only into a regular file.
func (f *fileTracker) init(path string, exists bool) error {
	if f.cfg.Init == nil || exists && !f.cfg.InitOverwrite {
		return nil
	}
	if exists {
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
	}
	return os.WriteFile(path, []byte(strconv.Itoa(*f.cfg.Init)+"\n"), 0o644)
}

// readTrackedFile reads the number in path (process_track_file): a file
// that cannot be read, or is empty, holds 0; ok is false for a number
// keepalived ignores.
func readTrackedFile(path string) (int64, bool) {
	fh, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, true
	}
	defer fh.Close()
	var b [127]byte
	n, _ := fh.Read(b[:])
	if n <= 0 {
		return 0, true
	}
	return parseFileValue(string(b[:n]))
}
