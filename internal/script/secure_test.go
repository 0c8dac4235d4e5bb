package script_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/script"
	"github.com/lvskit/lvskit/internal/script/scripttest"
)

// tree is a directory of scripts and links in every state keepalived's
// check_script_secure tells apart.
type tree struct {
	root  string
	users scripttest.Users
}

// scriptCases are paths in a tree (relative to its root) with what Check
// says of them run as root: refused under enable_script_security (unsafe),
// disabled whatever the setting (err, or not executable), or fine.
var scriptCases = []struct {
	path   string
	unsafe bool // Unsafe is not empty
	failed bool // Check fails, or the file is not executable
	run    string
	// silent: keepalived -t disables the script without a word.
	silent bool
}{
	{path: "safe/ok.sh", run: "safe/ok.sh"},
	{path: "safe/mode777.sh", unsafe: true, run: "safe/mode777.sh"},
	{path: "safe/group-writable-root.sh", run: "safe/group-writable-root.sh"},
	{path: "safe/group-writable-other.sh", unsafe: true, run: "safe/group-writable-other.sh"},
	{path: "safe/owned-by-nobody.sh", unsafe: true, run: "safe/owned-by-nobody.sh"},
	{path: "safe/not-executable.sh", failed: true, run: "safe/not-executable.sh", silent: true},
	{path: "safe/missing.sh", failed: true},
	{path: "nobodys/ok.sh", unsafe: true, run: "nobodys/ok.sh"},
	{path: "open777/ok.sh", unsafe: true, run: "open777/ok.sh"},
	{path: "sticky1777/ok.sh", run: "sticky1777/ok.sh"},
	// A link is replaced by what it resolves to, and that is checked.
	{path: "safe/link-to-nobodys", unsafe: true, run: "nobodys/ok.sh"},
	{path: "nobodys/link-to-safe", run: "safe/ok.sh"},
	{path: "nobodys/ok-same-name/ok.sh", run: "safe/ok.sh"},
	// A link in the resolved directory with the configured name is kept,
	// and then its owner counts.
	{path: "safe/alias.sh", run: "safe/alias.sh"},
	{path: "safe/nobodys-alias.sh", unsafe: true, run: "safe/nobodys-alias.sh"},
}

func makeTree(t *testing.T) tree {
	t.Helper()
	u := scripttest.Root(t)
	// t.TempDir's own directory is root's, 0700, below /tmp (1777 root).
	tr := tree{root: t.TempDir(), users: u}
	r, nb, ng := tr.root, u.Nobody.UID, u.NobodyNogroup.GID
	const body = "exit 0"
	scripttest.Dir(t, r, "safe", 0o755, 0)
	scripttest.Dir(t, r, "nobodys", 0o755, nb)
	scripttest.Dir(t, r, "open777", 0o777, 0)
	scripttest.Dir(t, r, "sticky1777", os.ModeSticky|0o777, 0)
	scripttest.Dir(t, r, "nobodys/ok-same-name", 0o755, 0)
	scripttest.File(t, r, "safe/ok.sh", body, 0o755, 0, 0)
	scripttest.File(t, r, "safe/mode777.sh", body, 0o777, 0, 0)
	scripttest.File(t, r, "safe/group-writable-root.sh", body, 0o775, 0, 0)
	scripttest.File(t, r, "safe/group-writable-other.sh", body, 0o775, 0, ng)
	scripttest.File(t, r, "safe/owned-by-nobody.sh", body, 0o755, nb, 0)
	scripttest.File(t, r, "safe/not-executable.sh", body, 0o644, 0, 0)
	scripttest.File(t, r, "nobodys/ok.sh", body, 0o755, 0, 0)
	scripttest.File(t, r, "open777/ok.sh", body, 0o755, 0, 0)
	scripttest.File(t, r, "sticky1777/ok.sh", body, 0o755, 0, 0)
	scripttest.Link(t, r, "safe/link-to-nobodys", "nobodys/ok.sh", 0)
	scripttest.Link(t, r, "nobodys/link-to-safe", "safe/ok.sh", nb)
	scripttest.Link(t, r, "nobodys/ok-same-name/ok.sh", "safe/ok.sh", nb)
	// alias.sh -> ok.sh resolves to ok.sh; "alias.sh" in that directory is
	// the link itself, the same file: keepalived keeps the name.
	scripttest.Link(t, r, "safe/alias.sh", "safe/ok.sh", 0)
	scripttest.Link(t, r, "safe/nobodys-alias.sh", "safe/ok.sh", nb)
	return tr
}

func TestCheck(t *testing.T) {
	tr := makeTree(t)
	root := script.Identity{User: "root", Group: "root"}
	for _, tc := range scriptCases {
		t.Run(tc.path, func(t *testing.T) {
			c, err := script.Check(filepath.Join(tr.root, tc.path), root)
			if failed := err != nil || !c.Executable; failed != tc.failed {
				t.Fatalf("Check = %+v, %v; want failed %v", c, err, tc.failed)
			}
			if tc.failed {
				return
			}
			if got := c.Unsafe != ""; got != tc.unsafe {
				t.Errorf("Check: Unsafe %q, want unsafe %v", c.Unsafe, tc.unsafe)
			}
			if want := filepath.Join(tr.root, tc.run); c.Path != want {
				t.Errorf("Check: Path %s, want %s", c.Path, want)
			}
			if !c.Protected {
				t.Error("a script run as root is not Protected")
			}
		})
	}
}

// A script that runs as a user other than root is not checked for who can
// change it (keepalived: it cannot gain root's rights), but it must be
// executable by that user.
func TestCheckUnprivileged(t *testing.T) {
	tr := makeTree(t)
	c, err := script.Check(filepath.Join(tr.root, "safe/mode777.sh"), tr.users.NobodyNogroup)
	if err != nil || !c.Executable || c.Protected || c.Unsafe != "" {
		t.Errorf("mode 0777 run as %s: Check = %+v, %v; want executable, unprotected", tr.users.NobodyNogroup, c, err)
	}
	if err := os.Chmod(filepath.Join(tr.root, "safe/ok.sh"), 0o744); err != nil {
		t.Fatal(err)
	}
	c, err = script.Check(filepath.Join(tr.root, "safe/ok.sh"), tr.users.NobodyNogroup)
	if err != nil || c.Executable {
		t.Errorf("mode 0744 root's, run as %s: Check = %+v, %v; want not executable", tr.users.NobodyNogroup, c, err)
	}
}

func TestCheckPathSearchAndShell(t *testing.T) {
	root := script.Identity{User: "root", Group: "root"}
	c, err := script.Check("sh", root)
	if err != nil || !c.Searched || !filepath.IsAbs(c.Path) || filepath.Base(c.Path) != "sh" {
		t.Errorf(`Check("sh") = %+v, %v; want found on PATH, the name kept`, c, err)
	}
	if _, err := script.Check("no-such-program-here", root); err == nil || !strings.Contains(err.Error(), "not found in PATH") {
		t.Errorf("Check of a missing bare name: %v", err)
	}
	if _, err := script.Check("< /dev/tcp/127.0.0.1/80", root); !errors.Is(err, script.ErrShell) {
		t.Errorf("Check of a redirection: %v, want ErrShell", err)
	}
}

// keepalived itself (Debian's 2.2.7, `keepalived -t`) is the judge: each
// case, as a tracked vrrp_script run as root under
// enable_script_security, is disabled by keepalived exactly when Check
// says it is unsafe or failed.
func TestCheckAgreesWithKeepalived(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived is not installed (scripts/install-test-deps.sh installs it)")
	}
	tr := makeTree(t)
	for _, tc := range scriptCases {
		if tc.silent {
			continue
		}
		t.Run(tc.path, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "keepalived.conf")
			body := fmt.Sprintf(`global_defs {
    enable_script_security
    script_user root
}
vrrp_script chk {
    script "%s"
}
vrrp_instance V {
    interface lo
    virtual_router_id 1
    virtual_ipaddress {
        10.9.9.9/32
    }
    track_script {
        chk
    }
}
`, filepath.Join(tr.root, tc.path))
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			out, _ := exec.Command(bin, "-t", "-l", "-D", "-n", "-f", conf).CombinedOutput()
			disabled := strings.Contains(string(out), "Disabling track script chk")
			if want := tc.unsafe || tc.failed; disabled != want {
				t.Errorf("keepalived disabled the script: %v, Check says refused: %v\nkeepalived -t said:\n%s", disabled, want, out)
			}
		})
	}
}
