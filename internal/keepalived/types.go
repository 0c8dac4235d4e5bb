package keepalived

import (
	"net/netip"
	"time"
)

// Config is a parsed keepalived.conf. Slices keep the order of the file.
// Zero values (a Value that is not Set, an empty slice) mean "not given";
// the keepalived default named in each field's comment then applies. The
// parser does not fill in defaults, so that a user of Config can tell a
// configured value from a default one (and a director can inherit
// virtual_server settings into real servers and checkers as keepalived does).
type Config struct {
	Global              GlobalDefs
	Scripts             []VRRPScript         // vrrp_script
	TrackFiles          []TrackFile          // track_file / vrrp_track_file
	TrackProcesses      []TrackProcess       // vrrp_track_process
	SyncGroups          []VRRPSyncGroup      // vrrp_sync_group
	Instances           []VRRPInstance       // vrrp_instance
	StaticIPAddresses   []IPAddress          // static_ipaddress
	StaticRoutes        []Route              // static_routes
	StaticRules         []Rule               // static_rules
	NetNamespace        Value[string]        // net_namespace (top level)
	VirtualServerGroups []VirtualServerGroup // virtual_server_group
	VirtualServers      []VirtualServer      // virtual_server
	BGP                 *BGP                 // bgp (lvskit's own, bgp.go); nil when absent
}

// Script is a program to run: notify scripts, vrrp_script's script,
// MISC_CHECK's misc_path. Argv is Raw split the way keepalived splits it:
// blanks separate words, single or double quotes group, backslash escapes.
// keepalived runs it without a shell.
type Script struct {
	Raw   string
	Argv  []string
	User  string // "" = global script_user, else keepalived_script/root
	Group string // "" = the user's group
}

// User is a user name and optional group.
type User struct {
	User  string
	Group string
}

// HostPort is an address with an optional port (0 = not given).
type HostPort struct {
	Addr netip.Addr
	Port uint16
}

// SMTPServer is global_defs smtp_server: an IP address or a host name and
// an optional port (0 = 25).
type SMTPServer struct {
	Host string
	Port uint16
}

// LVSSyncDaemon is lvs_sync_daemon in global_defs.
type LVSSyncDaemon struct {
	Interface string
	Instance  string     // VRRP instance whose state the daemon follows; "" = run master and backup
	SyncID    int        // -1 = not given (the instance's VRID, or 0)
	MaxLen    int        // 0 = kernel default
	Port      uint16     // 0 = 8848
	TTL       int        // 0 = kernel default
	Group     netip.Addr // zero = 224.0.0.81
}

// LVSTimeouts is global_defs lvs_timeouts; zero = unchanged.
type LVSTimeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// NotifyFIFO is a FIFO that notify events are written to.
type NotifyFIFO struct {
	Path  string
	User  string
	Group string
}

// GlobalDefs is the global_defs block.
type GlobalDefs struct {
	Pos                   Pos
	RouterID              Value[string]        // default: host name
	NotificationEmail     []Value[string]      // To: addresses
	NotificationEmailFrom Value[string]        // default keepalived@<host name>
	SMTPServer            Value[SMTPServer]    // no default: no e-mail
	SMTPHeloName          Value[string]        // default: host name
	SMTPConnectTimeout    Value[time.Duration] // default 30s
	SMTPAlert             Value[bool]          // default for every smtp_alert
	SMTPAlertVRRP         Value[bool]
	SMTPAlertChecker      Value[bool]
	NoEmailFaults         Value[bool]
	CheckerLogAllFailures Value[bool]
	NoCheckerEmails       Value[bool]
	RSInitNotifies        Value[bool]
	DefaultInterface      Value[string] // default eth0, for static addresses

	LVSSyncDaemon  Value[LVSSyncDaemon]
	LVSTimeouts    Value[LVSTimeouts]
	LVSFlush       Value[bool]
	LVSFlushOnStop Value[bool]

	VRRPMcastGroup4             Value[netip.Addr]    // default 224.0.0.18
	VRRPMcastGroup6             Value[netip.Addr]    // default ff02::12
	VRRPGarpMasterDelay         Value[time.Duration] // default 5s
	VRRPGarpMasterRepeat        Value[int]           // default 5
	VRRPGarpLowerPrioDelay      Value[time.Duration] // default VRRPGarpMasterDelay
	VRRPGarpLowerPrioRepeat     Value[int]           // default VRRPGarpMasterRepeat
	VRRPGarpMasterRefresh       Value[time.Duration] // default 0 (no refresh)
	VRRPGarpMasterRefreshRepeat Value[int]           // default 1
	VRRPGarpInterval            Value[time.Duration] // default 0
	VRRPGnaInterval             Value[time.Duration] // default 0
	VRRPMinGarp                 Value[bool]
	VRRPLowerPrioNoAdvert       Value[bool]
	VRRPHigherPrioSendAdvert    Value[bool]
	VRRPVersion                 Value[int] // default 2 (IPv6 instances: 3)
	VRRPStrict                  Value[bool]
	VRRPCheckUnicastSrc         Value[bool]
	VRRPSkipCheckAdvAddr        Value[bool]
	VRRPDownTimerAdverts        Value[int] // default 3
	VRRPStartupDelay            Value[time.Duration]
	VRRPNotifyPriorityChanges   Value[bool]

	EnableScriptSecurity Value[bool]
	ScriptUser           Value[User]
	NotifyFIFO           Value[NotifyFIFO]
	NotifyFIFOScript     Value[Script]
	VRRPNotifyFIFO       Value[NotifyFIFO]
	VRRPNotifyFIFOScript Value[Script]
	LVSNotifyFIFO        Value[NotifyFIFO]
	LVSNotifyFIFOScript  Value[Script]
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	Name     string
	Pos      Pos
	Script   Value[Script]
	Interval Value[time.Duration] // default 1s
	Timeout  Value[time.Duration] // default: the interval
	Weight   Value[int]           // default 0: failure = FAULT
	Reverse  Value[bool]
	Rise     Value[int] // default 1
	Fall     Value[int] // default 1
	User     Value[User]
	InitFail Value[bool]
}

// TrackFile is a track_file (vrrp_track_file) block.
type TrackFile struct {
	Name     string
	Pos      Pos
	File     Value[string]
	Weight   Value[int] // default 1
	Reverse  Value[bool]
	InitFile Value[InitFile]
}

// InitFile is track_file's init_file [VALUE] [overwrite].
type InitFile struct {
	Value     int
	Overwrite bool
}

// TrackRef is one entry of track_interface, track_script, track_file:
// a name with an optional weight. An unset Weight means: 0 for an
// interface (down = FAULT), the script's or file's own weight otherwise.
type TrackRef struct {
	Pos     Pos
	Name    string
	Weight  Value[int]
	Reverse bool
}

// State is a VRRP initial state.
type State string

const (
	StateMaster State = "MASTER"
	StateBackup State = "BACKUP"
)

// Auth is a vrrp_instance authentication block.
type Auth struct {
	Type string // "PASS" or "AH"
	Pass string // only the first 8 bytes are used
}

// UnicastPeer is one unicast_peer entry.
type UnicastPeer struct {
	Pos    Pos
	Addr   netip.Addr
	MinTTL Value[int]
	MaxTTL Value[int]
}

// VMAC is use_vmac [name] [mac].
type VMAC struct {
	Name string // "" = vrrp.<VRID>
	MAC  string // "" = 00:00:5e:00:01:<VRID>
}

// IPAddress is an address line of virtual_ipaddress,
// virtual_ipaddress_excluded or static_ipaddress.
type IPAddress struct {
	Pos           Pos
	Prefix        netip.Prefix // an address without /len gets /32 or /128
	Broadcast     string       // an address, "+" or "-"; "" = none
	Dev           string       // "" = the instance's interface (static: default_interface)
	Scope         string       // "" = global
	Label         string
	Peer          netip.Prefix
	Home          bool
	NoDAD         bool
	MngTmpAddr    bool
	NoPrefixRoute bool
	AutoJoin      bool
	NoTrack       bool
	UseVMAC       bool
	PreferredLft  string // "" = default, "forever" or a number of seconds
	TrackGroup    string
}

// Route is a line of virtual_routes or static_routes (ip route syntax).
// Options lvskit does not model are kept in Extra (and warned about).
type Route struct {
	Pos        Pos
	Type       string // "" (unicast), blackhole, unreachable, prohibit, throw
	Dst        netip.Prefix
	Src        netip.Addr
	Via        netip.Addr
	Or         netip.Addr // keepalived's "or": second gateway
	Dev        string
	Scope      string
	Table      string
	Metric     Value[int] // metric / priority / preference
	Protocol   string
	OnLink     bool
	NoTrack    bool
	TrackGroup string
	Extra      []string
	// Nexthops are the "nexthop via A dev X weight W onlink" groups of a
	// multipath route.
	Nexthops []Nexthop
	// Options are the valued options beyond the ones above (mtu, advmss,
	// tos, realms, ...), as written, for the director to translate.
	Options []IPOption
}

// Nexthop is one "nexthop" group of a route line.
type Nexthop struct {
	Pos    Pos
	Via    netip.Addr
	Dev    string
	Weight Value[int]
	OnLink bool
}

// IPOption is an option of a route or rule line and its value as written
// ("mtu lock 1400": Name mtu, Value 1400, Lock).
type IPOption struct {
	Pos   Pos
	Name  string
	Value string
	Lock  bool
}

// Rule is a line of virtual_rules or static_rules (ip rule syntax).
type Rule struct {
	Pos        Pos
	Family     string // "" or inet6
	From       netip.Prefix
	To         netip.Prefix
	Table      string
	Priority   Value[int] // preference / priority / pref / order
	FwMark     string
	IIf        string
	OIf        string
	NoTrack    bool
	TrackGroup string
	Extra      []string
	// Not is "not": the selector is inverted.
	Not bool
	// Action is blackhole, unreachable, prohibit or nop with its
	// position; unset means a table lookup (or goto, when Goto is set).
	Action Value[string]
	// Goto is "goto PRIORITY".
	Goto Value[int]
	// Options are the valued options beyond the ones above (tos, realms,
	// ipproto, sport, dport, uidrange, protocol), as written.
	Options []IPOption
}

// VRRPInstance is a vrrp_instance block.
type VRRPInstance struct {
	Name                    string
	Pos                     Pos
	State                   Value[State] // default BACKUP
	Interface               Value[string]
	DontTrackPrimary        Value[bool]
	TrackInterfaces         []TrackRef
	TrackScripts            []TrackRef
	TrackFiles              []TrackRef
	TrackProcesses          []TrackRef
	McastSrcIP              Value[netip.Addr]
	McastDstIP              Value[netip.Addr]
	UnicastSrcIP            Value[netip.Addr]
	UnicastPeers            []UnicastPeer
	UnicastPeerBlock        Pos // where unicast_peer was given (even if empty)
	UnicastTTL              Value[int]
	UnicastFaultNoPeer      Value[bool]
	CheckUnicastSrc         Value[bool]
	TrackSrcIP              Value[bool]
	LVSSyncDaemonInterface  Value[string]
	VirtualRouterID         Value[int]           // required, 1..255
	Priority                Value[int]           // default 100
	AdvertInt               Value[time.Duration] // default 1s
	Version                 Value[int]           // default global vrrp_version
	Authentication          Value[Auth]
	VirtualIPAddresses      []IPAddress
	VirtualIPAddressesExcl  []IPAddress
	VirtualRoutes           []Route
	VirtualRules            []Rule
	UseVMAC                 Value[VMAC]
	VMACXmitBase            Value[bool]
	NativeIPv6              Value[bool]
	NoPreempt               Value[bool] // "preempt" sets it false explicitly
	PreemptDelay            Value[time.Duration]
	Accept                  Value[bool] // accept = true, no_accept = false
	GarpMasterDelay         Value[time.Duration]
	GarpMasterRepeat        Value[int]
	GarpLowerPrioDelay      Value[time.Duration]
	GarpLowerPrioRepeat     Value[int]
	GarpMasterRefresh       Value[time.Duration]
	GarpMasterRefreshRepeat Value[int]
	DownTimerAdverts        Value[int]
	LowerPrioNoAdvert       Value[bool]
	HigherPrioSendAdvert    Value[bool]
	SkipCheckAdvAddr        Value[bool]
	StrictMode              Value[bool]
	PromoteSecondaries      Value[bool]
	Notify                  Value[Script]
	NotifyMaster            Value[Script]
	NotifyBackup            Value[Script]
	NotifyFault             Value[Script]
	NotifyStop              Value[Script]
	NotifyDeleted           Value[Script] // Set with empty Raw: "notify_deleted" alone
	NotifyMasterRxLowerPri  Value[Script]
	NotifyPriorityChanges   Value[bool]
	SMTPAlert               Value[bool]
}

// VRRPSyncGroup is a vrrp_sync_group block.
type VRRPSyncGroup struct {
	Name                    string
	Pos                     Pos
	Group                   []Value[string] // instance names
	TrackInterfaces         []TrackRef
	TrackScripts            []TrackRef
	TrackFiles              []TrackRef
	TrackProcesses          []TrackRef
	Notify                  Value[Script]
	NotifyMaster            Value[Script]
	NotifyBackup            Value[Script]
	NotifyFault             Value[Script]
	NotifyStop              Value[Script]
	NotifyPriorityChanges   Value[bool]
	SMTPAlert               Value[bool]
	GlobalTracking          Value[bool]
	SyncGroupTrackingWeight Value[bool]
}

// Forwarding is an LVS forwarding method (lb_kind / lvs_method).
type Forwarding struct {
	Method     string // NAT, DR or TUN
	TunnelType string // TUN only: "" (ipip), ipip, gue, gre
	TunnelPort uint16 // gue only
	Checksum   string // TUN only: "", nocsum, csum, remcsum
}

// VSGEntry is a line of virtual_server_group: an address or inclusive
// address range with an optional port, or a fwmark.
type VSGEntry struct {
	Pos    Pos
	First  netip.Addr // zero for a fwmark entry
	Last   netip.Addr // == First for a single address
	Port   uint16     // 0 = not given
	FwMark Value[uint32]
	Family string // fwmark only: "", inet or inet6
}

// VirtualServerGroup is a virtual_server_group block.
type VirtualServerGroup struct {
	Name    string
	Pos     Pos
	Entries []VSGEntry
}

// VirtualServer is a virtual_server block. Exactly one of Addr (with
// Port), FwMark or Group identifies it.
type VirtualServer struct {
	Pos    Pos
	Addr   netip.Addr
	Port   uint16 // 0 = not given (only valid with persistence)
	FwMark Value[uint32]
	Group  string

	DelayLoop              Value[time.Duration] // default 60s
	Scheduler              Value[string]        // lb_algo / lvs_sched; default wlc
	Flag1, Flag2, Flag3    Value[bool]
	SHPort, SHFallback     Value[bool]
	MHPort, MHFallback     Value[bool]
	OPS                    Value[bool]
	Forwarding             Value[Forwarding]    // lb_kind / lvs_method; default NAT
	PersistenceTimeout     Value[time.Duration] // "persistence_timeout" alone = 360s
	PersistenceGranularity Value[int]           // prefix length of the netmask
	Protocol               Value[string]        // TCP (default), UDP, SCTP
	HASuspend              Value[bool]
	SMTPAlert              Value[bool]
	Virtualhost            Value[string]
	Alpha                  Value[bool]
	Omega                  Value[bool]
	Quorum                 Value[int] // default 1
	Hysteresis             Value[int] // default 0
	QuorumUp               Value[Script]
	QuorumDown             Value[Script]
	IPFamily               Value[string]
	SorryServer            Value[HostPort]
	SorryServerInhibit     Value[bool]
	SorryServerForwarding  Value[Forwarding]
	ConnectTimeout         Value[time.Duration] // default 5s
	Retry                  Value[int]
	DelayBeforeRetry       Value[time.Duration]
	Warmup                 Value[time.Duration]
	InhibitOnFailure       Value[bool]
	Weight                 Value[int] // default weight of the real servers
	RealServers            []RealServer
}

// RealServer is a real_server block. Unset settings inherit from the
// virtual server.
type RealServer struct {
	Pos              Pos
	Addr             netip.Addr
	Port             uint16     // 0 = not given: the virtual server's port
	Weight           Value[int] // default 1
	Forwarding       Value[Forwarding]
	NotifyUp         Value[Script]
	NotifyDown       Value[Script]
	UThreshold       Value[int]
	LThreshold       Value[int]
	SMTPAlert        Value[bool]
	Virtualhost      Value[string]
	Alpha            Value[bool]
	ConnectTimeout   Value[time.Duration]
	Retry            Value[int]
	DelayBeforeRetry Value[time.Duration]
	Warmup           Value[time.Duration]
	DelayLoop        Value[time.Duration]
	InhibitOnFailure Value[bool]
	Checkers         []Checker
}

// CheckerType names a health checker block.
type CheckerType string

const (
	HTTPGet   CheckerType = "HTTP_GET"
	SSLGet    CheckerType = "SSL_GET"
	TCPCheck  CheckerType = "TCP_CHECK"
	UDPCheck  CheckerType = "UDP_CHECK"
	DNSCheck  CheckerType = "DNS_CHECK"
	SMTPCheck CheckerType = "SMTP_CHECK"
	PingCheck CheckerType = "PING_CHECK"
	MiscCheck CheckerType = "MISC_CHECK"
	FileCheck CheckerType = "FILE_CHECK"
)

// ConnOptions are a checker's connection settings; unset ones default
// to the real server's address and port.
type ConnOptions struct {
	ConnectIP      Value[netip.Addr]
	ConnectPort    Value[uint16]
	BindTo         Value[netip.Addr]
	BindIf         Value[string]
	BindPort       Value[uint16]
	FwMark         Value[uint32]
	ConnectTimeout Value[time.Duration]
}

// Checker is one health checker of a real server. The type-specific part
// is in the pointer field matching Type; the others are nil.
type Checker struct {
	Pos  Pos
	Type CheckerType
	ConnOptions
	Alpha            Value[bool]
	Retry            Value[int] // retry / nb_get_retry
	DelayBeforeRetry Value[time.Duration]
	Warmup           Value[time.Duration]
	DelayLoop        Value[time.Duration]
	LogAllFailures   Value[bool]

	HTTP *HTTPChecker // HTTP_GET, SSL_GET
	UDP  *UDPChecker
	DNS  *DNSChecker
	SMTP *SMTPChecker
	Misc *MiscChecker
	File *FileChecker
}

// HTTPChecker holds HTTP_GET / SSL_GET settings.
type HTTPChecker struct {
	HTTPProtocol Value[string] // 1.0, 1.0C, 1.1
	Virtualhost  Value[string] // default for the urls; else the real server's
	FastRecovery Value[bool]
	EnableSNI    Value[bool]
	URLs         []URL
}

// StatusRange is an inclusive HTTP status code range.
type StatusRange struct{ Min, Max int }

// URL is an HTTP checker url block.
type URL struct {
	Pos         Pos
	Path        Value[string]
	Digest      Value[string]        // lower-case hex MD5 of the body
	StatusCodes Value[[]StatusRange] // default 200-299
	Virtualhost Value[string]
}

// UDPChecker holds UDP_CHECK settings.
type UDPChecker struct {
	Payload        Value[[]byte]
	RequireReply   Value[HexPattern] // Set with empty Data: any reply
	MinReplyLength Value[int]        // default 0
	MaxReplyLength Value[int]        // default 255
}

// HexPattern is a byte string where Mask has 0 bits for nibbles written as
// X (ignored when comparing).
type HexPattern struct {
	Data []byte
	Mask []byte
}

// DNSChecker holds DNS_CHECK settings.
type DNSChecker struct {
	Type Value[string] // default SOA
	Name Value[string] // default "."
}

// SMTPChecker holds SMTP_CHECK settings; Hosts are the legacy host {}
// blocks, each checked in turn.
type SMTPChecker struct {
	HeloName Value[string]
	Hosts    []SMTPHost
}

// SMTPHost is an SMTP_CHECK host block.
type SMTPHost struct {
	Pos Pos
	ConnOptions
}

// MiscChecker holds MISC_CHECK settings.
type MiscChecker struct {
	Path    Value[Script]
	Timeout Value[time.Duration] // default: delay_loop
	Dynamic Value[bool]
	User    Value[User]
}

// FileChecker holds FILE_CHECK settings.
type FileChecker struct {
	TrackFile Value[string]
	Dynamic   Value[bool]
	Weight    Value[int]
	Reverse   Value[bool]
}
