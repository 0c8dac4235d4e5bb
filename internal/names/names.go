package names

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Length limits. MaxLen bounds a name that only people read (an
// instance, a group, a script, a router_id): far longer than any real one,
// short enough for a metric label and a log line. MaxInterfaceLen is the
// kernel's (IFNAMSIZ - 1), which also bounds an address label.
const (
	MaxLen          = 255
	MaxInterfaceLen = 15
)

// Text reports whether s is text that may reach a log line: valid UTF-8
// without control characters other than tab. It does not bound the
// length (a command line, a path).
func Text(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// Name reports whether s may name something: Text without tabs, at most
// MaxLen bytes. The empty string passes (whether a name is required is
// the caller's rule).
func Name(s string) error { return name(s, MaxLen) }

// Interface reports whether s may be a Linux interface name or address
// label: Name, at most MaxInterfaceLen bytes.
func Interface(s string) error { return name(s, MaxInterfaceLen) }

func name(s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%d bytes long, at most %d", len(s), limit)
	}
	if err := Text(s); err != nil {
		return err
	}
	for _, r := range s {
		if r == '\t' {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}
