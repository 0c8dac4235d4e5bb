package keepalived

var lvsDRWant = &Config{
	Global: GlobalDefs{Pos: at, RouterID: sv("director-dr"), SMTPAlertChecker: bv(false)},
	Instances: []VRRPInstance{{
		Name: "VI_WEB", Pos: at,
		State:              Value[State]{V: StateMaster, Pos: at},
		Interface:          sv("eth0"),
		VirtualRouterID:    iv(60),
		Priority:           iv(101),
		VirtualIPAddresses: []IPAddress{{Pos: at, Prefix: pfx("203.0.113.10/32"), Dev: "eth0"}},
	}},
	VirtualServers: []VirtualServer{
		{
			Pos: at, Addr: ip("203.0.113.10"), Port: 80,
			DelayLoop:        dv("10s"),
			Scheduler:        sv("wlc"),
			Forwarding:       fwd("DR"),
			Protocol:         sv("TCP"),
			Virtualhost:      sv("www.example.com"),
			Alpha:            bv(true),
			Omega:            bv(true),
			HASuspend:        bv(true),
			Quorum:           iv(2),
			Hysteresis:       iv(1),
			QuorumUp:         scr("/usr/local/bin/vs-up 203.0.113.10:80", "/usr/local/bin/vs-up", "203.0.113.10:80"),
			QuorumDown:       scr("/usr/local/bin/vs-down 203.0.113.10:80", "/usr/local/bin/vs-down", "203.0.113.10:80"),
			ConnectTimeout:   dv("4s"),
			Retry:            iv(2),
			DelayBeforeRetry: dv("2.5s"),
			Warmup:           dv("0s"),
			RealServers: []RealServer{
				{
					Pos: at, Addr: ip("10.1.0.11"), Port: 80,
					Weight:           iv(10),
					InhibitOnFailure: bv(true),
					NotifyUp:         scr("/usr/local/bin/rs-notify up 10.1.0.11", "/usr/local/bin/rs-notify", "up", "10.1.0.11"),
					NotifyDown:       scr("/usr/local/bin/rs-notify down 10.1.0.11", "/usr/local/bin/rs-notify", "down", "10.1.0.11"),
					Checkers: []Checker{{
						Pos: at, Type: HTTPGet,
						ConnOptions: ConnOptions{
							ConnectIP:      av("10.1.0.11"),
							ConnectPort:    u16(8080),
							BindTo:         av("10.1.0.2"),
							BindPort:       u16(40000),
							ConnectTimeout: dv("2s"),
						},
						Retry:            iv(3),
						DelayBeforeRetry: dv("1s"),
						HTTP: &HTTPChecker{
							HTTPProtocol: sv("1.1"),
							FastRecovery: bv(true),
							URLs: []URL{
								httpURL("/healthz", StatusRange{200, 299}, StatusRange{301, 301}, StatusRange{302, 302}),
								{Pos: at, Path: sv("/index.html"), Digest: sv("9b3a0c85a887a256d6939da88aabd8cd"), Virtualhost: sv("static.example.com")},
							},
						},
					}},
				},
				{
					Pos: at, Addr: ip("10.1.0.12"), Port: 80,
					Weight:     iv(10),
					UThreshold: iv(1000),
					LThreshold: iv(800),
					Checkers: []Checker{{
						Pos: at, Type: HTTPGet,
						Alpha:     bv(true),
						Warmup:    dv("5s"),
						DelayLoop: dv("3s"),
						HTTP:      &HTTPChecker{URLs: []URL{httpURL("/healthz")}},
					}},
				},
			},
		},
		{
			Pos: at, Addr: ip("203.0.113.10"), Port: 443,
			DelayLoop:              dv("15s"),
			Scheduler:              sv("sh"),
			SHPort:                 bv(true),
			SHFallback:             bv(true),
			Forwarding:             fwd("DR"),
			PersistenceTimeout:     dv("360s"),
			PersistenceGranularity: iv(24),
			Protocol:               sv("TCP"),
			RealServers: []RealServer{{
				Pos: at, Addr: ip("10.1.0.11"), Port: 443, Weight: iv(1),
				Checkers: []Checker{{
					Pos: at, Type: SSLGet,
					ConnOptions: ConnOptions{ConnectTimeout: dv("5s")},
					HTTP: &HTTPChecker{
						EnableSNI:   bv(true),
						Virtualhost: sv("secure.example.com"),
						URLs:        []URL{httpURL("/healthz", StatusRange{200, 200})},
					},
				}},
			}},
		},
	},
}

var lvsNATWant = &Config{
	Global: GlobalDefs{
		Pos:         at,
		RouterID:    sv("director-nat"),
		LVSTimeouts: Value[LVSTimeouts]{V: LVSTimeouts{TCP: 900e9, TCPFin: 120e9, UDP: 300e9}, Pos: at},
		LVSFlush:    bv(true),
	},
	SyncGroups: []VRRPSyncGroup{{Name: "NAT", Pos: at, Group: []Value[string]{sv("VI_OUT"), sv("VI_IN")}}},
	Instances: []VRRPInstance{
		{
			Name: "VI_OUT", Pos: at,
			State: Value[State]{V: StateMaster, Pos: at}, Interface: sv("eth1"),
			VirtualRouterID: iv(70), Priority: iv(100),
			VirtualIPAddresses: []IPAddress{{Pos: at, Prefix: pfx("198.51.100.10/24"), Dev: "eth1"}},
		},
		{
			Name: "VI_IN", Pos: at,
			State: Value[State]{V: StateMaster, Pos: at}, Interface: sv("eth0"),
			VirtualRouterID: iv(71), Priority: iv(100),
			VirtualIPAddresses: []IPAddress{{Pos: at, Prefix: pfx("192.168.10.254/24"), Dev: "eth0"}},
		},
	},
	VirtualServers: []VirtualServer{
		{
			Pos: at, Addr: ip("198.51.100.10"), Port: 25,
			DelayLoop:          dv("20s"),
			Scheduler:          sv("rr"),
			Forwarding:         fwd("NAT"),
			PersistenceTimeout: dv("600s"),
			Protocol:           sv("TCP"),
			SorryServer:        Value[HostPort]{V: HostPort{Addr: ip("192.168.10.100"), Port: 25}, Pos: at},
			SorryServerInhibit: bv(true),
			InhibitOnFailure:   bv(true),
			RealServers: []RealServer{
				{
					Pos: at, Addr: ip("192.168.10.1"), Port: 25, Weight: iv(1),
					Checkers: []Checker{{Pos: at, Type: TCPCheck, ConnOptions: ConnOptions{ConnectTimeout: dv("3s")}}},
				},
				{
					Pos: at, Addr: ip("192.168.10.2"), Port: 25, Weight: iv(2), Forwarding: fwd("NAT"),
					Checkers: []Checker{{
						Pos: at, Type: TCPCheck,
						ConnOptions: ConnOptions{ConnectPort: u16(2525), ConnectTimeout: dv("3s")},
						Retry:       iv(2),
					}},
				},
			},
		},
		{
			Pos: at, Addr: ip("198.51.100.10"), Port: 53,
			DelayLoop:  dv("5s"),
			Scheduler:  sv("lc"),
			Forwarding: fwd("NAT"),
			Protocol:   sv("UDP"),
			OPS:        bv(true),
			RealServers: []RealServer{{
				Pos: at, Addr: ip("192.168.10.1"), Port: 53,
				Checkers: []Checker{{
					Pos: at, Type: DNSCheck,
					DNS: &DNSChecker{Type: sv("A"), Name: sv("www.example.com")},
				}},
			}},
		},
	},
}

var fwmarkWant = &Config{
	VirtualServerGroups: []VirtualServerGroup{
		{
			Name: "WEB", Pos: at,
			Entries: []VSGEntry{
				{Pos: at, First: ip("10.0.0.1"), Last: ip("10.0.0.10"), Port: 80},
				{Pos: at, First: ip("10.0.0.20"), Last: ip("10.0.0.25"), Port: 80},
				{Pos: at, First: ip("10.0.1.0"), Last: ip("10.0.1.3"), Port: 80},
				{Pos: at, First: ip("192.0.2.7"), Last: ip("192.0.2.7"), Port: 80},
			},
		},
		{
			Name: "MARKS", Pos: at,
			Entries: []VSGEntry{
				{Pos: at, FwMark: u32(100)},
				{Pos: at, FwMark: u32(101), Family: "inet"},
			},
		},
	},
	VirtualServers: []VirtualServer{
		{
			Pos: at, Group: "WEB",
			DelayLoop:  dv("5s"),
			Scheduler:  sv("mh"),
			MHPort:     bv(true),
			MHFallback: bv(true),
			Forwarding: fwd("TUN"),
			Protocol:   sv("TCP"),
			RealServers: []RealServer{{
				Pos: at, Addr: ip("10.2.0.1"), Port: 80, Weight: iv(5),
				Forwarding: Value[Forwarding]{V: Forwarding{Method: "TUN", TunnelType: "gue", TunnelPort: 6080, Checksum: "csum"}, Pos: at},
				Checkers:   []Checker{{Pos: at, Type: TCPCheck, ConnOptions: ConnOptions{ConnectTimeout: dv("2s")}}},
			}},
		},
		{
			Pos: at, FwMark: u32(100),
			DelayLoop:          dv("5s"),
			Scheduler:          sv("wrr"),
			Forwarding:         fwd("DR"),
			PersistenceTimeout: dv("300s"),
			IPFamily:           sv("inet"),
			RealServers: []RealServer{
				{Pos: at, Addr: ip("10.2.0.1"), Weight: iv(1), Checkers: []Checker{{Pos: at, Type: PingCheck}}},
				{Pos: at, Addr: ip("10.2.0.2"), Weight: iv(2), Checkers: []Checker{{Pos: at, Type: PingCheck, DelayLoop: dv("2s")}}},
			},
		},
	},
}

var checkersWant = &Config{
	TrackFiles: []TrackFile{{Name: "rs_weight", Pos: at, File: sv("/run/rs-weight")}},
	VirtualServers: []VirtualServer{
		{
			Pos: at, Addr: ip("10.9.0.1"), Port: 25,
			DelayLoop: dv("30s"), Scheduler: sv("rr"), Forwarding: fwd("NAT"), Protocol: sv("TCP"),
			RealServers: []RealServer{{
				Pos: at, Addr: ip("10.9.1.1"), Port: 25,
				Checkers: []Checker{
					{
						Pos: at, Type: SMTPCheck,
						ConnOptions: ConnOptions{ConnectTimeout: dv("10s")},
						SMTP: &SMTPChecker{
							HeloName: sv("mail.example.com"),
							Hosts: []SMTPHost{
								{Pos: at, ConnOptions: ConnOptions{ConnectIP: av("10.9.1.1"), ConnectPort: u16(25)}},
								{Pos: at, ConnOptions: ConnOptions{ConnectIP: av("10.9.1.2"), ConnectPort: u16(587), BindTo: av("10.9.0.2")}},
							},
						},
					},
					{
						Pos: at, Type: MiscCheck,
						Retry:  iv(0),
						Warmup: dv("2s"),
						Misc: &MiscChecker{
							Path:    scr("/usr/local/bin/check-rs 10.9.1.1 'two words'", "/usr/local/bin/check-rs", "10.9.1.1", "two words"),
							Timeout: dv("5s"),
							Dynamic: bv(true),
							User:    Value[User]{V: User{User: "nobody"}, Pos: at},
						},
					},
					{
						Pos: at, Type: FileCheck,
						File: &FileChecker{TrackFile: sv("rs_weight"), Dynamic: bv(true), Weight: iv(2), Reverse: bv(true)},
					},
				},
			}},
		},
		{
			Pos: at, Addr: ip("10.9.0.1"), Port: 514,
			DelayLoop: dv("10s"), Scheduler: sv("rr"), Forwarding: fwd("NAT"), Protocol: sv("UDP"),
			RealServers: []RealServer{
				{
					Pos: at, Addr: ip("10.9.1.1"), Port: 514,
					Checkers: []Checker{
						{
							Pos: at, Type: UDPCheck,
							ConnOptions: ConnOptions{ConnectTimeout: dv("4s")},
							UDP: &UDPChecker{
								Payload: Value[[]byte]{V: []byte{0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}, Pos: at},
								RequireReply: Value[HexPattern]{V: HexPattern{
									Data: []byte{0x00, 0x12, 0x00},
									Mask: []byte{0xf0, 0xff, 0x00},
								}, Pos: at},
								MinReplyLength: iv(2),
								MaxReplyLength: iv(100),
							},
						},
						{Pos: at, Type: PingCheck, Retry: iv(1)},
					},
				},
				{
					Pos: at, Addr: ip("10.9.1.2"), Port: 514,
					Checkers: []Checker{
						{Pos: at, Type: UDPCheck, UDP: &UDPChecker{RequireReply: Value[HexPattern]{Pos: at}}},
						{Pos: at, Type: DNSCheck, Retry: iv(3), DNS: &DNSChecker{Type: sv("SOA"), Name: sv("example.com.")}},
					},
				},
			},
		},
	},
}
