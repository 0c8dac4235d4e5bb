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

	// Limits bound the files read (size, number, line length); the zero
	// value is the documented defaults.
	Limits Limits
}

// ParseFile reads the configuration at path (an OS path, or an fs.FS path
// when opts.FS is set) with everything it includes. The file, as every
// include, must be a regular file within opts.Limits.
func ParseFile(name string, opts Options) (*Config, []Warning, error) {
	src := newSource(&opts)
	p := fsPath(name)
	if src.osMode {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		p = fsPath(abs)
	}
	data, err := src.read(p)
	if err != nil {
		return nil, nil, fmt.Errorf("read config %s: %w", name, err)
	}
	return parse(src, data, name, path.Dir(p), opts)
}

// Parse reads a configuration from r. name is used in positions and, as a
// path, to resolve relative includes (relative to the directory of name).
// At most opts.Limits.FileBytes are read from r.
func Parse(r io.Reader, name string, opts Options) (*Config, []Warning, error) {
	src := newSource(&opts)
	src.files++
	data, err := src.readAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read config %s: %w", name, err)
	}
	var dir string
	if src.osMode {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		dir = path.Dir(fsPath(abs))
	} else {
		dir = path.Dir(fsPath(name))
	}
	return parse(src, data, name, dir, opts)
}

// newSource is where the files of one configuration are read from.
func newSource(opts *Options) *source {
	if opts.FS == nil {
		return &source{fsys: os.DirFS("/"), osMode: true, limits: opts.Limits.resolve()}
	}
	return &source{fsys: opts.FS, limits: opts.Limits.resolve()}
}

func fsPath(name string) string {
	p := path.Clean(strings.TrimLeft(filepath.ToSlash(name), "/"))
	if p == "" {
		return "."
	}
	return p
}

func parse(src *source, data []byte, name, dir string, opts Options) (*Config, []Warning, error) {
	var d diags
	if dir == "" {
		dir = "."
	}
	pp := newPreprocessor(&d, &opts, src)
	pp.readFile(data, name, dir)
	tree := buildTree(pp.out, &d)
	dec := &decoder{diags: &d, cfg: &Config{}}
	dec.top(tree)
	dec.validate()
	dec.checkNames()
	if len(d.errs) > 0 {
		return nil, d.warns, &ParseError{Diagnostics: d.errs}
	}
	return dec.cfg, d.warns, nil
}

// Top-level blocks lvskit recognises but does not implement.
var topIgnored = set("bfd_instance", "garp_group",
	"linkbeat_interfaces", "track_group", "interface_up_down_delays", "SSL",
	"net_namespace_ipvs", "namespace_with_ipsets", "instance",
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
		"net_namespace":        d.str(&d.cfg.NetNamespace),
		"virtual_server_group": d.virtualServerGroup,
		"virtual_server":       d.virtualServer,
		"bgp":                  d.bgp,
	}
	d.decodeBlock("", root, t, topIgnored)
}
