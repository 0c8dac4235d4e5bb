package keepalived

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// This file holds the reading of a configuration's files, within bounds:
// only regular files, checked before they are opened (opening a FIFO
// blocks, a device may never end), each and all of them together of a
// bounded size, and a bounded number of them however includes fan out.

// Limits bound what reading one configuration may take, whatever the
// files hold: a hostile or mistaken include (of /dev/zero, a FIFO, a huge
// file, a file that includes itself several times) is an error, not a
// hang or an exhausted memory. The zero value of each field is its
// default, generous for any real configuration (the largest seen are a
// few hundred kilobytes in a few dozen files).
type Limits struct {
	// FileBytes bounds each file; 0 means 16 MiB.
	FileBytes int64
	// TotalBytes bounds all the files read together, the same file
	// counted each time it is included, and also the text that
	// expansion (~SEQ, ~LST, definitions) makes of them; 0 means 32 MiB.
	TotalBytes int64
	// Files bounds how many files are read, the main one and every
	// include, the same file counted each time it is included; 0 means
	// 4096.
	Files int
	// LineBytes bounds one line as written and as parameter substitution
	// makes it; 0 means 64 KiB.
	LineBytes int
}

// Default limits.
const (
	DefaultFileBytes  = 16 << 20
	DefaultTotalBytes = 32 << 20
	DefaultFiles      = 4096
	DefaultLineBytes  = 64 << 10
)

func (l Limits) resolve() Limits {
	if l.FileBytes <= 0 {
		l.FileBytes = DefaultFileBytes
	}
	if l.TotalBytes <= 0 {
		l.TotalBytes = DefaultTotalBytes
	}
	if l.Files <= 0 {
		l.Files = DefaultFiles
	}
	if l.LineBytes <= 0 {
		l.LineBytes = DefaultLineBytes
	}
	return l
}

// limitError is a file refused by a rule of this file. stop says that
// no further file may be read (the number of files, or their total size,
// is used up); dir that the file is a directory.
type limitError struct {
	msg       string
	stop, dir bool
}

func (e *limitError) Error() string { return e.msg }

// source reads the files of one configuration and accounts for them.
type source struct {
	fsys   fs.FS
	osMode bool // fsys is the root of the operating system's files
	limits Limits
	files  int
	bytes  int64
}

// read returns the content of the file at the fs path name. The file must
// be a regular one (a symbolic link to one is followed), which is checked
// before it is opened; it is opened without blocking and checked again,
// and read through a limit.
func (s *source) read(name string) ([]byte, error) {
	if s.files >= s.limits.Files {
		return nil, &limitError{msg: fmt.Sprintf("the configuration reads more than %d files (includes that fan out?)", s.limits.Files), stop: true}
	}
	st, err := fs.Stat(s.fsys, name)
	if err != nil {
		return nil, err
	}
	if err := s.check(st); err != nil {
		return nil, err
	}
	s.files++
	var f io.ReadCloser
	if s.osMode {
		// O_NONBLOCK: should the file have become a FIFO since the
		// check, opening it does not wait for a writer.
		of, err := os.OpenFile("/"+name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, err
		}
		f = of
		if st, err = of.Stat(); err == nil {
			err = s.check(st)
		}
		if err != nil {
			of.Close()
			return nil, err
		}
	} else if f, err = s.fsys.Open(name); err != nil {
		return nil, err
	}
	defer f.Close()
	return s.readAll(f)
}

// check refuses what is not a regular file, or is larger than a limit
// allows.
func (s *source) check(st fs.FileInfo) error {
	if m := st.Mode(); !m.IsRegular() {
		what := "a special file"
		switch {
		case m.IsDir():
			what = "a directory"
		case m&fs.ModeNamedPipe != 0:
			what = "a FIFO"
		case m&fs.ModeCharDevice != 0:
			what = "a character device"
		case m&fs.ModeDevice != 0:
			what = "a device"
		case m&fs.ModeSocket != 0:
			what = "a socket"
		}
		return &limitError{msg: what + ", not a regular file", dir: m.IsDir()}
	}
	return s.fits(st.Size())
}

// fits refuses a file of n bytes that exceeds a limit.
func (s *source) fits(n int64) error {
	if n > s.limits.FileBytes {
		return &limitError{msg: fmt.Sprintf("larger than %d bytes", s.limits.FileBytes)}
	}
	if s.bytes+n > s.limits.TotalBytes {
		return &limitError{msg: fmt.Sprintf("the configuration's files together are larger than %d bytes", s.limits.TotalBytes), stop: true}
	}
	return nil
}

// readAll reads r (a file, or what Parse was given) within the limits:
// never more than one byte past them.
func (s *source) readAll(r io.Reader) ([]byte, error) {
	limit := min(s.limits.FileBytes, s.limits.TotalBytes-s.bytes)
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if err := s.fits(int64(len(data))); err != nil {
		return nil, err
	}
	s.bytes += int64(len(data))
	return data, nil
}
