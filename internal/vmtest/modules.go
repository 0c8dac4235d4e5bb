package vmtest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// guestModules are the kernel modules loaded at boot, in this order (each
// after its own dependencies). Modules marked optional are skipped when the
// kernel does not ship them; a missing required module fails the build of
// the initramfs.
//
// crc32c_generic comes first: libcrc32c (needed by ip_vs) only declares a
// soft dependency on a crc32c provider and fails with "unknown symbol"
// when none is loaded.
var guestModules = []struct {
	name     string
	optional bool
}{
	{"crc32c_generic", false},
	{"libcrc32c", false},
	{"ipv6", true}, // built in on Debian
	{"nf_defrag_ipv4", false},
	{"nf_defrag_ipv6", false},
	{"nf_conntrack", false},
	{"nf_nat", false},
	{"ip_vs", false},
	// Every scheduler the kernel ships, so tests never depend on
	// on-demand loading.
	{"ip_vs_rr", false},
	{"ip_vs_wrr", false},
	{"ip_vs_lc", false},
	{"ip_vs_wlc", false},
	{"ip_vs_lblc", true},
	{"ip_vs_lblcr", true},
	{"ip_vs_dh", true},
	{"ip_vs_sh", true},
	{"ip_vs_sed", true},
	{"ip_vs_nq", true},
	{"ip_vs_fo", true},
	{"ip_vs_ovf", true},
	{"ip_vs_mh", true},
	{"ip_vs_twos", true},
	// nftables for masquerade/DNAT around the IPVS data plane.
	{"nf_tables", true},
	{"nft_chain_nat", true},
	{"nft_nat", true},
	{"nft_masq", true},
	{"nft_ct", true},
	// Links test topologies are built from.
	{"veth", false},
	{"llc", false},
	{"stp", false},
	{"bridge", false},
	{"macvlan", true},
	{"dummy", true},
	{"8021q", true},
	// Tunnels for IPVS TUN forwarding.
	{"tunnel4", true},
	{"tunnel6", true},
	{"ip_tunnel", true},
	{"ipip", true},
	{"ip6_tunnel", true},
	{"gre", true},
	{"ip_gre", true},
	{"udp_tunnel", true},
	{"ip6_udp_tunnel", true},
	{"fou", true},
	{"fou6", true},
	{"sctp", true},
}

// kmod is one module file found in an unpacked kernel package.
type kmod struct {
	name    string   // module name, with underscores
	rel     string   // path relative to lib/modules/VERSION
	depends []string // hard dependencies from .modinfo
}

// moduleName turns a file name like "nf-foo.ko" into the module name "nf_foo".
func moduleName(file string) string {
	base := filepath.Base(file)
	for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"} {
		if strings.HasSuffix(base, ext) {
			base = strings.TrimSuffix(base, ext)
			break
		}
	}
	return strings.ReplaceAll(base, "-", "_")
}

// indexModules maps module names to their files below modDir
// (lib/modules/VERSION of an unpacked kernel package).
func indexModules(modDir string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if strings.HasSuffix(p, ".ko.xz") || strings.HasSuffix(p, ".ko.zst") || strings.HasSuffix(p, ".ko.gz") {
			return fmt.Errorf("module %s is compressed; the harness only handles plain .ko files", p)
		}
		if !strings.HasSuffix(p, ".ko") {
			return nil
		}
		rel, err := filepath.Rel(modDir, p)
		if err != nil {
			return err
		}
		idx[moduleName(p)] = rel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", modDir, err)
	}
	return idx, nil
}

// modinfoDepends reads the "depends=" field from a module's .modinfo section.
func modinfoDepends(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", file, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("read module %s: no .modinfo section", file)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", file, err)
	}
	return parseModinfoDepends(data), nil
}

// parseModinfoDepends extracts dependencies from NUL-separated key=value
// pairs as stored in a .modinfo section.
func parseModinfoDepends(data []byte) []string {
	var deps []string
	for _, kv := range bytes.Split(data, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("depends="))
		if !ok {
			continue
		}
		for _, d := range strings.Split(string(v), ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, strings.ReplaceAll(d, "-", "_"))
			}
		}
	}
	return deps
}

// resolveModules returns the modules to load in the guest, each after its
// dependencies, starting from guestModules. modDir is lib/modules/VERSION.
func resolveModules(modDir string) ([]kmod, error) {
	idx, err := indexModules(modDir)
	if err != nil {
		return nil, err
	}
	var order []kmod
	state := map[string]int{} // 0 unseen, 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, name), " -> "))
		case 2:
			return nil
		}
		rel, ok := idx[name]
		if !ok {
			return fmt.Errorf("module %s (needed by %s) not found in %s", name, strings.Join(chain, " -> "), modDir)
		}
		state[name] = 1
		deps, err := modinfoDepends(filepath.Join(modDir, rel))
		if err != nil {
			return err
		}
		sort.Strings(deps)
		next := append(slices.Clip(chain), name)
		for _, d := range deps {
			if err := visit(d, next); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, kmod{name: name, rel: rel, depends: deps})
		return nil
	}
	for _, m := range guestModules {
		if _, ok := idx[m.name]; !ok {
			if m.optional {
				continue
			}
			return nil, fmt.Errorf("required module %s not found in %s", m.name, modDir)
		}
		if err := visit(m.name, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
