package keepalived

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Options control how a configuration is read. The zero value reads from
// the operating system's files with no config-id.
type Options struct {
	// Host is the config-id that @id / @^id conditional lines are compared
	// with (keepalived's -i option; keepalived's default is the host
	// name up to the first dot; pass that to behave as keepalived does).
	// Empty means no @id line is kept and every @^id line is. It is also
	// the value of ${_INSTANCE}.
	Host string

	// FS is where include files (and ParseFile's path) are read from.
	// Paths are fs.FS paths: an absolute path in the configuration
	// ("/etc/keepalived/conf.d/*.conf") is taken relative to the root of FS.
	// Nil means the operating system's file system.
	FS fs.FS

	// Random returns a number in [min, max] for ${_RANDOM min max}.
	// Nil means math/rand/v2.
	Random func(min, max int) int
}

// ParseFile reads the configuration at path (an OS path, or an fs.FS path
// when opts.FS is set) with everything it includes.
func ParseFile(name string, opts Options) (*Config, []Warning, error) {
	if opts.FS == nil {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		data, err := readLimited(name)
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		return parse(data, name, strings.TrimPrefix(filepath.ToSlash(filepath.Dir(abs)), "/"), opts)
	}
	p := fsPath(name)
	f, err := opts.FS.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, nil, fmt.Errorf("read config: %s is larger than %d bytes", name, maxFileSize)
	}
	return parse(data, name, path.Dir(p), opts)
}

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxFileSize)
	}
	return data, nil
}

// Parse reads a configuration from r. name is used in positions and, as a
// path, to resolve relative includes (relative to the directory of name).
func Parse(r io.Reader, name string, opts Options) (*Config, []Warning, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, nil, fmt.Errorf("read config: %s is larger than %d bytes", name, maxFileSize)
	}
	var dir string
	if opts.FS == nil {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		dir = strings.TrimPrefix(filepath.ToSlash(filepath.Dir(abs)), "/")
	} else {
		dir = path.Dir(fsPath(name))
	}
	return parse(data, name, dir, opts)
}

func fsPath(name string) string {
	p := path.Clean(strings.TrimLeft(filepath.ToSlash(name), "/"))
	if p == "" {
		return "."
	}
	return p
}

func parse(data []byte, name, dir string, opts Options) (*Config, []Warning, error) {
	var d diags
	fsys, osMode := opts.FS, false
	if fsys == nil {
		fsys, osMode = os.DirFS("/"), true
	}
	if dir == "" {
		dir = "."
	}
	pp := newPreprocessor(&d, &opts, fsys, osMode)
	pp.readFile(data, name, dir)
	tree := buildTree(pp.out, &d)
	dec := &decoder{diags: &d, cfg: &Config{}}
	dec.top(tree)
	dec.validate()
	if len(d.errs) > 0 {
		return nil, d.warns, &ParseError{Diagnostics: d.errs}
	}
	return dec.cfg, d.warns, nil
}

// Top-level blocks lvskit recognises but does not implement.
var topIgnored = set("bfd_instance", "garp_group",
	"linkbeat_interfaces", "track_group", "interface_up_down_delays", "SSL",
	"net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "instance",
	"use_pid_dir", "linkbeat_use_polling", "child_wait_time")

func (d *decoder) top(root *node) {
	t := table{
		"global_defs":          d.globalDefs,
		"vrrp_script":          d.vrrpScript,
		"track_file":           d.trackFile,
		"vrrp_track_file":      d.trackFile,
		"vrrp_track_process":   d.trackProcess,
		"vrrp_sync_group":      d.syncGroup,
		"vrrp_instance":        d.vrrpInstance,
		"static_ipaddress":     d.ipAddresses(&d.cfg.StaticIPAddresses),
		"static_routes":        d.routes(&d.cfg.StaticRoutes),
		"static_rules":         d.rules(&d.cfg.StaticRules),
		"virtual_server_group": d.virtualServerGroup,
		"virtual_server":       d.virtualServer,
	}
	d.decodeBlock("", root, t, topIgnored)
}
