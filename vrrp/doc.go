// Package vrrp is a VRRP engine: version 2 (RFC 3768) and version 3
// (RFC 5798, IPv4 and IPv6), interoperating with keepalived 2.2.
//
// # What it does
//
// Routers sharing virtual addresses (VIPs) elect a master by priority. The
// master holds the VIPs and advertises every advert interval; when its
// adverts stop for the master-down interval (3 intervals plus a skew that
// favours higher priorities), the best backup takes over, adds the VIPs
// and announces them with gratuitous ARPs or unsolicited neighbour
// advertisements. A master that stops gracefully sends priority 0, so a
// backup takes over after its skew time alone.
//
// Where the RFCs are silent the package does what keepalived does:
// preemption on by default (Config.NoPreempt, Config.PreemptDelay),
// garp_master_* announcement timing, trackers with weights and the
// effective priority clamped to 1..254 (weight 0 means FAULT; TrackFile
// follows a file's number times its weight through inotify, TrackProcess
// counts processes against a quorum by scanning /proc), sync groups
// with keepalived's rules (SyncGroup: members become master only together,
// preferring BACKUP, and FAULT or a step down moves them all), "state
// MASTER" (Config.InitialState), use_vmac with keepalived's VMAC setup
// (Config.UseVMAC), notifications (a Go func or channel, keepalived-style
// scripts, a FIFO), PASS authentication in version 2 and keepalived's
// IPsec AH authentication (Config.AuthType AuthAH: IP protocol 51, an
// HMAC-MD5-96 over the datagram keyed by the password, keepalived's SPI and
// sequence-number rules; ah.go), accept mode by default, and a master
// answering a lower-priority advert with its own and a round of gratuitous
// ARPs. keepalived answers every such advert; here a master answers at
// most one per advert interval (the answer reaches every peer and the
// whole segment, and its own adverts follow every interval), and a
// priority-0 advert at most once per interval too, so a flood of them
// costs no more than a quiet peer. Scripts (tracking and notify) run
// without a shell, as the user and group they are given, in a process
// group of their own that is killed whole at their timeout.
//
// # How it is built
//
// A pure state machine (core.go) takes events — startup, advert received,
// timer due, tracker change, sync-group order, shutdown — with the current
// time (and, in a sync group, asks the group through a small interface
// whether it may become master), and returns actions: send an advert, add or remove the VIPs,
// announce, notify. It owns no goroutine, clock or socket, so its timers
// are tested to the microsecond. Every receive rule the RFCs make a MUST
// is a pure check (check.go) whose failures are counted by reason
// (DropReason, the lvskit_vrrp_drops_total counter) and logged at debug,
// at most 10 lines a second per instance (the next line says how many
// were suppressed).
//
// Instance is the shell: Run(ctx) owns an injected Clock (Config.Clock,
// which also runs the package's trackers and times the notify and
// tracking scripts, so one fake clock drives an instance whole), a Transport
// (NewRawTransport for IP protocol 112 with TTL/hop limit 255 sent and
// checked through control messages, multicast 224.0.0.18 / ff02::12 or
// unicast peers; MemNet for simulating many routers in one process) and a
// Network that changes the host (netcfg.Host satisfies it through a thin
// adapter). Run returns after a graceful stop when its context ends.
//
// The raw transport opens one socket per interface and family and reads
// all of them from one goroutine, through an epoll set of its own whose
// sockets are armed one-shot: a packet after a quiet spell is read at
// once, while packets keep coming a socket is read in batches every
// RawConfig.BatchInterval, so a thousand backups cost a few hundred
// wake-ups a second rather than several per advert. Packets carry their kernel
// receive time, from which the timers run, and a backup reads its socket
// before it takes over, so batching moves no takeover. A backup handles an
// advert on the reading goroutine (no goroutine wake-up, no allocation),
// and moves its timer with the master-down deadline.
//
// # Needs
//
// The raw transport needs CAP_NET_RAW; the Network needs CAP_NET_ADMIN.
// Nothing runs external programs except the scripts a Config names.
//
// # Use
//
//	tr := vrrp.NewRawTransport(vrrp.RawConfig{})
//	defer tr.Close()
//	inst, err := vrrp.New(vrrp.Config{
//		Interface: "eth0",
//		VRID:      51,
//		Priority:  150,
//		AuthPass:  "secret",
//		VIPs:      []vrrp.VIP{{Prefix: netip.MustParsePrefix("192.168.0.253/32"), Label: "eth0:1"}},
//		Network:   network, // e.g. an adapter over netcfg.Host
//		Transport: tr,
//	})
//	if err != nil { ... }
//	err = inst.Run(ctx) // until ctx ends; then priority 0 and VIPs removed
package vrrp
