package compat

// Reasons shared by several cases.
const (
	// The rule: the director reports every value it corrects, also where
	// keepalived corrects it without a word.
	silentInKeepalived = "keepalived corrects this without a word; the director runs the same value and says so, as the rule wants (so its verdict is runs with warnings)"
	// keepalived's samples mail "acassen".
	bareRecipient = "notification_email acassen is not an e-mail address: keepalived hands it to the SMTP server as written, the director's mailer (internal/alert) needs name@domain and leaves it out, with a warning"
)

// Differences names, per case, why the director differs from keepalived
// there. TestIntegrationCompat fails on a difference not named here, and
// on a name here whose case no longer differs.
var Differences = map[string]string{
	"nopreempt_arg":                        silentInKeepalived,
	"unicast_prefix":                       silentInKeepalived,
	"vs_dev":                               silentInKeepalived,
	"keepalived.conf.HTTP_GET.port":        bareRecipient,
	"keepalived.conf.PING_CHECK":           bareRecipient,
	"keepalived.conf.SMTP_CHECK":           bareRecipient,
	"keepalived.conf.UDP_CHECK":            bareRecipient,
	"keepalived.conf.inhibit":              bareRecipient,
	"keepalived.conf.misc_check":           bareRecipient,
	"keepalived.conf.misc_check_arg":       bareRecipient,
	"keepalived.conf.sample":               bareRecipient,
	"keepalived.conf.status_code":          bareRecipient,
	"keepalived.conf.virtual_server_group": bareRecipient,
	"keepalived.conf.virtualhost":          bareRecipient,
	"keepalived.conf.vrrp":                 bareRecipient,
}

// LVSDifferences names, per case, why the director runs its virtual
// servers differently from keepalived's checker process
// (TestKernelCompatLVS).
var LVSDifferences = map[string]string{
	"keepalived.conf.SMTP_CHECK": "SMTP_CHECK with host { } blocks: keepalived 2.2.7 runs a check of the real server's own address besides one per host (the sample's comment says the address must be listed as a host to be checked) and dumps the hosts' connect_timeout as 0; the director runs one check per host, each with the checker's connect_timeout",
}
