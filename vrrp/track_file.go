package vrrp

import (
	"context"
	"errors"
	"math"
	"strings"
)

// FileConfig is keepalived's track_file (vrrp_track_file): a file holding
// a number, watched through inotify (TrackFile).
type FileConfig struct {
	// Path is the file. It need not exist (a missing file reads as 0),
	// but its directory must: keepalived drops a track_file whose
	// directory does not exist, and so does an instance (with a warning).
	Path string
	// Weight multiplies the number into a priority change, within
	// -254..253; a change of -254 or less puts the instance in FAULT.
	// Weight 0 means a non-zero number is FAULT (zero with Reverse).
	Weight int
	// Reverse negates the change (keepalived's "weight W reverse").
	Reverse bool
	// Init, when set, is written to the file when the tracker starts if
	// the file does not exist, or always with InitOverwrite (keepalived's
	// init_file [VALUE] [overwrite]).
	Init          *int
	InitOverwrite bool
}

// TrackFile is a Tracker following the number in a file with keepalived's
// rules: the file is read when it is written and closed, or renamed into
// place; a file deleted or renamed away reads as 0, as does one that is
// empty or holds no number; a number out of the 32-bit range is ignored.
// The number times Weight changes the instance's priority (attach it with
// Track.Weight 0: its own Weight applies); outside an instance, Track
// reports down while the file means FAULT.
func TrackFile(c FileConfig) Tracker { return &fileTracker{cfg: c} }

// levelTracker is a Tracker whose state is a change to the priority, or
// FAULT: report is called with the change and whether it is a FAULT. An
// instance runs it through trackLevel rather than Track.
type levelTracker interface {
	Tracker
	trackLevel(ctx context.Context, report func(delta int, fault bool)) error
}

var _ levelTracker = (*fileTracker)(nil)

type fileTracker struct {
	cfg FileConfig
}

func (f *fileTracker) Track(ctx context.Context, report func(up bool)) error {
	return f.trackLevel(ctx, func(_ int, fault bool) { report(!fault) })
}

// errTrackerDropped is returned by a tracker that cannot work for a
// reason keepalived answers by dropping it: the instance goes on as if it
// were not configured.
var errTrackerDropped = errors.New("tracker dropped")

// fileFault is the priority change of FAULT (keepalived's -254).
const fileFault = -254

// fileStatus is the priority change a number v in a tracked file makes
// (process_update_vrrp_track_file_status): FAULT is fault.
func fileStatus(v int64, weight int, reverse bool) (delta int, fault bool) {
	if weight == 0 {
		return 0, (v != 0) != reverse
	}
	d := v * int64(weight)
	if reverse {
		d = -d
	}
	switch {
	case d <= fileFault:
		return 0, true
	case d > 253:
		d = 253
	}
	return int(d), false
}

// parseFileValue reads the number a tracked file holds as keepalived does
// (strtol with base 0: leading spaces, a sign, 0x for hex, 0 for octal,
// whatever follows the digits ignored; no digits is 0). ok is false for a
// number keepalived ignores: beyond 64 bits, or outside -2^31..2^31.
func parseFileValue(s string) (v int64, ok bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := uint64(10)
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexDigit(s[2]) >= 0:
		base, s = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if u > (math.MaxUint64-uint64(d))/base {
			return 0, false // strtol: ERANGE
		}
		u = u*base + uint64(d)
	}
	if u > 1<<63 || !neg && u > math.MaxInt64 {
		return 0, false
	}
	v = int64(u)
	if neg {
		v = -v
	}
	if v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, false
	}
	return v, true
}

func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
