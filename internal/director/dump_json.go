package director

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// kaData is the "data" object of keepalived.json, in keepalived's order.
type kaData struct {
	Iname                string   `json:"iname"`
	DontTrackPrimary     int      `json:"dont_track_primary"`
	SkipCheckAdvAddr     int      `json:"skip_check_adv_addr"`
	StrictMode           int      `json:"strict_mode"`
	VMACIfname           string   `json:"vmac_ifname"`
	IfpIfname            string   `json:"ifp_ifname"`
	LastTransition       float64  `json:"last_transition"`
	GARPDelay            float64  `json:"garp_delay"`
	GARPRefresh          int      `json:"garp_refresh"`
	GARPRep              int      `json:"garp_rep"`
	GARPRefreshRep       int      `json:"garp_refresh_rep"`
	GARPLowerPrioDelay   int      `json:"garp_lower_prio_delay"`
	GARPLowerPrioRep     int      `json:"garp_lower_prio_rep"`
	LowerPrioNoAdvert    int      `json:"lower_prio_no_advert"`
	HigherPrioSendAdvert int      `json:"higher_prio_send_advert"`
	VRID                 int      `json:"vrid"`
	BasePriority         int      `json:"base_priority"`
	EffectivePriority    int      `json:"effective_priority"`
	VIPSet               bool     `json:"vipset"`
	PromoteSecondaries   bool     `json:"promote_secondaries"`
	AdverInt             float64  `json:"adver_int"`
	Accept               int      `json:"accept"`
	NoPreempt            bool     `json:"nopreempt"`
	PreemptDelay         int      `json:"preempt_delay"`
	State                int      `json:"state"`
	WantState            int      `json:"wantstate"`
	Version              int      `json:"version"`
	SMTPAlert            bool     `json:"smtp_alert"`
	NotifyDeleted        bool     `json:"notify_deleted"`
	ScriptBackup         string   `json:"script_backup,omitempty"`
	ScriptMaster         string   `json:"script_master,omitempty"`
	ScriptFault          string   `json:"script_fault,omitempty"`
	ScriptStop           string   `json:"script_stop,omitempty"`
	Script               string   `json:"script,omitempty"`
	VIPs                 []string `json:"vips,omitempty"`
	TrackIfp             []string `json:"track_ifp,omitempty"`
	TrackScript          []string `json:"track_script,omitempty"`
	AuthType             int      `json:"auth_type"`
	AuthData             string   `json:"auth_data,omitempty"`
}

// formatJSON writes keepalived.json (keepalived 2.2.7's version 1
// document: a bare array).
func formatJSON(b *bytes.Buffer, snap dumpSnapshot) error {
	type entry struct {
		Data  kaData  `json:"data"`
		Stats kaStats `json:"stats"`
	}
	out := []entry{}
	for _, k := range snap.kaInstances() {
		c := &k.p.VRRP
		ifaces, scripts, dontTrack := k.tracked()
		dt := kaData{
			Iname: c.Name, DontTrackPrimary: b2u(dontTrack), SkipCheckAdvAddr: b2u(c.SkipCheckAdvAddr),
			IfpIfname: c.Interface, LastTransition: kaSeconds(k.st.LastTransition),
			GARPDelay: k.garpDelay.Seconds(), GARPRefresh: int(k.garpRefresh / time.Second), GARPRep: k.garpRep,
			GARPRefreshRep: k.garpRefreshRep, GARPLowerPrioDelay: int(k.garpLowerDelay / time.Second), GARPLowerPrioRep: k.garpLowerRep,
			LowerPrioNoAdvert: b2u(c.LowerPrioNoAdvert), VRID: int(c.VRID), BasePriority: k.basePrio,
			EffectivePriority: k.st.EffectivePriority, VIPSet: k.state == 2,
			AdverInt: orDefault(c.AdvertInterval, time.Second).Seconds(), Accept: b2u(!c.NoAccept),
			NoPreempt: c.NoPreempt, PreemptDelay: int(c.PreemptDelay / time.Second),
			State: k.state, WantState: k.wantstate, Version: k.st.Version, SMTPAlert: k.p.SMTPAlert,
			VIPs: k.vips(),
		}
		if c.UseVMAC {
			dt.VMACIfname = c.VMACName
			if dt.VMACIfname == "" {
				dt.VMACIfname = fmt.Sprintf("vrrp.%d", c.VRID)
			}
		}
		script := func(argv []string) string {
			if len(argv) == 0 {
				return ""
			}
			return cmdStr(argv[0], argv[1:])
		}
		dt.ScriptBackup, dt.ScriptMaster = script(c.Notify.Backup), script(c.Notify.Master)
		dt.ScriptFault, dt.ScriptStop, dt.Script = script(c.Notify.Fault), script(c.Notify.Stop), script(c.Notify.Script)
		for _, t := range ifaces {
			dt.TrackIfp = append(dt.TrackIfp, t.Interface)
		}
		for _, t := range scripts {
			dt.TrackScript = append(dt.TrackScript, cmdStr(t.Script.Path, t.Script.Args))
		}
		if c.AuthPass != "" { // keepalived's VRRP_AUTH_PASS 1, VRRP_AUTH_AH 2
			dt.AuthType, dt.AuthData = 1, c.AuthPass
			if c.AuthType == vrrp.AuthAH {
				dt.AuthType = 2
			}
		}
		out = append(out, entry{Data: dt, Stats: k.stats})
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
