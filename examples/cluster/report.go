package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = jsonDuration(s * float64(time.Second))
	return nil
}

func (d jsonDuration) String() string {
	return time.Duration(d).Round(time.Millisecond).String()
}

type share struct {
	Server   string `json:"server"`
	Weight   int    `json:"weight"`
	Served   int    `json:"served"`
	Expected int    `json:"expected"`
}

type report struct {
	Started       time.Time    `json:"started"`
	Duration      jsonDuration `json:"duration_s"`
	Backend       string       `json:"backend"`
	BackendReason string       `json:"backend_reason"`
	Method        string       `json:"lb_kind"`

	Requests     int     `json:"requests"`
	Failed       int     `json:"failed"`
	Distribution []share `json:"distribution"`
	// Tolerance is how far a server's count may be from its weight's share:
	// wrr is exact over whole cycles, so at most one cycle (the sum of the
	// weights) off.
	Tolerance int `json:"tolerance"`

	Failover struct {
		Killed             string       `json:"killed"`
		LinkDown           bool         `json:"link_down"`
		TookOver           string       `json:"took_over"`
		Gap                jsonDuration `json:"gap_s"`
		MasterDownInterval jsonDuration `json:"master_down_interval_s"`
		FailedRequests     int          `json:"failed_requests"`
	} `json:"failover"`

	Health struct {
		Server         string         `json:"server"`
		DetectedAfter  jsonDuration   `json:"detected_after_s"`
		WhileDown      map[string]int `json:"served_while_down"`
		FailedWhenDown int            `json:"failed_while_down"`
		ReturnedAfter  jsonDuration   `json:"returned_after_s"`
		AfterReturn    map[string]int `json:"served_after_return"`
	} `json:"health"`

	LeftBehind []string `json:"left_behind"`
	Problems   []string `json:"problems"`
	OK         bool     `json:"ok"`
}

func (r *report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("lvskit cluster demo — the book's figure 8-5 in network namespaces")
	p("  IPVS backend: %s (%s), lb_kind %s", r.Backend, r.BackendReason, r.Method)
	p("")
	p("1. Load distribution (%d requests from the client, new connection each, wrr):", r.Requests)
	for _, s := range r.Distribution {
		p("     %-5s weight %d  served %4d  (expected %d ± %d)", s.Server, s.Weight, s.Served, s.Expected, r.Tolerance)
	}
	if r.Failed > 0 {
		p("     failed requests: %d", r.Failed)
	}
	p("")
	f := r.Failover
	p("2. Failover: SIGKILL of the master director %s", f.Killed)
	if f.LinkDown {
		p("     (and its link down: the kernel's %s table forwards on without the process, so the machine is made to die)", r.Backend)
	}
	p("     %s took over; the client saw no service for %s", f.TookOver, f.Gap)
	p("     (VRRP master-down interval at advert_int 1 s, priority 99: %s, counted", f.MasterDownInterval)
	p("      from the master's last advert, which left up to 1 s before the kill)")
	p("")
	h := r.Health
	p("3. Health check: %s stopped", h.Server)
	p("     taken out %s after it stopped; then served: %s, failed: %d", h.DetectedAfter, counts(h.WhileDown), h.FailedWhenDown)
	p("     restarted, back in after %s; then served: %s", h.ReturnedAfter, counts(h.AfterReturn))
	p("")
	if len(r.LeftBehind) == 0 {
		p("4. Cleanup: every namespace and process removed")
	} else {
		p("4. Cleanup: LEFT BEHIND %s", strings.Join(r.LeftBehind, ", "))
	}
	p("")
	if r.OK {
		p("OK in %s", r.Duration)
		return
	}
	p("FAILED:")
	for _, pr := range r.Problems {
		p("  - %s", pr)
	}
}

func counts(m map[string]int) string {
	var parts []string
	for _, w := range webServers {
		parts = append(parts, fmt.Sprintf("%s %d", w.name, m[w.name]))
	}
	return strings.Join(parts, ", ")
}
