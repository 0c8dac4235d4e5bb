package keepalived

import "net/netip"

var vrrpOnlyWant = &Config{
	Global: GlobalDefs{
		Pos:                         at,
		RouterID:                    sv("gw-a"),
		VRRPVersion:                 iv(2),
		VRRPGarpMasterDelay:         dv("10s"),
		VRRPGarpMasterRepeat:        iv(3),
		VRRPGarpMasterRefresh:       dv("60s"),
		VRRPGarpMasterRefreshRepeat: iv(2),
		VRRPGarpInterval:            dv("1ms"),
		VRRPGnaInterval:             dv("1us"),
		VRRPMcastGroup4:             av("224.0.0.18"),
		VRRPSkipCheckAdvAddr:        bv(true),
		VRRPLowerPrioNoAdvert:       bv(true),
		EnableScriptSecurity:        bv(true),
		ScriptUser:                  Value[User]{V: User{User: "root", Group: "root"}, Pos: at},
	},
	Instances: []VRRPInstance{
		{
			Name: "LAN_GW", Pos: at,
			State:             Value[State]{V: StateBackup, Pos: at},
			Interface:         sv("eth1"),
			DontTrackPrimary:  bv(true),
			TrackInterfaces:   []TrackRef{ref("eth0"), refW("eth2", -20, false), refW("bond0", 10, true)},
			McastSrcIP:        av("10.0.1.2"),
			VirtualRouterID:   iv(10),
			Priority:          iv(150),
			AdvertInt:         dv("2s"),
			PreemptDelay:      dv("5.5s"),
			GarpMasterDelay:   dv("1s"),
			GarpMasterRepeat:  iv(2),
			GarpMasterRefresh: dv("30s"),
			Accept:            bv(true),
			UseVMAC:           Value[VMAC]{V: VMAC{Name: "vrrp.10"}, Pos: at},
			VMACXmitBase:      bv(true),
			VirtualIPAddresses: []IPAddress{
				{Pos: at, Prefix: pfx("10.0.1.1/24"), Broadcast: "10.0.1.255", Dev: "eth1", Scope: "global", Label: "eth1:vip"},
				addr("10.0.1.254/32"),
			},
			VirtualIPAddressesExcl: []IPAddress{
				{Pos: at, Prefix: pfx("10.0.9.1/32"), Dev: "eth1", NoTrack: true},
			},
			VirtualRoutes: []Route{
				{Pos: at, Src: ip("10.0.1.1"), Dst: pfx("10.10.0.0/16"), Via: ip("10.0.1.254"), Dev: "eth1"},
				{Pos: at, Dst: pfx("192.168.110.0/24"), Via: ip("10.0.1.254"), Dev: "eth1", Table: "100", Metric: iv(5)},
				{Pos: at, Type: "blackhole", Dst: pfx("192.168.114.0/24"), NoTrack: true},
				{Pos: at, Dst: pfx("0.0.0.0/0"), Via: ip("10.0.1.254"), Dev: "eth1", Table: "100"},
			},
			VirtualRules: []Rule{
				{Pos: at, From: pfx("10.0.1.0/24"), Table: "100", Priority: iv(100)},
				{Pos: at, To: pfx("10.10.0.0/16"), Table: "100", Priority: iv(101), NoTrack: true},
			},
			NotifyMaster: scr("/etc/keepalived/notify.sh MASTER 'LAN GW'", "/etc/keepalived/notify.sh", "MASTER", "LAN GW"),
			NotifyBackup: scrUser("/etc/keepalived/notify.sh", "root", "root", "/etc/keepalived/notify.sh"),
			NotifyFault:  scr("/etc/keepalived/notify.sh", "/etc/keepalived/notify.sh"),
			NotifyStop:   scr("/etc/keepalived/stop.sh", "/etc/keepalived/stop.sh"),
			Notify:       scr("/etc/keepalived/notify-any.sh", "/etc/keepalived/notify-any.sh"),
			SMTPAlert:    bv(true),
		},
		{
			Name: "WAN_GW", Pos: at,
			State:           Value[State]{V: StateBackup, Pos: at},
			Interface:       sv("eth2"),
			VirtualRouterID: iv(20),
			Priority:        iv(200),
			Version:         iv(3),
			AdvertInt:       dv("500ms"),
			UnicastSrcIP:    av("172.16.0.2"),
			UnicastPeers: []UnicastPeer{
				{Pos: at, Addr: ip("172.16.0.3")},
				{Pos: at, Addr: ip("172.16.0.4"), MinTTL: iv(250), MaxTTL: iv(255)},
			},
			UnicastPeerBlock: at,
			UnicastTTL:       iv(255),
			Accept:           bv(false),
			NoPreempt:        bv(true),
			StrictMode:       bv(false),
			VirtualIPAddresses: []IPAddress{
				{Pos: at, Prefix: pfx("172.16.0.1/24"), Dev: "eth2"},
			},
		},
	},
}

var syncScriptsWant = &Config{
	Global: GlobalDefs{
		Pos:                  at,
		EnableScriptSecurity: bv(true),
		ScriptUser:           Value[User]{V: User{User: "root"}, Pos: at},
	},
	Scripts: []VRRPScript{
		{
			Name: "chk_haproxy", Pos: at,
			Script:   scr("/usr/bin/pgrep -x haproxy", "/usr/bin/pgrep", "-x", "haproxy"),
			Interval: dv("2s"),
			Timeout:  dv("1s"),
			Weight:   iv(-30),
			Rise:     iv(2),
			Fall:     iv(3),
			User:     Value[User]{V: User{User: "root", Group: "root"}, Pos: at},
		},
		{
			Name: "chk_maint", Pos: at,
			Script:   scr("/usr/bin/test ! -e /run/keepalived/maintenance", "/usr/bin/test", "!", "-e", "/run/keepalived/maintenance"),
			Interval: dv("5s"),
			Weight:   iv(0),
			InitFail: bv(true),
		},
	},
	TrackFiles: []TrackFile{{
		Name: "maint_file", Pos: at,
		File:     sv("/run/keepalived/maintenance"),
		Weight:   iv(-10),
		Reverse:  bv(true),
		InitFile: Value[InitFile]{V: InitFile{Value: 0, Overwrite: true}, Pos: at},
	}},
	SyncGroups: []VRRPSyncGroup{{
		Name: "VG_1", Pos: at,
		Group:        []Value[string]{sv("VI_A"), sv("VI_B")},
		TrackScripts: []TrackRef{ref("chk_maint")},
		TrackFiles:   []TrackRef{refW("maint_file", 1, false)},
		NotifyMaster: scr("/etc/keepalived/group.sh master", "/etc/keepalived/group.sh", "master"),
		NotifyBackup: scr("/etc/keepalived/group.sh backup", "/etc/keepalived/group.sh", "backup"),
		NotifyFault:  scr("/etc/keepalived/group.sh fault", "/etc/keepalived/group.sh", "fault"),
		Notify:       scr("/etc/keepalived/group.sh", "/etc/keepalived/group.sh"),
		SMTPAlert:    bv(true),

		SyncGroupTrackingWeight: bv(true),
	}},
	Instances: []VRRPInstance{
		{
			Name: "VI_A", Pos: at,
			State:              Value[State]{V: StateBackup, Pos: at},
			Interface:          sv("eth0"),
			VirtualRouterID:    iv(31),
			Priority:           iv(120),
			AdvertInt:          dv("2s"),
			TrackScripts:       []TrackRef{ref("chk_haproxy"), refW("chk_maint", 0, false)},
			TrackFiles:         []TrackRef{ref("maint_file")},
			VirtualIPAddresses: []IPAddress{addr("10.3.0.10/24")},
		},
		{
			Name: "VI_B", Pos: at,
			State:                  Value[State]{V: StateBackup, Pos: at},
			Interface:              sv("eth1"),
			VirtualRouterID:        iv(32),
			Priority:               iv(120),
			AdvertInt:              dv("2s"),
			TrackScripts:           []TrackRef{refW("chk_haproxy", -40, false)},
			VirtualIPAddresses:     []IPAddress{addr("10.4.0.10/24")},
			NotifyMasterRxLowerPri: scr("/etc/keepalived/rx-lower.sh", "/etc/keepalived/rx-lower.sh"),
		},
	},
}

var ipv6Want = &Config{
	Global: GlobalDefs{
		Pos:             at,
		RouterID:        sv("v6-director"),
		VRRPMcastGroup6: av("ff02::12"),
		VRRPVersion:     iv(3),
	},
	Instances: []VRRPInstance{{
		Name: "VI_6", Pos: at,
		State:           Value[State]{V: StateMaster, Pos: at},
		Interface:       sv("eth0"),
		VirtualRouterID: iv(66),
		Priority:        iv(110),
		AdvertInt:       dv("1s"),
		NativeIPv6:      bv(true),
		VirtualIPAddresses: []IPAddress{
			{Pos: at, Prefix: pfx("fe80::66/64"), Dev: "eth0"},
			{Pos: at, Prefix: pfx("2001:db8:66::10/64"), Dev: "eth0", PreferredLft: "forever", NoDAD: true},
		},
		VirtualIPAddressesExcl: []IPAddress{{Pos: at, Prefix: pfx("10.66.0.10/24"), Dev: "eth0"}},
		VirtualRoutes: []Route{
			{Pos: at, Dst: pfx("2001:db8:77::/48"), Via: ip("2001:db8:66::1"), Dev: "eth0"},
		},
	}},
	VirtualServerGroups: []VirtualServerGroup{{
		Name: "V6", Pos: at,
		Entries: []VSGEntry{{Pos: at, First: ip("2001:db8:66::20"), Last: ip("2001:db8:66::2f"), Port: 443}},
	}},
	VirtualServers: []VirtualServer{{
		Pos: at, Addr: ip("2001:db8:66::10"), Port: 80,
		DelayLoop:  dv("6s"),
		Scheduler:  sv("wrr"),
		Forwarding: fwd("DR"),
		Protocol:   sv("TCP"),
		RealServers: []RealServer{
			{
				Pos: at, Addr: ip("2001:db8:66::101"), Port: 80, Weight: iv(1),
				Checkers: []Checker{{
					Pos: at, Type: HTTPGet,
					ConnOptions: ConnOptions{ConnectTimeout: dv("3s")},
					HTTP:        &HTTPChecker{URLs: []URL{httpURL("/", StatusRange{200, 200})}},
				}},
			},
			{
				Pos: at, Addr: ip("2001:db8:66::102"), Port: 80, Weight: iv(1),
				Checkers: []Checker{{
					Pos: at, Type: TCPCheck,
					ConnOptions: ConnOptions{
						ConnectIP:   av("2001:db8:66::102"),
						ConnectPort: u16(80),
						BindTo:      av("2001:db8:66::2"),
						BindIf:      sv("eth0"),
					},
				}},
			},
		},
	}},
}

var conditionalWant = &Config{
	Global: GlobalDefs{
		Pos:                  at,
		RouterID:             sv("main_router"),
		EnableScriptSecurity: bv(true),
		ScriptUser:           Value[User]{V: User{User: "root"}, Pos: at},
		SMTPHeloName:         sv("main.example.com"),
		NotificationEmail:    []Value[string]{sv("alice@example.com"), sv("bob@example.com")},
	},
	Instances: []VRRPInstance{{
		Name: "VI_0", Pos: at,
		Interface:       sv("eth0"),
		VirtualRouterID: iv(1),
		Priority:        iv(240),
		UnicastSrcIP:    av("1.2.3.4"),
		UnicastPeers: []UnicastPeer{
			{Pos: at, Addr: ip("1.2.3.5")},
			{Pos: at, Addr: ip("1.2.3.6")},
		},
		UnicastPeerBlock: at,
		VirtualIPAddresses: []IPAddress{
			addr("10.2.0.100/32"), addr("10.2.10.100/32"),
			addr("10.1.0.1/32"), addr("10.1.1.1/32"), addr("10.1.2.1/32"), addr("10.1.3.1/32"),
			addr("192.168.10.1/32"), addr("192.168.20.4/32"),
		},
		VirtualIPAddressesExcl: []IPAddress{
			addr("fe80::20:90:1/128"), addr("fe80::20:a0:1/128"), addr("fe80::20:b0:1/128"), addr("fe80::20:c0:1/128"),
		},
		NotifyMaster: scr(`/bin/echo hash=# bang=! "quoted"`, "/bin/echo", "hash=#", "bang=!", "quoted"),
	}},
}

var _ = netip.Addr{}
