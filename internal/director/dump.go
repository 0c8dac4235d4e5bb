package director

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// This file writes keepalived's state dumps, which tools built for
// keepalived read (keepalived-exporter, monitoring plugins): keepalived
// writes them when signalled, and the director command does the same on
// the same signals (examples/director/signals.go).
//
//	keepalived --signum=DATA   SIGUSR1     keepalived.data   DumpData
//	keepalived --signum=STATS  SIGUSR2     keepalived.stats  DumpStats
//	keepalived --signum=JSON   SIGRTMIN+2  keepalived.json   DumpJSON
//
// The files hold the VRRP instances in keepalived 2.2.7's layout with the
// fields the director has (dump_format.go); each is written to a
// temporary file and renamed into place, mode 0600 as keepalived's umask
// makes them, so a reader never sees half a dump.

// Dump file names, in Options.DumpDir.
const (
	DumpDataFile  = "keepalived.data"
	DumpStatsFile = "keepalived.stats"
	DumpJSONFile  = "keepalived.json"
)

// DumpDir is the folder the dumps are written to: Options.DumpDir, else
// $TMPDIR, else /tmp, as keepalived's make_tmp_filename.
func (d *Director) DumpDir() string {
	if d.opts.DumpDir != "" {
		return d.opts.DumpDir
	}
	return os.TempDir()
}

// DumpData writes keepalived.data: the VRRP instances and vrrp_scripts as
// keepalived's SIGUSR1 dump lays them out.
func (d *Director) DumpData() error {
	return d.writeDump(DumpDataFile, func(b *bytes.Buffer, snap dumpSnapshot) error { return formatData(b, snap) })
}

// DumpStats writes keepalived.stats: each instance's counters, as
// keepalived's SIGUSR2 dump.
func (d *Director) DumpStats() error {
	return d.writeDump(DumpStatsFile, func(b *bytes.Buffer, snap dumpSnapshot) error { return formatStats(b, snap) })
}

// DumpJSON writes keepalived.json: keepalived's SIGRTMIN+2 document, an
// array of {"data": ..., "stats": ...} per instance.
func (d *Director) DumpJSON() error {
	return d.writeDump(DumpJSONFile, func(b *bytes.Buffer, snap dumpSnapshot) error { return formatJSON(b, snap) })
}

// dumpSnapshot is what a dump shows: the plan's instances with their
// status, and the vrrp_scripts with their results.
type dumpSnapshot struct {
	plan      *Plan
	instances []VRRPStatus // in the plan's order
	scripts   []ScriptStatus
	now       time.Time
}

func (d *Director) dumpSnapshot() dumpSnapshot {
	plan, inst := d.vrrpSnapshot()
	return dumpSnapshot{plan: plan, instances: inst, scripts: d.scriptStatus(plan), now: d.clock.Now()}
}

func (d *Director) writeDump(name string, format func(*bytes.Buffer, dumpSnapshot) error) error {
	var b bytes.Buffer
	if err := format(&b, d.dumpSnapshot()); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	path := filepath.Join(d.DumpDir(), name)
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	d.log.Info("wrote keepalived dump", "path", path)
	return nil
}

// writeFileAtomic writes data to a new file beside path, mode 0600, and
// renames it to path.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".new-" + strconv.Itoa(os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if os.IsExist(err) {
		// Left by a dump that died half-way.
		if err = os.Remove(tmp); err == nil {
			f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
