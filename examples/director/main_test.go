package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var book = filepath.Join("..", "..", "internal", "keepalived", "testdata", "book_lvs_1.conf")

// writeConf writes text after the book's file (so that its line numbers
// are text's own) and returns its path.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	b, err := os.ReadFile(book)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, append([]byte(text), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCheck runs the command and returns its exit code, stdout and stderr.
func runCheck(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// -t's verdicts: 0 for a file that runs as written, 3 for one that runs
// with warnings, 1 for one that does not run; every diagnostic as
// "file:line:col: severity: message".
func TestCheckVerdicts(t *testing.T) {
	clean := writeConf(t, "")
	if code, _, errOut := runCheck("-t", "-f", clean); code != exitOK || errOut != clean+": configuration OK\n" {
		t.Errorf("clean file: exit %d\n%s", code, errOut)
	}

	// enable_snmp_vrrp is parsed but not implemented; the typo keepalived
	// ignores too.
	warned := writeConf(t, "global_defs {\n    enable_snmp_vrrp\n    router_idd x\n}\n")
	code, out, errOut := runCheck("-t", "-f", warned)
	if code != exitWarnings || out != "" {
		t.Errorf("file with warnings: exit %d, stdout %q, want %d\n%s", code, out, exitWarnings, errOut)
	}
	wantLines := []string{
		warned + `:2:5: warning: keyword "enable_snmp_vrrp" is not implemented by lvskit and is ignored`,
		warned + `:3:5: warning: unknown keyword "router_idd" in global_defs (did you mean "router_id"?): ignored, as keepalived does`,
		warned + ": configuration OK, with 2 warnings (exit 3; --strict makes them errors)",
	}
	if diff := cmp.Diff(wantLines, strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	// --strict: the same warnings are errors.
	code, _, errOut = runCheck("-t", "--strict", "-f", warned)
	if code != exitErrors || !strings.Contains(errOut, warned+`:2:5: error: keyword "enable_snmp_vrrp"`) || !strings.Contains(errOut, "configuration rejected") {
		t.Errorf("--strict: exit %d, want %d\n%s", code, exitErrors, errOut)
	}

	// Errors: what keepalived stops on too, with warnings beside them.
	bad := filepath.Join(t.TempDir(), "bad.conf")
	text := "vrrp_instance V {\n    interface eth0\n    virtual_router_id 300\n    priority banana\n}\n"
	if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCheck("-t", "-f", bad)
	wantLines = []string{
		bad + `:1:1: error: vrrp_instance "V": missing virtual_router_id (keepalived does not start either)`,
		bad + `:3:23: warning: virtual_router_id: 300 is out of range [1, 255]: ignored, as keepalived does`,
		bad + `:4:14: warning: priority: invalid number "banana": ignored, as keepalived does`,
		bad + ": configuration rejected",
	}
	if code != exitErrors {
		t.Errorf("bad file: exit %d, want %d", code, exitErrors)
	}
	if diff := cmp.Diff(wantLines, strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	// A file that cannot be read is an error naming it.
	missing := filepath.Join(t.TempDir(), "nope.conf")
	if code, _, errOut := runCheck("-t", "-f", missing); code != exitErrors || !strings.HasPrefix(errOut, missing+": error: load "+missing) {
		t.Errorf("missing file: exit %d\n%s", code, errOut)
	}
}

// -t --json prints the diagnostics as a JSON array on stdout, and keeps
// the exit codes.
func TestCheckJSON(t *testing.T) {
	warned := writeConf(t, "global_defs {\n    enable_snmp_vrrp\n}\n")
	code, out, errOut := runCheck("-t", "--json", "-f", warned)
	if code != exitWarnings || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got []jsonDiagnostic
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, out)
	}
	want := []jsonDiagnostic{{File: warned, Line: 2, Col: 5, Severity: "warning",
		Message: `keyword "enable_snmp_vrrp" is not implemented by lvskit and is ignored`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, `"file":`) || !strings.Contains(out, `"col":`) || !strings.Contains(out, `"message":`) {
		t.Errorf("field names:\n%s", out)
	}

	clean := writeConf(t, "")
	if code, out, _ := runCheck("-t", "--json", "-f", clean); code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("clean file: exit %d, JSON %q, want 0 and []", code, out)
	}
	if code, out, _ := runCheck("-t", "--json", "--strict", "-f", warned); code != exitErrors || !strings.Contains(out, `"severity": "error"`) {
		t.Errorf("--strict --json: exit %d\n%s", code, out)
	}
}

// With --backend userspace, -t also rejects what that backend cannot
// carry, at its line.
func TestCheckFlagUserspace(t *testing.T) {
	code, _, errOut := runCheck("-t", "--backend", "userspace", "-f", book)
	if code != exitErrors {
		t.Fatalf("exit %d, want %d\n%s", code, exitErrors, errOut)
	}
	if !strings.Contains(errOut, book+":36:5: error: lb_kind DR: not supported by the userspace backend") {
		t.Errorf("output:\n%s", errOut)
	}
}

// Unknown flags and values are usage errors (exit 2), so are --strict
// and --json without -t.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--log-level", "loud"}, {"--nope"}, {"--strict", "-f", book}, {"--json", "-f", book}} {
		if code, _, _ := runCheck(args...); code != exitUsage {
			t.Errorf("%v = %d, want %d", args, code, exitUsage)
		}
	}
}

// debianSamples is where Debian's keepalived package puts keepalived's
// sample configurations.
const debianSamples = "/usr/share/doc/keepalived/samples"

// Every sample configuration keepalived ships runs under director -t: exit
// 0 or 3, never 1 (the one with auth_type AH too: vrrp runs AH).
func TestCheckDebianSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(debianSamples, "keepalived.conf.*"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no samples in %s: install keepalived (scripts/install-test-deps.sh)", debianSamples)
		}
		t.Skipf("no samples in %s (Debian's keepalived package)", debianSamples)
	}
	dir := t.TempDir()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			path := readSample(t, f, dir)
			code, _, errOut := runCheck("-t", "-i", "lvs1", "-f", path)
			if code != exitOK && code != exitWarnings {
				t.Errorf("exit %d, want 0 or 3\n%s", code, errOut)
			}
		})
	}
}

// readSample copies a sample into dir, gunzipped when it is .gz, and
// returns the copy's path.
func readSample(t *testing.T, f, dir string) string {
	t.Helper()
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var r io.Reader = fh
	name := filepath.Base(f)
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
		name = strings.TrimSuffix(name, ".gz")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
