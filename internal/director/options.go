package director

import (
	"log/slog"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// Options configure a Director. The zero value of each optional field is
// the documented default.
type Options struct {
	// ConfigPath is the keepalived.conf to run. Required.
	ConfigPath string
	// Backend is the kind of IPVS backend ipvs.Open opens: "auto"
	// (default: kernel IPVS where the kernel has it, else the userspace
	// proxy), "netlink", "userspace", or any other kind ipvs.Open knows.
	Backend string
	// MetricsAddr is where /metrics and /status are served; empty means
	// nowhere. A bare ":port" listens on 127.0.0.1.
	MetricsAddr string
	// ControlSocket is the path of a Unix socket (mode 0600, its folder
	// made 0700) serving /status and /metrics over HTTP, which
	// `director status` reads; empty means none. The command's default is
	// DefaultControlSocket.
	ControlSocket string
	// ControlSocketOptional runs the director without a control socket,
	// with a warning, when another director holds ControlSocket (two
	// directors of one host in different network namespaces, say); when
	// false that is an error (ErrControlSocketTaken) and Run fails.
	ControlSocketOptional bool
	// MetricsCompat also exports the metrics under other exporters' names:
	// "keepalived" adds keepalived-exporter's keepalived_* VRRP series and
	// node_exporter's node_ipvs_* IPVS series (compat.go). Empty adds
	// none.
	MetricsCompat string
	// DumpDir is where keepalived's dumps go (DumpData, DumpStats,
	// DumpJSON write keepalived.data, keepalived.stats, keepalived.json
	// there); empty means $TMPDIR, else /tmp, as keepalived does.
	DumpDir string
	// Logger receives the director's logs; nil discards.
	Logger *slog.Logger
	// Hostname is the config-id @host conditionals are compared with;
	// it is also the router_id when global_defs has none. Empty: the
	// first label of os.Hostname.
	Hostname string

	// IPVS, when set, is used as the IPVS table instead of opening one
	// (tests pass ipvs.NewMemory()); the Director closes it.
	IPVS ipvs.Backend
	// Network and Transport, when set, replace the host's network
	// configuration and raw VRRP sockets (tests pass fakes and a MemNet).
	Network   vrrp.Network
	Transport vrrp.Transport
	// Clock is the time of everything the director runs: VRRP instances
	// and their trackers, health checks and pools, alerts, and the
	// director's own timeouts. Nil means the wall clock.
	Clock clock.Clock
}
