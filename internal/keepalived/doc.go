// Package keepalived reads keepalived.conf files (keepalived 2.2, as
// keepalived.conf(5) describes them) into typed Go values, so that a
// keepalived user can hand an existing configuration to an lvskit director.
//
// # What it reads
//
// Everything keepalived.conf(5) defines for VRRP, LVS and health checks:
// global_defs (router_id, the e-mail settings, lvs_sync_daemon, the vrrp_*
// defaults, script security), vrrp_script, track_file, vrrp_sync_group,
// vrrp_instance, static_ipaddress/static_routes/static_rules,
// virtual_server_group, virtual_server and real_server with the checkers
// HTTP_GET, SSL_GET, TCP_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK, PING_CHECK,
// MISC_CHECK and FILE_CHECK. And one block of lvskit's own, bgp (bgp.go):
// the BGP neighbors of an active-active director and the virtual server
// addresses it announces to them. keepalived has no behaviour to follow
// there, so in bgp an unknown keyword, a missing argument or a bad value
// is an error, where elsewhere it is the warning of what keepalived
// ignores: a BGP setting dropped would run the speaker other than written.
//
// And keepalived's syntax: '#' and '!' comments, blocks across lines or on
// one line, double-quoted strings with escapes, include (and includer,
// includem, includew, includeb, includea) with globs and brace expansion
// relative to the including file, @id / @^id conditional lines,
// $NAME=value parameters (also multiline, expanded where used, with the
// predefined ${_PWD}, ${_INSTANCE}, ${_RANDOM}, ${_HASH}, ${_BANG}), and
// ~SEQ / ~SEQx / ~LST repetition.
//
// # Results and errors
//
// Parse and ParseFile return a *Config, the warnings, and an error. Every
// value carries the position where the file set it (a Value's Pos; list
// entries have their own Pos), so that a later stage can say where a
// problem comes from. A Value that is not Set was not in the file: the
// parser never fills in defaults (each field's comment names keepalived's).
//
// The parser reads a file the way keepalived 2.2.7 does, and what
// keepalived logs and then corrects or ignores is a Warning at its
// position that says what keepalived does, with keepalived's value in the
// Config: an unknown keyword (with a "did you mean" from the keywords of
// its block; a misspelt checker is said to be no check at all), extra
// arguments, a value out of range or invalid (the default stays), state,
// auth_type and lb_kind compared case-sensitively as keepalived compares
// them, auth_pass truncated to 8 characters, a prefix length after
// unicast_src_ip or a unicast_peer dropped, a vrrp_script or track_file
// without its script or file removed, references to missing blocks
// ignored, an empty sync group removed. keepalived does not skip the
// block of an unknown keyword: it ignores the '{', reads the lines inside
// as lines of the enclosing block, and the '}' ends that block; the
// parser does the same (decodeBlock).
//
// Errors are what keepalived stops on too (a vrrp_instance without
// virtual_router_id or interface) or what cannot be read at all; they are
// collected, not stopped at: the error is a *ParseError listing every one
// as "file:line:col: message", the warnings are returned with it, and a
// configuration with any error is rejected as a whole (the returned
// *Config is nil). A keyword that keepalived knows but lvskit does not
// implement (SNMP, BFD, ...) is accepted and
// reported as a Warning with its position, never silently dropped.
// Diagnostic has a Severity for tools that list both.
//
// # Use
//
//	cfg, warns, err := keepalived.ParseFile("/etc/keepalived/keepalived.conf",
//		keepalived.Options{Host: "lvs_1"})
//	for _, w := range warns {
//		log.Print(w)
//	}
//	var pe *keepalived.ParseError
//	if errors.As(err, &pe) {
//		for _, d := range pe.Diagnostics {
//			fmt.Println(d) // testdata/bad.conf:1:1: vrrp_instance "VI_1": missing virtual_router_id (...)
//		}
//	}
//
// Options.FS (an io/fs.FS) makes includes read from somewhere other than
// the operating system's files, fstest.MapFS in tests for example.
//
// # Bounds and names
//
// Reading a configuration is bounded whatever its files hold
// (Options.Limits, source.go): only regular files are read — a FIFO, a
// device or a directory named by an include is an error at the include,
// found with a stat before the file is opened (and opened without
// blocking, then checked again) —, each file is at most 16 MiB, all of
// them together 32 MiB, at most 4096 files are read however includes fan
// out (a file that includes itself four times), and a line is at most
// 64 KiB as written and as parameter substitution makes it. Each default
// can be changed; an input over a limit is an error at its position, and
// reading stops there.
//
// Every word of a file must be text: valid UTF-8 without control
// characters other than tab (a quoted "\x01" is refused). Names — of
// instances, sync groups, scripts, track files, virtual server groups,
// the router_id, e-mail addresses — are at most 255 bytes, interface
// names and address labels at most 15 (the kernel's IFNAMSIZ). A name
// reaches metric labels, log lines, /status and e-mail headers (package
// internal/names); keepalived takes any bytes, lvskit refuses them at
// their position.
//
// testdata/ holds a corpus of configurations, among them the two directors
// of the book's cluster (book_lvs_1.conf, book_lvs_2.conf, and
// book_cluster.conf for both with @lvs_1/@lvs_2).
package keepalived
