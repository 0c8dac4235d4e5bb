package ipvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOpenWithoutIPVS runs on hosts whose kernel has no IPVS (the
// development machines): netlink must refuse with ErrNotSupported and no
// handle, and auto must go on to nftables (which these kernels have) and
// say why.
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
	if b, _, err := Open(ctx, OpenConfig{Kind: KindNetlink}); !errors.Is(err, ErrNotSupported) || b != nil {
		t.Errorf("Open(netlink) = %v, %v; want nil, ErrNotSupported", b, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("auto goes on to nftables, which needs CAP_NET_ADMIN")
	}
	var logs bytes.Buffer
	b, choice, err := Open(ctx, OpenConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open(auto) = %v", err)
	}
	defer b.Close()
	if _, ok := b.(*NFTables); !ok || choice.Kind != KindNFTables {
		t.Errorf("Open(auto) = %T, %+v; want *NFTables (this kernel has nf_tables)", b, choice)
	}
	if !strings.Contains(choice.Reason, "kernel has no IPVS") || !strings.Contains(choice.Reason, "nf_tables") {
		t.Errorf("Open(auto) reason = %q, want the kernel's answer", choice.Reason)
	}
	if !strings.Contains(logs.String(), "kernel has no IPVS") || !strings.Contains(logs.String(), "backend=nftables") {
		t.Errorf("Open(auto) logged %q, want the choice and its reason", logs.String())
	}
	if _, ok := b.(DaemonController); ok {
		t.Errorf("the userspace backend claims to control sync daemons")
	}
}

func TestOpenKinds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kind string
		want Backend
	}{
		{KindMemory, (*Memory)(nil)},
		{KindUserspace, (*Userspace)(nil)},
	} {
		b, choice, err := Open(ctx, OpenConfig{Kind: tc.kind})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%T", b) != fmt.Sprintf("%T", tc.want) || choice != (Choice{Kind: tc.kind, Reason: "asked for"}) {
			t.Errorf("Open(%s) = %T, %+v", tc.kind, b, choice)
		}
		if caps, ok := CapabilitiesOf(tc.kind); !ok || !cmp.Equal(caps, b.Capabilities()) {
			t.Errorf("CapabilitiesOf(%s) = %+v, %v; the backend says %+v", tc.kind, caps, ok, b.Capabilities())
		}
		b.Close()
	}
	if _, _, err := Open(ctx, OpenConfig{Kind: "ebpf"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(ebpf) = %v, want ErrInvalid", err)
	}
}
