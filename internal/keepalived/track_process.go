package keepalived

import "time"

// TrackProcess is a vrrp_track_process block: the processes an instance's
// track_process counts.
type TrackProcess struct {
	Name string
	Pos  Pos
	// Process is the process name (argv[0] with full_command or
	// parameters, else the kernel's 15-character comm) and its
	// parameters, as given after "process".
	Process     Value[[]string]
	ParamMatch  Value[string] // "exact" (param_match alone), "initial" or "partial"
	FullCommand Value[bool]
	Weight      Value[int] // default 0
	Reverse     Value[bool]
	Quorum      Value[int] // default 1
	QuorumMax   Value[int] // default unlimited; 0 means no process may run
	// Delay sets both TerminateDelay and ForkDelay.
	Delay          Value[time.Duration]
	TerminateDelay Value[time.Duration]
	ForkDelay      Value[time.Duration]
}

func (d *decoder) trackProcess(n *node) {
	if !d.blockOnly(n, 1, 1) {
		return
	}
	p := TrackProcess{Name: n.args[0].Text, Pos: n.pos}
	t := table{
		"process": func(c *node) {
			if !d.plain(c, 1, 1<<16) {
				return
			}
			var argv []string
			for _, a := range c.args {
				argv = append(argv, a.Text)
			}
			p.Process = Value[[]string]{V: argv, Pos: c.pos}
		},
		"param_match": func(c *node) {
			if !d.plain(c, 0, 1) {
				return
			}
			v := "exact"
			if len(c.args) == 1 {
				switch c.args[0].Text {
				case "initial", "partial":
					v = c.args[0].Text
				default:
					d.errorf(c.args[0].Pos, "param_match: invalid type %q (want initial or partial, or nothing for exact)", c.args[0].Text)
					return
				}
			}
			p.ParamMatch = Value[string]{V: v, Pos: c.pos}
		},
		"full_command":    d.fixed(&p.FullCommand, true),
		"weight":          d.weight(&p.Weight, &p.Reverse, -254, 254),
		"quorum":          d.integer(&p.Quorum, 1, 65535),
		"quorum_max":      d.integer(&p.QuorumMax, 0, 65535),
		"delay":           d.duration(&p.Delay),
		"terminate_delay": d.duration(&p.TerminateDelay),
		"fork_delay":      d.duration(&p.ForkDelay),
	}
	d.decodeBlock("vrrp_track_process", n, t, nil)
	if !p.Process.Set() {
		d.errorf(n.pos, "vrrp_track_process %q: missing process", p.Name)
	}
	if p.Quorum.Set() && p.QuorumMax.Set() && p.QuorumMax.V != 0 && p.Quorum.V > p.QuorumMax.V {
		d.errorf(p.Quorum.Pos, "vrrp_track_process %q: quorum %d is greater than quorum_max %d", p.Name, p.Quorum.V, p.QuorumMax.V)
	}
	d.cfg.TrackProcesses = append(d.cfg.TrackProcesses, p)
}
