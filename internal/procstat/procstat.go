// Package procstat samples a process from /proc for the bench programs
// (vrrpbench, the proxy bench, the health-check bench): its CPU time from
// /proc/PID/stat and its memory from /proc/PID/status. Linux only; the
// benches take two samples and report the difference.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// tick is a clock tick of /proc/PID/stat's times: USER_HZ, 100 on Linux
// (the kernel's ABI for userspace, whatever CONFIG_HZ is).
const tick = 10 * time.Millisecond

// CPU is the CPU time a process (all its threads) has used.
type CPU struct {
	User, System time.Duration
}

// Total is user plus system time.
func (c CPU) Total() time.Duration { return c.User + c.System }

// ReadCPU reads the CPU time of process pid, to the clock tick (10ms).
func ReadCPU(pid int) (CPU, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPU{}, fmt.Errorf("read cpu time: %w", err)
	}
	return parseStat(string(b))
}

// parseStat takes utime and stime, the 14th and 15th fields, from a
// /proc/PID/stat line. The command name (field 2, in parentheses) may hold
// spaces and parentheses itself, so fields are counted from the last ')'.
func parseStat(s string) (CPU, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return CPU{}, fmt.Errorf("parse /proc stat %q: no command name", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is the state, field 3; utime is field 14.
	if len(f) < 13 {
		return CPU{}, fmt.Errorf("parse /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return CPU{}, fmt.Errorf("parse /proc stat times %q %q", f[11], f[12])
	}
	return CPU{User: time.Duration(ut) * tick, System: time.Duration(st) * tick}, nil
}

// Memory is a process's resident memory in bytes.
type Memory struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the peak of RSS
}

// ReadMemory reads VmRSS and VmHWM of process pid.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	return parseStatus(string(b)), nil
}

// parseStatus takes VmRSS and VmHWM (in kB) from /proc/PID/status.
func parseStatus(s string) Memory {
	var m Memory
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.RSS = v << 10
		case "VmHWM:":
			m.HWM = v << 10
		}
	}
	return m
}

// Threads is the number of threads of process pid (0 if it is gone).
func Threads(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return len(ents)
}
