package keepalived

import "github.com/lvskit/lvskit/internal/names"

// This file holds the checks of the names a configuration gives: what
// reaches a metric label, a log line, a status document or an e-mail
// header must be text (package names). Every word of the file is checked
// as it is read (checkWords); the names of blocks, the references to
// them and interface names are also checked for length after decoding
// (checkNames).

// checkWords reports each word of a line that is not text: invalid
// UTF-8, or a control character (a quoted "\x01", say).
func checkWords(toks []token, d *diags) {
	for _, t := range toks {
		if err := names.Text(t.Text); err != nil {
			d.errorf(t.Pos, "word %q: %v", t.Text, err)
		}
	}
}

// checkNames checks the length (and, for names, the absence of tabs) of
// every name and interface name of the configuration, at the position
// of the setting that gave it.
func (d *decoder) checkNames() {
	c := d.cfg
	check := func(f func(string) error) func(Pos, string, string) {
		return func(p Pos, what, s string) {
			if names.Text(s) != nil {
				return // reported where the word was read
			}
			if err := f(s); err != nil {
				d.errorf(p, "%s %q: %v", what, s, err)
			}
		}
	}
	name, iface := check(names.Name), check(names.Interface)
	refs := func(what string, rs []TrackRef, check func(Pos, string, string)) {
		for _, r := range rs {
			check(r.Pos, what, r.Name)
		}
	}
	g := &c.Global
	name(g.RouterID.Pos, "router_id", g.RouterID.V)
	name(g.SMTPHeloName.Pos, "smtp_helo_name", g.SMTPHeloName.V)
	name(g.NotificationEmailFrom.Pos, "notification_email_from", g.NotificationEmailFrom.V)
	for _, e := range g.NotificationEmail {
		name(e.Pos, "notification_email", e.V)
	}
	name(g.SMTPServer.Pos, "smtp_server", g.SMTPServer.V.Host)
	iface(g.DefaultInterface.Pos, "default_interface", g.DefaultInterface.V)
	iface(g.LVSSyncDaemon.Pos, "lvs_sync_daemon interface", g.LVSSyncDaemon.V.Interface)
	name(g.LVSSyncDaemon.Pos, "lvs_sync_daemon instance", g.LVSSyncDaemon.V.Instance)
	for _, s := range c.Scripts {
		name(s.Pos, "vrrp_script", s.Name)
	}
	for _, f := range c.TrackFiles {
		name(f.Pos, "track_file", f.Name)
	}
	for _, sg := range c.SyncGroups {
		name(sg.Pos, "vrrp_sync_group", sg.Name)
		for _, m := range sg.Group {
			name(m.Pos, "group member", m.V)
		}
		refs("track_interface", sg.TrackInterfaces, iface)
		refs("track_script", sg.TrackScripts, name)
		refs("track_file", sg.TrackFiles, name)
	}
	for i := range c.Instances {
		in := &c.Instances[i]
		name(in.Pos, "vrrp_instance", in.Name)
		iface(in.Interface.Pos, "interface", in.Interface.V)
		iface(in.LVSSyncDaemonInterface.Pos, "lvs_sync_daemon_interface", in.LVSSyncDaemonInterface.V)
		iface(in.UseVMAC.Pos, "use_vmac", in.UseVMAC.V.Name)
		refs("track_interface", in.TrackInterfaces, iface)
		refs("track_script", in.TrackScripts, name)
		refs("track_file", in.TrackFiles, name)
		for _, list := range [][]IPAddress{in.VirtualIPAddresses, in.VirtualIPAddressesExcl} {
			for _, a := range list {
				iface(a.Pos, "dev", a.Dev)
				iface(a.Pos, "label", a.Label)
			}
		}
		for _, r := range in.VirtualRoutes {
			iface(r.Pos, "dev", r.Dev)
		}
		for _, r := range in.VirtualRules {
			iface(r.Pos, "iif", r.IIf)
			iface(r.Pos, "oif", r.OIf)
		}
	}
	for _, vsg := range c.VirtualServerGroups {
		name(vsg.Pos, "virtual_server_group", vsg.Name)
	}
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		name(vs.Pos, "group", vs.Group)
		for j := range vs.RealServers {
			for _, ck := range vs.RealServers[j].Checkers {
				iface(ck.BindIf.Pos, "bind_if", ck.BindIf.V)
				if ck.SMTP != nil {
					for _, h := range ck.SMTP.Hosts {
						iface(h.BindIf.Pos, "bind_if", h.BindIf.V)
					}
				}
			}
		}
	}
}
