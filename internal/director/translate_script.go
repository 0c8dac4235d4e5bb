package director

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/internal/script"
	"github.com/lvskit/lvskit/vrrp"
)

// This file decides, as keepalived does when it loads a configuration,
// whom each script runs as and whether it runs: the script's own user
// (vrrp_script and MISC_CHECK "user", or the USER [GROUP] after a notify
// script), else global_defs script_user, else keepalived's default user
// keepalived_script where it exists, else the director's own user with
// keepalived's warning (under enable_script_security keepalived has no
// user then); then keepalived's check_script_secure on the program
// (internal/script.Check), whose resolved path is what runs.
//
// A script keepalived disables — its user or group does not exist, it has
// no user, its program is not found or not executable by its user — is
// disabled here too: a vrrp_script is not tracked, a MISC_CHECK not run, a
// notify script not called. Where keepalived -t reports that (a
// vrrp_script not found, a user keyword or script_user naming no user, no
// user at all under enable_script_security for a vrrp_script), it is a
// warning at the script's position; where keepalived only logs it when it
// starts, it is a Notice of the plan, which the director logs when it
// applies the plan, as are keepalived's other notices about scripts (the
// default user missing, an unsafe script run without
// enable_script_security, a name found on PATH). A script that another
// user than root could change while it runs as root (Checked.Unsafe) is
// refused under enable_script_security — an error at its position, where
// keepalived disables it and logs — so that -t says so. A command that
// needs a shell ("</dev/tcp/HOST/PORT", which only bash runs) runs and
// fails every time, as with keepalived where /bin/sh is dash, with a
// notice: lvskit runs no shell. keepalived's "SECURITY VIOLATION" notice
// is not repeated.

// Program is a program the director runs itself on a pool's transition
// (quorum_up, quorum_down, notify_up, notify_down): its command line, and
// the user and group it runs as (nil: the director's own).
type Program struct {
	Argv       []string
	Credential *syscall.Credential
}

// scriptState is what a translation found about scripts so far.
type scriptState struct {
	// resolved is set once the default identity was looked for: defaultID,
	// or why there is none (noDefault); selfDefault when it is the
	// director's own, for want of keepalived_script.
	resolved    bool
	defaultID   script.Identity
	noDefault   string
	selfDefault bool
	selfNoted   bool
	// checked is the outcome per script position (a vrrp_script used by
	// several instances is checked once).
	checked map[keepalived.Pos]checkedScript
}

type checkedScript struct {
	argv []string
	cred *syscall.Credential
	ok   bool
}

func (t *translator) scriptSecurity() bool {
	return t.cfg.Global.EnableScriptSecurity.Set() && t.cfg.Global.EnableScriptSecurity.V
}

// program resolves the script v of keyword (notify_master, script,
// misc_path, ...) that runs as user (its own "user" setting, or unset):
// the command line to run and the credential to run it with. It is false
// when the script does not run: disabled (a warning was recorded) or
// refused (an error).
func (t *translator) program(v keepalived.Value[keepalived.Script], keyword string, user keepalived.Value[keepalived.User]) ([]string, *syscall.Credential, bool) {
	if !v.Set() || len(v.V.Argv) == 0 {
		return nil, nil, true
	}
	if c, ok := t.scr.checked[v.Pos]; ok {
		return c.argv, c.cred, c.ok
	}
	if !user.Set() && v.V.User != "" {
		user = keepalived.Value[keepalived.User]{V: keepalived.User{User: v.V.User, Group: v.V.Group}, Pos: v.Pos}
	}
	c := t.checkScript(v, keyword, user)
	if t.scr.checked == nil {
		t.scr.checked = map[keepalived.Pos]checkedScript{}
	}
	t.scr.checked[v.Pos] = c
	return c.argv, c.cred, c.ok
}

func (t *translator) checkScript(v keepalived.Value[keepalived.Script], keyword string, user keepalived.Value[keepalived.User]) checkedScript {
	argv := append([]string(nil), v.V.Argv...)
	// keepalived -t reports what it disables a vrrp_script for; of other
	// scripts it only logs it when it starts.
	tracked := keyword == "script"
	// disable records why keepalived does not run the script; neither
	// does the director.
	disable := func(reported bool, pos keepalived.Pos, format string, args ...any) checkedScript {
		msg := fmt.Sprintf("%s: %s: keepalived disables the script, and so does the director", keyword, fmt.Sprintf(format, args...))
		if reported {
			t.warnf(pos, keyword, "%s", msg)
		} else {
			t.notef(pos, keyword, "%s", msg)
		}
		return checkedScript{}
	}
	var id script.Identity
	if user.Set() {
		var err error
		if id, err = script.Lookup(user.V.User, user.V.Group); err != nil {
			// A user keyword is reported; the user after a notify script
			// only logged.
			return disable(user.Pos != v.Pos, user.Pos, "%v", err)
		}
	} else {
		var why string
		if id, why = t.defaultIdentity(); why != "" {
			return disable(tracked, v.Pos, "%s", why)
		}
		if t.scr.selfDefault && !t.scr.selfNoted {
			t.scr.selfNoted = true
			t.notef(v.Pos, keyword, "%s: default user %q for script execution does not exist: scripts run as %s (keepalived's warning: create it, or set script_user)", keyword, script.DefaultUser, id)
		}
	}
	c, err := script.Check(argv[0], id)
	switch {
	case errors.Is(err, script.ErrShell):
		// keepalived runs it through /bin/sh, where only bash (not
		// Debian's dash) makes a connection of /dev/tcp/HOST/PORT; with
		// dash, and here, it fails every time.
		t.notef(v.Pos, keyword, "%s: %q is %v: it fails every time, as with keepalived where /bin/sh is not bash (Debian's dash); use a program such as \"nc -z HOST PORT\"", keyword, argv[0], script.ErrShell)
		return checkedScript{argv: argv, cred: id.Credential(), ok: true}
	case err != nil:
		return disable(tracked, v.Pos, "%v", err)
	case !c.Executable:
		return disable(false, v.Pos, "%s is not executable by %s", c.Path, id)
	case c.Unsafe != "" && t.scriptSecurity():
		t.errorf(v.Pos, "%s: unsafe permissions for script %s run as %s: %s (refused under enable_script_security, where keepalived disables it)", keyword, c.Path, id, c.Unsafe)
		return checkedScript{}
	case c.Unsafe != "":
		t.notef(v.Pos, keyword, "%s: unsafe permissions for script %s run as %s: %s (keepalived runs it, and would refuse it under enable_script_security)", keyword, c.Path, id, c.Unsafe)
	}
	if c.Searched {
		t.notef(v.Pos, keyword, "%s: script %q resolved by path search to %s: please specify the full path (keepalived's warning)", keyword, argv[0], c.Path)
	}
	argv[0] = c.Path
	return checkedScript{argv: argv, cred: id.Credential(), ok: true}
}

// notef records a Notice of the plan about keyword at p.
func (t *translator) notef(p keepalived.Pos, keyword, format string, args ...any) {
	t.plan.Notices = append(t.plan.Notices, Warning{Pos: p, Keyword: keyword, Msg: fmt.Sprintf(format, args...)})
}

// defaultIdentity is whom a script without a user of its own runs as:
// script_user, else keepalived_script where that user exists, else the
// director itself (selfDefault), except under enable_script_security,
// where keepalived has no user for it. When there is none it says why.
func (t *translator) defaultIdentity() (script.Identity, string) {
	s := &t.scr
	if !s.resolved {
		s.resolved = true
		if su := t.cfg.Global.ScriptUser; su.Set() {
			var err error
			if s.defaultID, err = script.Lookup(su.V.User, su.V.Group); err != nil {
				t.warnf(su.Pos, "script_user", "script_user: %v: keepalived runs no script without a user of its own, and neither does the director", err)
				s.noDefault = fmt.Sprintf("script_user %s does not exist", su.V.User)
			}
		} else if id, err := script.Lookup(script.DefaultUser, ""); err == nil {
			s.defaultID = id
		} else if t.scriptSecurity() {
			s.noDefault = fmt.Sprintf("no script_user, and no user %s to run it as under enable_script_security", script.DefaultUser)
		} else {
			s.defaultID, s.selfDefault = script.Self(), true
		}
	}
	return s.defaultID, s.noDefault
}

// programOf is program for the director's own Program values.
func (t *translator) programOf(v keepalived.Value[keepalived.Script], keyword string) Program {
	argv, cred, _ := t.program(v, keyword, keepalived.Value[keepalived.User]{})
	return Program{Argv: argv, Credential: cred}
}

// notify makes a vrrp.Notify's scripts (the rest is set by the caller)
// of an instance's or a sync group's notify settings.
func (t *translator) notify(notify, master, backup, fault, stop keepalived.Value[keepalived.Script]) vrrp.Notify {
	var n vrrp.Notify
	none := keepalived.Value[keepalived.User]{}
	n.Script, n.ScriptCredential, _ = t.program(notify, "notify", none)
	n.Master, n.MasterCredential, _ = t.program(master, "notify_master", none)
	n.Backup, n.BackupCredential, _ = t.program(backup, "notify_backup", none)
	n.Fault, n.FaultCredential, _ = t.program(fault, "notify_fault", none)
	n.Stop, n.StopCredential, _ = t.program(stop, "notify_stop", none)
	return n
}

// logNotices logs the plan's notices about this host's scripts.
func logNotices(log *slog.Logger, p *Plan) {
	for _, n := range p.Notices {
		log.Warn("scripts: " + n.String())
	}
}
