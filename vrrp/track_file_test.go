package vrrp

import "testing"

// fileStatus: keepalived's value × weight, clamped to 253 at the top,
// FAULT at -254 and below; weight 0 is FAULT on a non-zero value (on
// zero with reverse).
func TestFileStatus(t *testing.T) {
	for _, tc := range []struct {
		v       int64
		weight  int
		reverse bool
		delta   int
		fault   bool
	}{
		{0, 0, false, 0, false},
		{1, 0, false, 0, true},
		{-5, 0, false, 0, true},
		{0, 0, true, 0, true},
		{3, 0, true, 0, false},
		{5, 10, false, 50, false},
		{5, 10, true, -50, false},
		{-5, 10, false, -50, false},
		{30, 10, false, 253, false},
		{-25, 10, false, -250, false},
		{-26, 10, false, 0, true},
		{26, 10, true, 0, true},
		{1 << 31, 254, false, 253, false},
		{-(1 << 31), 254, false, 0, true},
		{7, -3, false, -21, false},
	} {
		d, f := fileStatus(tc.v, tc.weight, tc.reverse)
		if d != tc.delta || f != tc.fault {
			t.Errorf("fileStatus(%d, %d, %v) = %d, %v; want %d, %v", tc.v, tc.weight, tc.reverse, d, f, tc.delta, tc.fault)
		}
	}
}

// parseFileValue reads a number as strtol(buf, NULL, 0) does, and refuses
// what keepalived ignores.
func TestParseFileValue(t *testing.T) {
	for _, tc := range []struct {
		s  string
		v  int64
		ok bool
	}{
		{"", 0, true},
		{"12\n", 12, true},
		{"  -7 trailing", -7, true},
		{"+3", 3, true},
		{"0x1f", 31, true},
		{"0X1F", 31, true},
		{"010", 8, true},
		{"09", 0, true}, // octal: the 9 ends the number
		{"0x", 0, true}, // strtol reads the 0
		{"abc", 0, true},
		{"-", 0, true},
		{"2147483648", 2147483648, true}, // INT32_MAX + 1, which keepalived lets through
		{"2147483649", 0, false},
		{"-2147483648", -2147483648, true},
		{"-2147483649", 0, false},
		{"99999999999999999999", 0, false}, // ERANGE
	} {
		v, ok := parseFileValue(tc.s)
		if v != tc.v || ok != tc.ok {
			t.Errorf("parseFileValue(%q) = %d, %v; want %d, %v", tc.s, v, ok, tc.v, tc.ok)
		}
	}
}
