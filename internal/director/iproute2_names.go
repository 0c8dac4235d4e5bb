package director

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// iproute2Names resolves the names keepalived's route and rule lines may
// use for tables, protocols, realms and TOS values, as keepalived does:
// its built-in names first, then iproute2's files (/etc/iproute2/rt_tables
// and rt_tables.d/*.conf, and likewise rt_protos, rt_realms, rt_dsfield),
// read the first time a name is not built in.
type iproute2Names struct {
	dir   string                    // "/etc/iproute2"
	files map[string]map[string]int // file base name -> name -> number
}

// Built-in names: the kernel's reserved tables and the protocols
// iproute2 and keepalived name without a file.
var builtinNames = map[string]map[string]int{
	"rt_tables": {"unspec": 0, "default": 253, "main": 254, "local": 255},
	"rt_protos": {"unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4,
		"gated": 8, "ra": 9, "mrt": 10, "zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14,
		"ntk": 15, "dhcp": 16, "keepalived": 18, "babel": 42, "openr": 99, "bgp": 186,
		"isis": 187, "ospf": 188, "rip": 189, "eigrp": 192},
	"rt_realms":  {"unknown": 0},
	"rt_dsfield": {},
}

// lookup returns the number a word stands for in table file (a number
// as written, in decimal or 0x hex, or a name), and whether it is known.
func (n *iproute2Names) lookup(file, word string) (int, bool) {
	if v, err := strconv.ParseUint(word, 0, 32); err == nil {
		return int(v), true
	}
	if v, ok := builtinNames[file][word]; ok {
		return v, true
	}
	if n.files == nil {
		n.files = map[string]map[string]int{}
	}
	m, ok := n.files[file]
	if !ok {
		m = n.read(file)
		n.files[file] = m
	}
	v, ok := m[word]
	return v, ok
}

// read loads "NUMBER NAME" lines from the file and its .d directory.
func (n *iproute2Names) read(file string) map[string]int {
	dir := n.dir
	if dir == "" {
		dir = "/etc/iproute2"
	}
	m := map[string]int{}
	paths := []string{filepath.Join(dir, file)}
	more, _ := filepath.Glob(filepath.Join(dir, file+".d", "*.conf"))
	for _, p := range append(paths, more...) {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			if v, err := strconv.ParseUint(fields[0], 0, 32); err == nil {
				m[fields[1]] = int(v)
			}
		}
		f.Close()
	}
	return m
}
