package vmtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseAptDepends(t *testing.T) {
	tests := []struct {
		name, out, want string
		ok              bool
	}{
		{"bookworm", "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n", "linux-image-6.1.0-56-amd64", true},
		{"alternatives", "linux-image-amd64\n |Depends: linux-image-6.1.0-56-amd64\n  Depends: linux-image-6.1.0-56-amd64-unsigned\n", "linux-image-6.1.0-56-amd64", true},
		{"other deps first", "linux-image-amd64\n  Depends: initramfs-tools\n  Depends: linux-image-6.12.9-amd64\n", "linux-image-6.12.9-amd64", true},
		{"rt flavour is not amd64", "linux-image-amd64\n  Depends: linux-image-6.1.0-56-rt-amd64\n", "", false},
		{"cloud flavour is not amd64", "x\n  Depends: linux-image-6.1.0-56-cloud-amd64\n", "", false},
		{"trixie abi", "x\n  Depends: linux-image-6.12.43+deb13-amd64\n", "linux-image-6.12.43+deb13-amd64", true},
		{"empty lists", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAptDepends(tt.out)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseAptDepends = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseAptCandidate(t *testing.T) {
	tests := []struct {
		name, out, want string
		ok              bool
	}{
		{"candidate", "linux-image-6.1.0-56-amd64:\n  Installed: (none)\n  Candidate: 6.1.192-2\n", "6.1.192-2", true},
		{"epoch", "x:\n  Candidate: 1:2.3-4\n", "1:2.3-4", true},
		{"none", "x:\n  Installed: (none)\n  Candidate: (none)\n", "", false},
		{"unknown package", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAptCandidate(tt.out)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseAptCandidate = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCachedKernels(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{
		debFileName("linux-image-6.1.0-55-amd64", "6.1.180-1"),
		debFileName("linux-image-6.1.0-56-amd64", "1:6.1.192-2"),
		"unrelated_1_amd64.deb",
	} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := cachedKernels(dir)
	var names []string
	for _, k := range got {
		names = append(names, k.name+"="+k.version)
	}
	want := []string{"linux-image-6.1.0-56-amd64=1:6.1.192-2", "linux-image-6.1.0-55-amd64=6.1.180-1"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("cachedKernels (-want +got):\n%s", diff)
	}
	if r := got[0].release(); r != "6.1.0-56-amd64" {
		t.Errorf("release() = %q", r)
	}
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibpopt.so.0 => /lib/x86_64-linux-gnu/libpopt.so.0 (0x00007f10)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f10)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f10)\n"
	got, err := parseLdd(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libpopt.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseLdd (-want +got):\n%s", diff)
	}
	if _, err := parseLdd("\tlibnl-3.so.200 => not found\n"); err == nil {
		t.Errorf("parseLdd accepted a missing library")
	}
	if got, err := parseLdd("\tnot a dynamic executable\n"); err != nil || len(got) != 0 {
		t.Errorf("static binary: got %v, %v; want nothing", got, err)
	}
}

func TestParseModinfoDepends(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"ip_vs", "license=GPL\x00depends=nf_conntrack,nf_defrag_ipv6,nf_defrag_ipv4,libcrc32c\x00retpoline=Y\x00", []string{"nf_conntrack", "nf_defrag_ipv6", "nf_defrag_ipv4", "libcrc32c"}},
		{"no deps", "depends=\x00name=llc\x00", nil},
		{"dash names", "depends=nf-nat\x00", []string{"nf_nat"}},
		{"softdep ignored", "softdep=pre: crc32c\x00", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseModinfoDepends([]byte(tt.in))); diff != "" {
				t.Errorf("parseModinfoDepends (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseExitMarker(t *testing.T) {
	tests := []struct {
		line   string
		status int
		ok     bool
	}{
		{"LVSKIT-VM-EXIT abc 0", 0, true},
		{"LVSKIT-VM-EXIT abc 137", 137, true},
		{"[  1.0] noise LVSKIT-VM-EXIT abc 2 trailing", 2, true},
		{"LVSKIT-VM-EXIT other 0", 0, false}, // another run's nonce
		{"LVSKIT-VM-EXIT abc", 0, false},
		{"LVSKIT-VM-EXIT abc x", 0, false},
		{"PASS", 0, false},
	}
	for _, tt := range tests {
		s, ok := parseExitMarker(tt.line, "abc")
		if s != tt.status || ok != tt.ok {
			t.Errorf("parseExitMarker(%q) = %d, %v; want %d, %v", tt.line, s, ok, tt.status, tt.ok)
		}
	}
}

// TestShellQuote runs the quoted words through a real sh.
func TestShellQuote(t *testing.T) {
	words := []string{"plain", "with space", "it's", `"double"`, "$HOME", "a\nb", "", "'; exit 1; '"}
	var script strings.Builder
	script.WriteString("printf '%s|'")
	for _, w := range words {
		script.WriteString(" " + shellQuote(w))
	}
	out, err := exec.Command("sh", "-c", script.String()).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	if diff := cmp.Diff(strings.Join(words, "|")+"|", string(out)); diff != "" {
		t.Errorf("round trip through sh (-want +got):\n%s", diff)
	}
}

func TestRunScript(t *testing.T) {
	t.Setenv("CI", "true")
	got, err := runScript(Config{Run: "^TestGuest$", Args: []string{"-test.count=1"}, Env: []string{"A=b c"}, CPUs: 2}, true, "n0nce")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"export 'GOMAXPROCS=2'\n",
		"export 'CI=true'\n",
		"export 'A=b c'\n",
		"'/lvskit/test.bin' '-test.v' '-test.run' '^TestGuest$' '-test.timeout' '4m30s' '-test.count=1'\n",
		`echo "LVSKIT-VM-EXIT n0nce $status"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("run script lacks %q:\n%s", want, got)
		}
	}

	bad := []Config{
		{Env: []string{"NOEQUALS"}},
		{Env: []string{"A B=c"}},
		{Command: []string{"relative/prog"}},
		{}, // neither test binary nor command
	}
	for _, cfg := range bad {
		if _, err := runScript(cfg, false, "n"); err == nil {
			t.Errorf("runScript(%+v) accepted bad config", cfg)
		}
	}

	got, err = runScript(Config{Command: []string{"/bin/demo", "-x"}, Timeout: 30 * time.Second}, false, "n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "'/bin/demo' '-x'\n") || strings.Contains(got, "test.bin") {
		t.Errorf("Command script wrong:\n%s", got)
	}
}

// TestCPIOWriter checks the archive with the host's cpio, an independent
// reader of the newc format.
func TestCPIOWriter(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		skipOrFail(t, "cpio not found (package cpio); %s", installHint)
	}
	dir := t.TempDir()
	host := filepath.Join(dir, "host.txt")
	if err := os.WriteFile(host, []byte("from the host\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "sub/deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sub/deeper/f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("deeper/f", filepath.Join(tree, "sub/l")); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	w := newCPIOWriter(&buf)
	w.CharDev("dev/console", 0o600, 5, 1)
	w.File("/lvskit/run.sh", 0o755, []byte("echo hi\n"))
	w.FileFrom("a/b/c.txt", 0o644, host)
	w.Symlink("var/run", "/run")
	w.Tree(tree)
	w.File("odd", 0o644, []byte("12345")) // not a multiple of 4
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	list := exec.Command(cpio, "-it", "--quiet")
	list.Stdin = bytes.NewReader(buf.Bytes())
	out, err := list.Output()
	if err != nil {
		t.Fatalf("cpio -it: %v", err)
	}
	want := []string{
		"dev", "dev/console", "lvskit", "lvskit/run.sh", "a", "a/b", "a/b/c.txt",
		"var", "var/run", "sub", "sub/deeper", "sub/deeper/f", "sub/l", "odd",
	}
	if diff := cmp.Diff(want, strings.Fields(string(out))); diff != "" {
		t.Errorf("archive names (-want +got):\n%s", diff)
	}

	ext := filepath.Join(dir, "ext")
	if err := os.Mkdir(ext, 0o755); err != nil {
		t.Fatal(err)
	}
	extract := exec.Command(cpio, "-id", "--quiet", "--no-absolute-filenames", "a/b/c.txt", "lvskit/run.sh", "sub/l", "odd")
	extract.Dir = ext
	extract.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"a/b/c.txt": "from the host\n", "lvskit/run.sh": "echo hi\n", "odd": "12345"} {
		got, err := os.ReadFile(filepath.Join(ext, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(ext, "lvskit/run.sh")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode = %v, %v; want 0755", st.Mode(), err)
	}
	if target, err := os.Readlink(filepath.Join(ext, "sub/l")); err != nil || target != "deeper/f" {
		t.Errorf("symlink sub/l -> %q, %v; want deeper/f", target, err)
	}
}

func TestHasNote(t *testing.T) {
	note := func(name string, typ uint32, desc []byte) []byte {
		var b bytes.Buffer
		n := append([]byte(name), 0)
		binary.Write(&b, binary.LittleEndian, uint32(len(n)))
		binary.Write(&b, binary.LittleEndian, uint32(len(desc)))
		binary.Write(&b, binary.LittleEndian, typ)
		b.Write(n)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(desc)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		return b.Bytes()
	}
	notes := append(note("GNU", 3, []byte("buildid-12345")), note("Xen", 18, []byte{1, 2, 3, 4, 5, 6, 7, 8})...)
	if !hasNote(notes, "Xen", 18) {
		t.Errorf("PVH note not found")
	}
	if hasNote(notes, "Xen", 5) || hasNote(notes, "Linux", 18) {
		t.Errorf("found a note that is not there")
	}
	if hasNote(notes[:len(notes)-3], "Xen", 18) {
		t.Errorf("truncated note accepted")
	}
}

func TestInGuest(t *testing.T) {
	t.Setenv(guestEnv, "")
	if InGuest() {
		t.Errorf("InGuest() = true without %s", guestEnv)
	}
	t.Setenv(guestEnv, "1")
	if !InGuest() {
		t.Errorf("InGuest() = false with %s=1", guestEnv)
	}
}

// TestSkipOrFail checks the policy for missing prerequisites: skip on a
// developer machine, fail under CI=true.
func TestSkipOrFail(t *testing.T) {
	for _, tt := range []struct {
		ci                 string
		wantFail, wantSkip bool
	}{
		{"", false, true},
		{"true", true, false},
	} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				skipOrFail(rec, "qemu missing")
			}()
			<-done
			if rec.failed != tt.wantFail || rec.skipped != tt.wantSkip {
				t.Errorf("failed=%v skipped=%v; want failed=%v skipped=%v", rec.failed, rec.skipped, tt.wantFail, tt.wantSkip)
			}
			if !strings.Contains(rec.msg, "qemu missing") {
				t.Errorf("message %q lacks the reason", rec.msg)
			}
		})
	}
}

// TestLockFile checks the cache lock excludes a second holder, also in
// another process, and that waiting ends with the context.
func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	// flock(1) from util-linux is an independent second process.
	if flock, err := exec.LookPath("flock"); err == nil {
		if err := exec.Command(flock, "-n", path, "true").Run(); err == nil {
			t.Errorf("another process took the lock while it was held")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second lockFile = %v, want a deadline error", err)
	}
	unlock()
	unlock2, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
}

// TestLockAny checks VM slots: a free slot is taken while another is
// held, and with all held the wait ends with the context.
func TestLockAny(t *testing.T) {
	dir := t.TempDir()
	slots := []string{filepath.Join(dir, "s0"), filepath.Join(dir, "s1")}
	r0, err := lockAny(context.Background(), slots)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := lockAny(context.Background(), slots)
	if err != nil {
		t.Fatalf("second slot: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockAny(ctx, slots); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third holder got %v, want a deadline error", err)
	}
	r0()
	r2, err := lockAny(context.Background(), slots)
	if err != nil {
		t.Fatalf("slot after release: %v", err)
	}
	r1()
	r2()
}
