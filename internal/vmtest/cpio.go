package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// cpioWriter writes an archive in the "newc" format the kernel unpacks as
// an initramfs. It is tiny on purpose: regular files, directories,
// symlinks and character devices are all an initramfs needs, and writing
// the format here keeps the harness independent of the host's cpio tool
// and lets device nodes be added without mknod on the host.
type cpioWriter struct {
	w    *bufio.Writer
	n    int64 // bytes written, for 4-byte alignment
	ino  uint32
	dirs map[string]bool // directories already written
	err  error
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), ino: 1, dirs: map[string]bool{}}
}

const (
	cpioModeDir  = 0o040000
	cpioModeFile = 0o100000
	cpioModeLink = 0o120000
	cpioModeChar = 0o020000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// header writes one entry header and its name. name is relative to the
// archive root, without a leading slash.
func (c *cpioWriter) header(name string, mode uint32, size int64, rmajor, rminor uint32) {
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == cpioModeDir {
		nlink = 2
	}
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rmajor, rminor, len(name)+1, 0)
	c.write([]byte(h))
	c.write([]byte(name))
	c.write([]byte{0})
	c.pad()
}

// Dir writes a directory entry and, first, any parent not written yet.
func (c *cpioWriter) Dir(name string, perm uint32) {
	name = cleanArchivePath(name)
	if name == "." || c.dirs[name] {
		return
	}
	if parent := path.Dir(name); parent != "." {
		c.Dir(parent, 0o755)
	}
	c.dirs[name] = true
	c.header(name, cpioModeDir|perm, 0, 0, 0)
}

// File writes a regular file with the given contents.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	name = cleanArchivePath(name)
	c.Dir(path.Dir(name), 0o755)
	c.header(name, cpioModeFile|perm, int64(len(data)), 0, 0)
	c.write(data)
	c.pad()
}

// FileFrom copies a host file into the archive, following symlinks.
func (c *cpioWriter) FileFrom(name string, perm uint32, hostPath string) {
	if c.err != nil {
		return
	}
	f, err := os.Open(hostPath)
	if err != nil {
		c.err = fmt.Errorf("open %s: %w", hostPath, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.err = fmt.Errorf("stat %s: %w", hostPath, err)
		return
	}
	if !st.Mode().IsRegular() {
		c.err = fmt.Errorf("add %s: not a regular file", hostPath)
		return
	}
	if st.Size() > 1<<32-1 {
		c.err = fmt.Errorf("add %s: file too large for cpio", hostPath)
		return
	}
	name = cleanArchivePath(name)
	c.Dir(path.Dir(name), 0o755)
	c.header(name, cpioModeFile|perm, st.Size(), 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, f)
	c.n += n
	if err != nil {
		c.err = fmt.Errorf("copy %s: %w", hostPath, err)
		return
	}
	if n != st.Size() {
		c.err = fmt.Errorf("copy %s: file changed size while copying", hostPath)
		return
	}
	c.pad()
}

// Symlink writes a symbolic link name -> target.
func (c *cpioWriter) Symlink(name, target string) {
	name = cleanArchivePath(name)
	c.Dir(path.Dir(name), 0o755)
	c.header(name, cpioModeLink|0o777, int64(len(target)), 0, 0)
	c.write([]byte(target))
	c.pad()
}

// CharDev writes a character device node.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	name = cleanArchivePath(name)
	c.Dir(path.Dir(name), 0o755)
	c.header(name, cpioModeChar|perm, 0, major, minor)
}

// Tree adds every directory, regular file and symlink below hostDir,
// in sorted order so the archive is reproducible.
func (c *cpioWriter) Tree(hostDir string) {
	if c.err != nil {
		return
	}
	var paths []string
	err := filepath.WalkDir(hostDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		c.err = fmt.Errorf("walk %s: %w", hostDir, err)
		return
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, err := filepath.Rel(hostDir, p)
		if err != nil {
			c.err = err
			return
		}
		if rel == "." {
			continue
		}
		st, err := os.Lstat(p)
		if err != nil {
			c.err = err
			return
		}
		perm := uint32(st.Mode().Perm())
		switch {
		case st.IsDir():
			c.Dir(rel, perm)
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				c.err = err
				return
			}
			c.Symlink(rel, target)
		case st.Mode().IsRegular():
			c.FileFrom(rel, perm, p)
		default:
			c.err = fmt.Errorf("add %s: unsupported file type %v", p, st.Mode().Type())
			return
		}
	}
}

// Close writes the trailer and flushes. It does not close the underlying writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

func cleanArchivePath(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(name)), "/")
	if name == "" {
		return "."
	}
	return name
}
