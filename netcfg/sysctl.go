package netcfg

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Sysctl keys netcfg sets by name. Keys are paths below /proc/sys; the
// dotted form ("net.ipv4.ip_forward") is accepted too wherever a key is.
const (
	KeyIPv4Forward = "net/ipv4/ip_forward"
	KeyIPv6Forward = "net/ipv6/conf/all/forwarding"
)

// ConfKey is the key of a per-interface IPv4 setting: ConfKey("all",
// "arp_ignore") is "net/ipv4/conf/all/arp_ignore". link may be "all",
// "default" or an interface name (dots in it stay dots).
func ConfKey(link, name string) string { return "net/ipv4/conf/" + link + "/" + name }

// ConfKey6 is ConfKey for net/ipv6/conf.
func ConfKey6(link, name string) string { return "net/ipv6/conf/" + link + "/" + name }

// SysctlChange is a sysctl written: Old is what was there before.
type SysctlChange struct {
	Key, Old, New string
}

func (s SysctlChange) String() string {
	return fmt.Sprintf("sysctl %s: %s -> %s", s.Key, s.Old, s.New)
}

func (s SysctlChange) undo(h *Host) error {
	_, err := h.SetSysctl(s.Key, s.Old)
	return err
}

// normalizeKey turns a dotted or slashed key into a clean path below
// /proc/sys/net. Only net/ keys are allowed: those are the ones that
// belong to a network namespace; anything else would change the whole
// machine behind the Host's back.
func normalizeKey(key string) (string, error) {
	k := key
	if !strings.Contains(k, "/") {
		k = strings.ReplaceAll(k, ".", "/")
	}
	parts := strings.Split(k, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return "", fmt.Errorf("sysctl key %q: bad path", key)
		}
	}
	if parts[0] != "net" || len(parts) < 2 {
		return "", fmt.Errorf("sysctl key %q: only keys below net/ belong to a network namespace", key)
	}
	return k, nil
}

// Sysctl reads a sysctl of the Host's namespace, with surrounding space
// trimmed and inner runs of white space made single spaces.
func (h *Host) Sysctl(key string) (string, error) {
	k, err := normalizeKey(key)
	if err != nil {
		return "", fmt.Errorf("read sysctl: %w", err)
	}
	var v string
	err = h.do(func() error {
		var err error
		v, err = readProcSys(k)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", k, err)
	}
	return v, nil
}

// SysctlInt reads an integer sysctl.
func (h *Host) SysctlInt(key string) (int, error) {
	v, err := h.Sysctl(key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: not an integer: %q", key, v)
	}
	return n, nil
}

// SetSysctl writes value to key in the Host's namespace unless it already
// holds it; the Change holds the old value.
func (h *Host) SetSysctl(key, value string) (*Change, error) {
	return h.setSysctl(key, value, false)
}

// setSysctl is SetSysctl; with force it writes the value even when it is
// there already: a per-interface IPv4 setting written once is the
// interface's own, and no longer follows later writes to "default".
func (h *Host) setSysctl(key, value string, force bool) (*Change, error) {
	k, err := normalizeKey(key)
	if err != nil {
		return nil, fmt.Errorf("set sysctl: %w", err)
	}
	want := normalizeValue(value)
	c := h.newChange()
	var old string
	err = h.do(func() error {
		var err error
		if old, err = readProcSys(k); err != nil {
			return err
		}
		if old == want && !force {
			return nil
		}
		return writeProcSys(k, want)
	})
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("set sysctl %s=%s: %w", k, want, err))
	}
	if old != want {
		h.log.Debug("netcfg: set sysctl", "key", k, "old", old, "new", want)
		c.add(SysctlChange{Key: k, Old: old, New: want})
	}
	return c, nil
}

func normalizeValue(v string) string { return strings.Join(strings.Fields(v), " ") }

// readProcSys and writeProcSys must run inside Host.do: /proc/sys/net
// resolves against the namespace of the task that opens the file.
func readProcSys(k string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + k)
	if err != nil {
		return "", describeProcErr(k, err)
	}
	return normalizeValue(string(b)), nil
}

func writeProcSys(k, v string) error {
	f, err := os.OpenFile("/proc/sys/"+k, os.O_WRONLY, 0)
	if err != nil {
		return describeProcErr(k, err)
	}
	_, werr := io.WriteString(f, v+"\n")
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

func describeProcErr(k string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		parts := strings.Split(k, "/")
		if len(parts) == 5 && parts[2] == "conf" {
			return fmt.Errorf("no such setting (is there an interface %q?): %w", parts[3], err)
		}
		return fmt.Errorf("no such setting: %w", err)
	}
	return err
}

// SetIPv4Forwarding sets net.ipv4.ip_forward. Note the kernel copies it
// to every interface's conf/*/forwarding; undo writes ip_forward back,
// which again sets all interfaces alike.
func (h *Host) SetIPv4Forwarding(on bool) (*Change, error) {
	return h.SetSysctl(KeyIPv4Forward, boolValue(on))
}

// SetIPv6Forwarding sets net.ipv6.conf.all.forwarding.
func (h *Host) SetIPv6Forwarding(on bool) (*Change, error) {
	return h.SetSysctl(KeyIPv6Forward, boolValue(on))
}

// SetARPIgnore sets net.ipv4.conf.LINK.arp_ignore (0..8; 1 = reply only
// for addresses on the interface the request came in on). link is "all",
// "default" or an interface name.
func (h *Host) SetARPIgnore(link string, v int) (*Change, error) {
	return h.setConfInt(link, "arp_ignore", v, 0, 8)
}

// SetARPAnnounce sets net.ipv4.conf.LINK.arp_announce (0..2; 2 = always
// use the best local address of the outgoing interface as ARP source).
func (h *Host) SetARPAnnounce(link string, v int) (*Change, error) {
	return h.setConfInt(link, "arp_announce", v, 0, 2)
}

// SetRPFilter sets net.ipv4.conf.LINK.rp_filter (0 off, 1 strict, 2 loose).
func (h *Host) SetRPFilter(link string, v int) (*Change, error) {
	return h.setConfInt(link, "rp_filter", v, 0, 2)
}

func (h *Host) setConfInt(link, name string, v, lo, hi int) (*Change, error) {
	if v < lo || v > hi {
		return nil, fmt.Errorf("set %s on %q: value %d out of range %d..%d", name, link, v, lo, hi)
	}
	if link != "all" && link != "default" {
		if _, err := h.link(link); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	return h.SetSysctl(ConfKey(link, name), strconv.Itoa(v))
}

func boolValue(on bool) string {
	if on {
		return "1"
	}
	return "0"
}
