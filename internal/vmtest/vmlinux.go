package vmtest

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Debian compresses its kernel with xz. Decompressing it inside TCG costs
// several seconds per boot, so the harness unpacks the ELF vmlinux once on
// the host (as the kernel's scripts/extract-vmlinux does) and qemu boots it
// directly through its PVH entry point. Without xz on the host, or for a
// kernel without PVH, the harness boots the compressed vmlinuz instead.

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY, the note qemu looks
// for to boot an uncompressed kernel through PVH.
const xenElfnotePhys32Entry = 18

// extractVmlinux writes the uncompressed kernel inside bzImage to dst and
// reports whether it is bootable through PVH. It returns false, nil when
// it cannot do so on this host; the caller then boots bzImage.
func extractVmlinux(ctx context.Context, bzImage, dst string) (bool, error) {
	xz, err := exec.LookPath("xz")
	if err != nil {
		return false, nil
	}
	data, err := os.ReadFile(bzImage)
	if err != nil {
		return false, err
	}
	for off := bytes.Index(data, xzMagic); off >= 0; {
		if ok := tryXZ(ctx, xz, data[off:], dst); ok {
			return true, nil
		}
		next := bytes.Index(data[off+1:], xzMagic)
		if next < 0 {
			break
		}
		off += 1 + next
	}
	os.Remove(dst)
	return false, nil
}

// tryXZ decompresses stream into dst and checks the result is a PVH ELF
// kernel. xz's exit status is ignored on purpose: the kernel's stream is
// followed by other data, which xz reports as corrupt after writing the
// whole kernel.
func tryXZ(ctx context.Context, xz string, stream []byte, dst string) bool {
	f, err := os.Create(dst)
	if err != nil {
		return false
	}
	cmd := exec.CommandContext(ctx, xz, "-dc")
	cmd.Stdin = bytes.NewReader(stream)
	cmd.Stdout = f
	cmd.Stderr = io.Discard
	_ = cmd.Run()
	if err := f.Close(); err != nil {
		return false
	}
	ok, err := hasPVHNote(dst)
	return err == nil && ok
}

// hasPVHNote reports whether the ELF file carries XEN_ELFNOTE_PHYS32_ENTRY.
func hasPVHNote(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return false, fmt.Errorf("%s: not an x86-64 kernel", path)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			return false, err
		}
		if hasNote(notes, "Xen", xenElfnotePhys32Entry) {
			return true, nil
		}
	}
	return false, nil
}

// hasNote walks ELF notes (namesz, descsz, type, name, desc; 4-byte aligned).
func hasNote(notes []byte, name string, typ uint32) bool {
	align := func(n uint32) uint32 { return (n + 3) &^ 3 }
	for len(notes) >= 12 {
		namesz := binary.LittleEndian.Uint32(notes[0:])
		descsz := binary.LittleEndian.Uint32(notes[4:])
		t := binary.LittleEndian.Uint32(notes[8:])
		rest := notes[12:]
		if uint64(align(namesz))+uint64(align(descsz)) > uint64(len(rest)) {
			return false
		}
		n := string(bytes.TrimRight(rest[:namesz], "\x00"))
		if n == name && t == typ {
			return true
		}
		notes = rest[align(namesz)+align(descsz):]
	}
	return false
}
