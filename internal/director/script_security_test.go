package director

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/script/scripttest"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// securityConf has a script of each kind; the unsafe ones are on the
// lines named in TestLoadScriptSecurity.
const securityConf = `global_defs {
{{SECURITY}}
    script_user root
}
vrrp_script mode777 {
    script "{{MODE777}} arg"
}
vrrp_script in_nobodys_dir {
    script {{IN_DIR}}
}
vrrp_instance V {
    interface eth0
    virtual_router_id 9
    virtual_ipaddress {
        10.0.0.9/24
    }
    track_script {
        mode777
        in_nobodys_dir
    }
    notify_master {{LINK}}
    notify_backup {{OK}}
}
virtual_server 10.0.0.9 80 {
    quorum_up {{OK}}
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 10.0.0.1 80 {
        MISC_CHECK {
            misc_path "{{MODE777}}"
        }
    }
}
`

// Under enable_script_security a script run as root that another user
// could change is refused at load, at its position: a file of mode 0777,
// a file in a directory owned by another user, and a link (itself safe)
// to such a file. Without it the same file loads, and keepalived's
// notices at the same places are the plan's, for the director's log.
func TestLoadScriptSecurity(t *testing.T) {
	u := scripttest.Root(t)
	r := t.TempDir()
	scripttest.Dir(t, r, "safe", 0o755, 0)
	scripttest.Dir(t, r, "nobodys", 0o755, u.Nobody.UID)
	ok := scripttest.File(t, r, "safe/ok.sh", "exit 0", 0o755, 0, 0)
	mode777 := scripttest.File(t, r, "safe/mode777.sh", "exit 0", 0o777, 0, 0)
	inDir := scripttest.File(t, r, "nobodys/ok.sh", "exit 0", 0o755, 0, 0)
	link := scripttest.Link(t, r, "safe/link.sh", "nobodys/ok.sh", 0)
	write := func(security string) string {
		text := strings.NewReplacer("{{SECURITY}}", security, "{{MODE777}}", mode777, "{{IN_DIR}}", inDir,
			"{{LINK}}", link, "{{OK}}", ok).Replace(securityConf)
		return writeTemp(t, text)
	}
	unsafe := []string{":6:5: script: unsafe permissions for script " + mode777,
		":9:5: script: unsafe permissions for script " + inDir,
		":21:5: notify_master: unsafe permissions for script " + inDir, // the link resolved
		":31:13: misc_path: unsafe permissions for script " + mode777}

	path := write("    enable_script_security")
	_, _, err := Load(path, "")
	if err == nil {
		t.Fatal("Load accepted unsafe scripts under enable_script_security")
	}
	var got []string
	for _, d := range Diagnostics(err) {
		got = append(got, d.String())
	}
	for _, want := range unsafe {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, path+want) }) {
			t.Errorf("no error %s%s...; got:\n%s", path, want, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(unsafe) {
		t.Errorf("%d errors, want %d:\n%s", len(got), len(unsafe), strings.Join(got, "\n"))
	}

	path = write("")
	p, warns := mustLoad(t, path, "")
	if len(warns) != 0 {
		t.Errorf("warnings %v; keepalived -t reports none", warns)
	}
	for _, want := range unsafe {
		if !slices.ContainsFunc(p.Notices, func(w Warning) bool { return strings.HasPrefix(w.String(), path+want) }) {
			t.Errorf("no notice %s%s...; got %v", path, want, p.Notices)
		}
	}
	// What runs is the resolved path, as root (script_user root).
	n := p.Instances[0].VRRP.Notify
	if len(n.Master) != 1 || n.Master[0] != inDir || n.MasterCredential == nil || n.MasterCredential.Uid != 0 {
		t.Errorf("notify_master runs %q as %+v, want %s as root", n.Master, n.MasterCredential, inDir)
	}
}

// Every kind of script runs as script_user's user and group, with that
// group alone: the vrrp_script, notify_master, the MISC_CHECK, notify_up
// and quorum_up each write who they are.
func TestScriptsRunAsScriptUser(t *testing.T) {
	u := scripttest.Root(t)
	dir := scripttest.PublicDir(t)
	out := scripttest.Dir(t, dir, "out", 0o777, 0)
	log := filepath.Join(out, "ids")
	id := func(kind string) string {
		return scripttest.File(t, dir, kind+".sh", fmt.Sprintf(`echo "%s $(id -u) $(id -g) $(id -G)" >> %s`, kind, log), 0o755, 0, 0)
	}
	conf := fmt.Sprintf(`global_defs {
    vrrp_version 3
    script_user nobody nogroup
}
vrrp_script chk {
    script %s
    interval 1
}
vrrp_instance V {
    interface eth0
    dont_track_primary
    virtual_router_id 9
    advert_int 0.1
    virtual_ipaddress {
        10.0.0.9/24
    }
    track_script {
        chk
    }
    notify_master %s
}
virtual_server 10.0.0.9 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    delay_loop 1
    quorum_up %s
    real_server 127.0.0.1 80 {
        alpha
        notify_up %s
        MISC_CHECK {
            misc_path %s
            warmup 0
        }
    }
}
`, id("vrrp_script"), id("notify_master"), id("quorum_up"), id("notify_up"), id("misc_check"))
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startDirector(t, Options{ConfigPath: path, IPVS: ipvs.NewMemory(), Network: &fakeNetwork{},
		Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.2"))})
	kinds := []string{"vrrp_script", "notify_master", "misc_check", "notify_up", "quorum_up"}
	seen := func() map[string]string {
		b, _ := os.ReadFile(log)
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if k, rest, ok := strings.Cut(line, " "); ok {
				m[k] = rest
			}
		}
		return m
	}
	waitTrue(t, "every script ran", func() bool { return len(seen()) == len(kinds) })
	want := fmt.Sprintf("%d %d %d", u.NobodyNogroup.UID, u.NobodyNogroup.GID, u.NobodyNogroup.GID)
	for _, k := range kinds {
		if got := seen()[k]; got != want {
			t.Errorf("%s ran as %q (uid gid groups), want %q", k, got, want)
		}
	}
}
