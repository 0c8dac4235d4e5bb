// Package alert sends keepalived-style e-mail alerts: one short plain-text
// message for every transition a director cares about — a VRRP instance or
// sync group changing state, a real server going up or down, a virtual
// server gaining or losing its quorum.
//
// # What it mirrors
//
// keepalived's global_defs configure the same thing:
//
//	notification_email { ops@example.org }   Config.To
//	notification_email_from lvs@example.org   Config.From
//	smtp_server 127.0.0.1 [25]                Config.Server ("host:port", port 25 by default)
//	smtp_helo_name NAME                       Config.HeloName
//	smtp_connect_timeout 30                   Config.ConnectTimeout
//	router_id LVS_1                           Config.RouterID
//
// smtp_alert, smtp_alert_vrrp and smtp_alert_checker decide which
// transitions are mailed; that choice belongs to the caller, which simply
// does not call Notify for the kinds that are switched off.
//
// Subjects follow keepalived's shape, "[router_id] what - new state":
//
//	[LVS_1] VRRP Instance VI_1 - Entering MASTER state
//	[LVS_1] VRRP Group VG_1 - Entering BACKUP state
//	[LVS_1] Real server virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80 - DOWN
//	[LVS_1] Quorum virtual_server 192.168.0.253:80 - UP
//
// and the body repeats the host, the object, the change "from -> to", the
// time of the transition and the reason, one per line.
//
// # Never in the way of a failover
//
// Notify only puts the event into a bounded queue and returns; it never
// waits for the network, for a lock held across I/O, or for the logger.
// When the queue is full the event is dropped and counted. One background
// goroutine sends the queued messages one at a time; each SMTP
// transaction (connect, greeting, HELO, MAIL, RCPT, DATA, QUIT) has
// ConnectTimeout in total, so a mail server that accepts and never speaks
// costs at most one timeout per message, and only to that goroutine.
//
// A message that fails is logged and counted and not retried, as
// keepalived does: retrying a dead server would hold the queue while newer
// transitions wait, and the next transition sends a fresh alert anyway.
//
// Close stops accepting events and gives the sender at most one
// ConnectTimeout to flush what is queued; what is still queued after that
// is dropped and counted, so Close returns within about ConnectTimeout.
//
// Time comes from Config.Clock (nil: the wall clock): the Date headers and
// both timeouts, so that a test drives them with a fake clock. Validate
// checks a Config as New does, for a program that reads its configuration
// ahead of running it.
//
// # Protocol
//
// Plain SMTP (RFC 5321) as keepalived speaks it: no STARTTLS, no AUTH,
// meant for a relay on the director or in its LAN. Messages are RFC 5322
// with From, To, Subject, Date, Message-ID, MIME-Version and
// "Content-Type: text/plain; charset=utf-8"; non-ASCII subjects are
// RFC 2047 encoded and non-ASCII bodies quoted-printable.
//
// # Metrics
//
// A Notifier is a prometheus.Collector:
//
//	lvskit_alert_messages_total{result="sent|failed|dropped"}  counter
//	lvskit_alert_queue_length                                 gauge
//
// and Stats returns the same counters for callers without Prometheus.
// The metric names carry no notifier label: register one Notifier per
// registry, or wrap the registerer (prometheus.WrapRegistererWith) to
// tell several apart.
//
// # Use
//
//	n, err := alert.New(alert.Config{
//		RouterID: "LVS_1",
//		From:     "lvs1@example.org",
//		To:       []string{"ops@example.org"},
//		Server:   "127.0.0.1:25",
//		Logger:   logger,
//	})
//	if err != nil { ... }
//	defer n.Close()
//	n.Notify(alert.Event{Kind: alert.VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER",
//		Reason: "master down timer expired"})
package alert
