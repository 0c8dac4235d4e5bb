package compat

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed testdata/cases/*.conf
var caseFiles embed.FS

// SamplesDir is where Debian's keepalived package puts keepalived's sample
// configurations.
const SamplesDir = "/usr/share/doc/keepalived/samples"

// Case is one configuration file to compare.
type Case struct {
	Name string // file name without .conf (cases) or the sample's name
	Kind string // "case", "family" or "sample"
	Text []byte
}

// Cases returns the suite's own cases (testdata/cases), families after
// the cases, each group by name.
func Cases() ([]Case, error) {
	names, err := caseFiles.ReadDir("testdata/cases")
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	var out []Case
	for _, e := range names {
		text, err := caseFiles.ReadFile(path.Join("testdata/cases", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read case %s: %w", e.Name(), err)
		}
		name := strings.TrimSuffix(e.Name(), ".conf")
		kind := "case"
		if strings.HasPrefix(name, "family_") {
			kind = "family"
		}
		out = append(out, Case{Name: name, Kind: kind, Text: text})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out, nil
}

// Samples returns the keepalived.conf.* samples of dir (SamplesDir),
// gunzipping those that are compressed; none when dir does not exist.
func Samples(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "keepalived.conf.*"))
	if err != nil {
		return nil, err
	}
	var out []Case
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read sample: %w", err)
		}
		name := filepath.Base(f)
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("read sample %s: %w", f, err)
			}
			if data, err = io.ReadAll(io.LimitReader(zr, 16<<20)); err != nil {
				return nil, fmt.Errorf("read sample %s: %w", f, err)
			}
			name = strings.TrimSuffix(name, ".gz")
		}
		out = append(out, Case{Name: name, Kind: "sample", Text: data})
	}
	return out, nil
}
