package ipvs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestOpenWithoutIPVS runs on hosts whose kernel has no IPVS (the
// development machines): netlink must refuse with ErrNotSupported and no
// handle, and auto must fall back to userspace and say why.
func TestOpenWithoutIPVS(t *testing.T) {
	n, err := OpenNetlink(NetlinkConfig{})
	if err == nil {
		n.Close()
		t.Skip("this kernel has IPVS")
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("OpenNetlink = %v, want ErrNotSupported", err)
	}
	if n != nil {
		t.Fatalf("OpenNetlink returned a handle with its error")
	}
	ctx := context.Background()
	if b, err := Open(ctx, OpenConfig{Kind: KindNetlink}); !errors.Is(err, ErrNotSupported) || b != nil {
		t.Errorf("Open(netlink) = %v, %v; want nil, ErrNotSupported", b, err)
	}
	var logs bytes.Buffer
	b, err := Open(ctx, OpenConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open(auto) = %v", err)
	}
	defer b.Close()
	if _, ok := b.(*Userspace); !ok {
		t.Errorf("Open(auto) = %T, want *Userspace", b)
	}
	if !strings.Contains(logs.String(), "kernel has no IPVS") || !strings.Contains(logs.String(), "backend=userspace") {
		t.Errorf("Open(auto) logged %q, want the fallback and its reason", logs.String())
	}
	if _, ok := b.(DaemonController); ok {
		t.Errorf("the userspace backend claims to control sync daemons")
	}
}

func TestOpenKinds(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, OpenConfig{Kind: KindMemory})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*Memory); !ok {
		t.Errorf("Open(memory) = %T", b)
	}
	b.Close()
	b, err = Open(ctx, OpenConfig{Kind: KindUserspace})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*Userspace); !ok {
		t.Errorf("Open(userspace) = %T", b)
	}
	b.Close()
	if _, err := Open(ctx, OpenConfig{Kind: "ebpf"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(ebpf) = %v, want ErrInvalid", err)
	}
}
