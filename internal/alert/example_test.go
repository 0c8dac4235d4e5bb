package alert_test

import (
	"log/slog"
	"os"
	"time"

	"github.com/lvskit/lvskit/internal/alert"
)

// A director mails its VRRP transitions, as keepalived's global_defs
// notification_email / smtp_server / router_id would configure it.
func ExampleNotifier() {
	n, err := alert.New(alert.Config{
		RouterID:       "LVS_1",
		From:           "lvs1@example.org",
		To:             []string{"ops@example.org"},
		Server:         "127.0.0.1:25",
		ConnectTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer n.Close() // waits at most ConnectTimeout for queued alerts

	// In the VRRP instance's notify callback; returns at once.
	n.Notify(alert.Event{
		Kind:   alert.VRRPInstance,
		Name:   "VI_1",
		From:   "BACKUP",
		To:     "MASTER",
		Reason: "master down timer expired",
	})
}

func ExampleSubject() {
	ev := alert.Event{Kind: alert.RealServer, Name: "virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80", From: "UP", To: "DOWN"}
	os.Stdout.WriteString(alert.Subject("LVS_1", ev) + "\n")
	// Output: [LVS_1] Real server virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80 - DOWN
}
