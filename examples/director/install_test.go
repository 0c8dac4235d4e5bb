package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/director"
)

// The systemd unit keeps the director's contract: Type=notify, reload by
// SIGHUP, a watchdog, the control socket where `director status` looks
// for it, in a folder only root may enter.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "systemd", "lvskit-director.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]string{}
	section := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = l
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Errorf("unit line %q is not KEY=VALUE", l)
			}
			unit[section+k] = v
		}
	}
	for k, want := range map[string]string{
		"[Service]Type":                 "notify",
		"[Service]NotifyAccess":         "main",
		"[Service]ExecReload":           "/bin/kill -HUP $MAINPID",
		"[Service]WatchdogSec":          "30",
		"[Service]RuntimeDirectory":     "lvskit",
		"[Service]RuntimeDirectoryMode": "0700",
		"[Install]WantedBy":             "multi-user.target",
	} {
		if unit[k] != want {
			t.Errorf("%s=%q, want %q", k, unit[k], want)
		}
	}
	start := unit["[Service]ExecStart"]
	if !strings.HasPrefix(start, "/usr/local/sbin/director ") || !strings.Contains(start, " --socket "+director.DefaultControlSocket+" ") {
		t.Errorf("ExecStart=%s: want /usr/local/sbin/director with --socket %s", start, director.DefaultControlSocket)
	}
	if filepath.Dir(director.DefaultControlSocket) != "/run/"+unit["[Service]RuntimeDirectory"] {
		t.Errorf("the default control socket %s is not in RuntimeDirectory=%s", director.DefaultControlSocket, unit["[Service]RuntimeDirectory"])
	}
}

// make install honours BIN, PREFIX and DESTDIR: the binaries in
// $(PREFIX)/sbin, the unit in $(PREFIX)/lib/systemd/system naming the
// installed director.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example")
	}
	dest, bin := t.TempDir(), t.TempDir()
	cmd := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "install", "BIN="+bin, "DESTDIR="+dest, "PREFIX=/opt/lvskit")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, prog := range []string{"director", "router", "realserver"} {
		fi, err := os.Stat(filepath.Join(dest, "opt/lvskit/sbin", prog))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v; want mode 0755", prog, fi, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dest, "opt/lvskit/lib/systemd/system/lvskit-director.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nExecStart=/opt/lvskit/sbin/director -f ") {
		t.Errorf("installed unit does not start /opt/lvskit/sbin/director:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dest, "opt/lvskit/sbin/cluster")); err == nil {
		t.Error("the demo was installed too")
	}
}
