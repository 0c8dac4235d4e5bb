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
					d.warnf(c.args[0].Pos, "param_match", "param_match: invalid type %q (want initial or partial, or nothing for exact): ignored, as keepalived does", c.args[0].Text)
					return
				}
			}
			p.ParamMatch = Value[string]{V: v, Pos: c.pos}
		},
		"full_command": d.fixed(&p.FullCommand, true),
		"weight":       d.weight(&p.Weight, &p.Reverse, -254, 254),
		// keepalived ignores whichever of quorum and quorum_max comes
		// second when they contradict each other (quorum_max 0 aside).
		"quorum": func(c *node) {
			old := p.Quorum
			d.integer(&p.Quorum, 1, 65535)(c)
			if p.Quorum != old && p.QuorumMax.Set() && p.QuorumMax.V != 0 && p.Quorum.V > p.QuorumMax.V {
				d.warnf(p.Quorum.Pos, "quorum", "vrrp_track_process %q: quorum %d is greater than quorum_max %d: ignored, as keepalived does", p.Name, p.Quorum.V, p.QuorumMax.V)
				p.Quorum = old
			}
		},
		"quorum_max": func(c *node) {
			old := p.QuorumMax
			d.integer(&p.QuorumMax, 0, 65535)(c)
			if p.QuorumMax != old && p.QuorumMax.V != 0 && p.Quorum.Set() && p.Quorum.V > p.QuorumMax.V {
				d.warnf(p.QuorumMax.Pos, "quorum_max", "vrrp_track_process %q: quorum_max %d is less than quorum %d: ignored, as keepalived does", p.Name, p.QuorumMax.V, p.Quorum.V)
				p.QuorumMax = old
			}
		},
		"delay":           d.duration(&p.Delay),
		"terminate_delay": d.duration(&p.TerminateDelay),
		"fork_delay":      d.duration(&p.ForkDelay),
	}
	d.decodeBlock("vrrp_track_process", n, t, nil)
	if !p.Process.Set() {
		d.warnf(n.pos, "vrrp_track_process", "vrrp_track_process %q: no process: the block is dropped, as keepalived does", p.Name)
		return
	}
	d.cfg.TrackProcesses = append(d.cfg.TrackProcesses, p)
}
