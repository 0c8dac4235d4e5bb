package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
)

// FileChecker is keepalived's FILE_CHECK: it reads an integer from a file,
// as keepalived's track_file does, and turns it into a weight or a failure.
//
// The file's first 127 bytes are parsed like C's strtol with base 0
// (leading spaces, sign, 0x for hex, a leading 0 for octal, anything after
// the number ignored); a missing or empty file or one without a number
// reads as 0. A number outside the 32-bit range is ignored and the last
// value is kept.
//
// With Weight 0 a non-zero value fails the check (with Reverse, a zero
// value does). Otherwise the value × Weight (× -1 with Reverse) is added to
// the real server's weight (WeightOffset).
//
// keepalived watches the file with inotify; a Monitor reads it every
// DelayLoop instead.
type FileChecker struct {
	Path    string
	Weight  int
	Reverse bool

	last int64
}

var _ WeightChecker = (*FileChecker)(nil)

func (c *FileChecker) kind() kind     { return kindFile }
func (c *FileChecker) String() string { return "file " + c.Path }

// Check reads the file once.
func (c *FileChecker) Check(ctx context.Context) error {
	_, err := c.CheckWeight(ctx)
	return err
}

// CheckWeight reads the file and maps its value.
func (c *FileChecker) CheckWeight(context.Context) (Weight, error) {
	if c.Path == "" {
		return Weight{}, errors.New("file check: no path")
	}
	v, err := readTrackFile(c.Path)
	if err != nil {
		if !errors.Is(err, errOutOfRange) {
			return Weight{}, fmt.Errorf("file check %s: %w", c.Path, err)
		}
		v = c.last
	}
	c.last = v
	mult := int64(1)
	if c.Reverse {
		mult = -1
	}
	if c.Weight == 0 {
		if (v != 0) == (mult == 1) {
			return Weight{}, fmt.Errorf("file check %s: value %d", c.Path, v)
		}
		return Weight{Kind: WeightConfigured}, nil
	}
	off := v * int64(c.Weight) * mult
	off = min(max(off, math.MinInt32), math.MaxInt32)
	return Weight{Kind: WeightOffset, Value: int(off)}, nil
}

var errOutOfRange = errors.New("value out of range")

func readTrackFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 127)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, err
	}
	v, ok := strtol(string(buf[:n]))
	if !ok {
		return 0, fmt.Errorf("%w: %s", errOutOfRange, strings.TrimSpace(string(buf[:n])))
	}
	return v, nil
}

// strtol parses like C's strtol(s, NULL, 0) into the range keepalived
// accepts ([INT32_MIN, INT32_MAX+1]); ok is false outside it.
func strtol(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	switch {
	case len(s) >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isDigit(s[2], 16):
		base, s = 16, s[2:]
	case len(s) >= 1 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(s) && isDigit(s[end], base) {
		end++
	}
	if end == 0 {
		return 0, true
	}
	u, err := strconv.ParseUint(s[:end], base, 64)
	if err != nil || u > math.MaxInt32+1 {
		return 0, false
	}
	v := int64(u)
	if neg {
		v = -v
	}
	if v < math.MinInt32 {
		return 0, false
	}
	return v, true
}

func isDigit(c byte, base int) bool {
	var d int
	switch {
	case c >= '0' && c <= '9':
		d = int(c - '0')
	case c >= 'a' && c <= 'z':
		d = int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		d = int(c-'A') + 10
	default:
		return false
	}
	return d < base
}
