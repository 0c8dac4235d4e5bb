package vmtest

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// ProgramFiles returns a host program and the shared libraries ldd lists
// for it (the loader among them), keyed by guest path as Config.Files
// wants: each at the same path as on the host. It is how a test takes a
// dynamically linked program that the base image does not carry
// (keepalived, say) into the guest.
func ProgramFiles(path string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ldd", path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w: %s", path, err, out)
	}
	libs, err := parseLdd(string(out))
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", path, err)
	}
	files := map[string]string{path: path}
	for _, l := range libs {
		files[l] = l
	}
	return files, nil
}
