package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
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

// placement is where a long-lived connection goes.
type placement struct {
	director, server string
	since            time.Time
}

// spread is where the long-lived connections go at one moment: the
// director the router's ECMP picks for each, and the real server that
// answers it. DirectorTables, when read, is what each director's flow
// table counts active (the same flows, seen from the directors).
type spread struct {
	ByDirector     map[string]int `json:"by_director"`
	ByServer       map[string]int `json:"by_server"`
	DirectorTables map[string]int `json:"director_tables,omitempty"`
	conns          map[int]placement
}

// killRun is one death and return of a director.
type killRun struct {
	Director string `json:"director"`
	// Carried is how many long-lived connections went through it.
	Carried int `json:"carried"`
	// DroppedAfter runs from its death to the router's FIB without it.
	DroppedAfter jsonDuration `json:"dropped_after_s"`
	// DroppedBecause is the router's reason for resetting the session
	// ("BFD down received", "Hold Timer Expired", ...).
	DroppedBecause string         `json:"dropped_because"`
	AfterKill      map[string]int `json:"after_kill"`
	// Broken are the long-lived connections that failed from its death
	// until the spread after its return (goal: none).
	Broken []breakEvent `json:"broken"`
	// BackAfter runs from its restart to the router's route through it.
	BackAfter   jsonDuration   `json:"back_after_s"`
	AfterReturn map[string]int `json:"after_return"`
	// SameDirector counts the connections that go through the director
	// they went through before the death.
	SameDirector   int `json:"same_director"`
	BrokenOnReturn int `json:"broken_on_return"`
	// ShortFailed counts the short connections that failed meanwhile.
	ShortFailed int `json:"short_failed"`
}

type report struct {
	Started  time.Time    `json:"started"`
	Duration jsonDuration `json:"duration_s"`
	Backend  string       `json:"backend"`
	BFD      jsonDuration `json:"bfd_interval_s"`
	LinkDown bool         `json:"link_down"`
	Conns    int          `json:"long_lived_connections"`

	Route struct {
		Text     string   `json:"ip_route"`
		NextHops []string `json:"next_hops"`
	} `json:"route"`
	Spread spread    `json:"spread"`
	Kills  []killRun `json:"kills"`

	ServerOut struct {
		Server        string         `json:"server"`
		ItsConns      int            `json:"its_connections"`
		TakenOutAfter jsonDuration   `json:"taken_out_after_s"`
		Moved         int            `json:"moved"`
		OtherConns    int            `json:"other_connections"`
		OtherChanged  int            `json:"other_changed"`
		OtherBroken   []breakEvent   `json:"other_broken"`
		After         map[string]int `json:"after"`
		// ShortFailed counts the short connections that failed from the
		// stop until the spread after it (those the server refused
		// before the directors took it out).
		ShortFailed int `json:"short_failed"`
	} `json:"server_out"`

	ShortOK     int `json:"short_ok"`
	ShortFailed int `json:"short_failed"`

	LeftBehind []string `json:"left_behind"`
	Problems   []string `json:"problems"`
	OK         bool     `json:"ok"`
}

func (r *report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	bfd := "BFD " + r.BFD.String() + " x 3"
	if r.BFD == 0 {
		bfd = "no BFD (BGP keepalive 1 s, hold 3 s)"
	}
	p("")
	p("lvskit ECMP demo — three active directors behind an FRR router")
	p("  IPVS backend: %s, DR with mh; BGP with %s", r.Backend, bfd)
	p("")
	p("1. The router's route to the VIP (ip route show %s):", vip)
	for _, l := range strings.Split(r.Route.Text, "\n") {
		p("     %s", l)
	}
	p("")
	p("2. %d long-lived connections (a request every %v each), short ones meanwhile:", r.Conns, longInterval)
	p("     by director (the router's ECMP): %s", counts(r.Spread.ByDirector))
	p("     by director (their flow tables): %s", counts(r.Spread.DirectorTables))
	p("     by real server:                  %s", counts(r.Spread.ByServer))
	for i, k := range r.Kills {
		p("")
		how := "SIGKILL"
		if r.LinkDown {
			how = "link down, then SIGKILL (its host dies)"
		}
		p("%d. Director %s killed (%s), carrying %d connections:", 3+i, k.Director, how, k.Carried)
		p("     the router dropped it after %s (%s)", k.DroppedAfter, k.DroppedBecause)
		p("     then by director: %s", counts(k.AfterKill))
		p("     brought back: in the route again after %s; by director: %s", k.BackAfter, counts(k.AfterReturn))
		p("     %d of %d connections go through the director they went through before", k.SameDirector, r.Conns)
		p("     long-lived connections broken: %d (goal 0); short connections failed meanwhile: %d", len(k.Broken), k.ShortFailed)
		for j, b := range k.Broken {
			if j == 5 {
				p("       ...")
				break
			}
			p("       connection %d (on %s): %s", b.Conn, b.Server, b.Err)
		}
	}
	o := r.ServerOut
	if o.Server != "" {
		p("")
		p("%d. Real server %s stopped, %d connections on it:", 3+len(r.Kills), o.Server, o.ItsConns)
		p("     taken out by the directors after %s", o.TakenOutAfter)
		p("     its connections moved to the others: %d of %d", o.Moved, o.ItsConns)
		p("     the other %d: %d changed server, %d broke", o.OtherConns, o.OtherChanged, len(o.OtherBroken))
		p("     now by real server: %s", counts(o.After))
		p("     short connections failed meanwhile: %d (sent to %s before the directors took it out)", o.ShortFailed, o.Server)
	}
	p("")
	p("Short connections (one request each, every 50 ms): %d answered, %d failed in all", r.ShortOK, r.ShortFailed)
	if len(r.LeftBehind) == 0 {
		p("Cleanup: every namespace and process removed")
	} else {
		p("Cleanup: LEFT BEHIND %s", strings.Join(r.LeftBehind, ", "))
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
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}
