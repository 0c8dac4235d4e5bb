package script

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Checked is a script's program as keepalived's check_script_secure
// leaves it when a configuration is loaded.
type Checked struct {
	// Path is the program to run: the configured one, found on PATH when
	// it has no slash, with its symbolic links resolved as keepalived
	// resolves them (the directory resolved, the file name kept when a
	// link of that name in the resolved directory is the same file).
	Path string
	// Searched is set when the configured name had no slash and was
	// found on PATH; keepalived warns that a full path should be given.
	Searched bool
	// Executable says whether the user and group the script runs as may
	// execute the file. keepalived disables a script that is not.
	Executable bool
	// Protected is set when the script runs with root's user or group, or
	// is set-user-ID or set-group-ID root: then no other user may be able
	// to change it.
	Protected bool
	// Unsafe, when not empty, says which component of the path another
	// user than root can change, and how (Protected scripts only).
	// keepalived refuses such a script under enable_script_security.
	Unsafe string
}

// ErrShell is returned by Check for a command that only a shell can run:
// keepalived runs "</path" (a test that a file can be opened; bash makes
// a connection of /dev/tcp/HOST/PORT) through /bin/sh; lvskit runs no
// shell, so such a command fails as it does where /bin/sh is dash.
var ErrShell = errors.New("a shell redirection, which keepalived runs through /bin/sh; lvskit runs programs without a shell")

// Check does what keepalived's check_script_secure does with the program
// argv0 of a script that runs as id. An error means keepalived disables
// the script whatever enable_script_security says: the program is not
// found, cannot be examined, or its path has a component of the wrong
// type (a non-directory before the last, or something other than a file
// or a link at the end).
//
// keepalived resolves symbolic links with the script user's rights; Check
// resolves them with this process's, so a directory that the script user
// may not search is not refused here (running it then fails).
func Check(argv0 string, id Identity) (Checked, error) {
	if strings.HasPrefix(argv0, "<") && strings.HasPrefix(strings.TrimLeft(argv0[1:], " \t"), "/") {
		return Checked{}, fmt.Errorf("check script %q: %w", argv0, ErrShell)
	}
	var c Checked
	path := argv0
	if !strings.Contains(path, "/") {
		found, err := searchPath(path, id)
		if err != nil {
			return Checked{}, err
		}
		path, c.Searched = found, true
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Checked{}, fmt.Errorf("check script %s: %w", path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return Checked{}, fmt.Errorf("check script %s: cannot be accessed: %w", path, err)
	}
	// check_script_secure: the program runs as the resolved path; when the
	// file names differ, the resolved directory with the configured name
	// is kept if it is the same file (some programs behave by the name
	// they are called by), and both paths are checked.
	c.Path = real
	realFile := ""
	if filepath.Base(path) != filepath.Base(real) {
		keep := filepath.Join(filepath.Dir(real), filepath.Base(path))
		if ri, err := os.Stat(real); err != nil || sameFile(ri, keep) {
			c.Path, realFile = keep, real
		}
	}
	target := c.Path
	if realFile != "" {
		target = realFile
	}
	st, err := stat(target, os.Stat)
	if err != nil {
		return Checked{}, fmt.Errorf("check script %s: %w", path, err)
	}
	c.Executable = executable(st, id)
	if !c.Executable {
		return c, nil
	}
	c.Protected = id.Privileged() ||
		st.Uid == 0 && st.Mode&syscall.S_IXUSR != 0 && st.Mode&syscall.S_ISUID != 0 ||
		st.Gid == 0 && st.Mode&syscall.S_IXGRP != 0 && st.Mode&syscall.S_ISGID != 0
	if !c.Protected {
		return c, nil
	}
	for _, p := range []string{c.Path, realFile} {
		if p == "" || c.Unsafe != "" {
			continue
		}
		unsafe, err := pathSecurity(p)
		if err != nil {
			return Checked{}, fmt.Errorf("check script %s: %w", path, err)
		}
		c.Unsafe = unsafe
	}
	return c, nil
}

// sameFile reports whether path is the file fi describes.
func sameFile(fi fs.FileInfo, path string) bool {
	pi, err := os.Stat(path)
	return err == nil && os.SameFile(fi, pi)
}

// stat is a raw stat of path through statFn (os.Stat or os.Lstat).
func stat(path string, statFn func(string) (fs.FileInfo, error)) (*syscall.Stat_t, error) {
	fi, err := statFn(path)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("stat %s: no owner and mode", path)
	}
	return st, nil
}

// executable is keepalived's is_executable: whether uid:gid may execute a
// file with st's owner and mode (root: any execute bit).
func executable(st *syscall.Stat_t, id Identity) bool {
	m := st.Mode
	switch {
	case id.UID == 0:
		return m&(syscall.S_IXUSR|syscall.S_IXGRP|syscall.S_IXOTH) != 0
	case id.UID == st.Uid:
		return m&syscall.S_IXUSR != 0
	case id.GID == st.Gid:
		return m&syscall.S_IXGRP != 0
	}
	return m&syscall.S_IXOTH != 0
}

// pathSecurity is keepalived's check_security: every prefix of path up to
// a slash ("/", "/a", "/a/b", ...) must be a directory, the whole path a
// file or a symbolic link (not followed), and none may be owned by a user
// other than root, nor writable by a group other than root or by everyone
// (a directory with the sticky bit excepted). It returns what is unsafe,
// or "" when nothing is.
func pathSecurity(path string) (string, error) {
	var prefixes []string
	for i := 0; i < len(path); i++ {
		if path[i] != '/' {
			continue
		}
		if i == 0 {
			prefixes = append(prefixes, "/")
		} else if path[i-1] != '/' {
			prefixes = append(prefixes, path[:i])
		}
	}
	prefixes = append(prefixes, path)
	for n, p := range prefixes {
		st, err := stat(p, os.Lstat)
		if err != nil {
			return "", err
		}
		last := n == len(prefixes)-1
		typ := st.Mode & syscall.S_IFMT
		isDir, isReg := typ == syscall.S_IFDIR, typ == syscall.S_IFREG
		if !last && !isDir || last && !isReg && typ != syscall.S_IFLNK {
			return "", fmt.Errorf("wrong file type in script path: %s", p)
		}
		switch {
		case st.Uid != 0:
			return fmt.Sprintf("%s is owned by uid %d", p, st.Uid), nil
		case !(isDir && st.Mode&syscall.S_ISVTX == 0 || isReg):
			// A directory with the sticky bit, or a link: its write bits
			// let no one else replace what it names.
		case st.Gid != 0 && st.Mode&syscall.S_IWGRP != 0:
			return fmt.Sprintf("%s is writable by group %d", p, st.Gid), nil
		case st.Mode&syscall.S_IWOTH != 0:
			return fmt.Sprintf("%s is writable by everyone", p), nil
		}
	}
	return "", nil
}

// searchPath is keepalived's find_path: the first file called name in a
// directory of $PATH (or /bin:/usr/bin) that is a regular file id may
// execute; an empty element is the current directory.
func searchPath(name string, id Identity) (string, error) {
	dirs := os.Getenv("PATH")
	if dirs == "" {
		dirs = "/bin:/usr/bin"
	}
	denied := false
	for dir := range strings.SplitSeq(dirs, ":") {
		p := name
		if dir != "" {
			p = dir + "/" + name
		}
		st, err := stat(p, os.Stat)
		if err != nil {
			continue
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG || !executable(st, id) {
			denied = true
			continue
		}
		return p, nil
	}
	if denied {
		return "", fmt.Errorf("check script %s: found in PATH but not executable by %s", name, id)
	}
	return "", fmt.Errorf("check script %s: not found in PATH", name)
}
