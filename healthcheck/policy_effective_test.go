package healthcheck

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Effective fills in keepalived's defaults per checker kind.
func TestPolicyEffective(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		c    Checker
		want Policy
	}{
		{"TCP defaults", Policy{}, &TCPChecker{}, Policy{DelayLoop: DefaultDelayLoop, ConnectTimeout: DefaultConnectTimeout, Retry: 1,
			DelayBeforeRetry: time.Second, Warmup: DefaultDelayLoop, Bootstrap: DefaultBootstrap, Rise: 1}},
		{"DNS: 3 retries, delay_before_retry is delay_loop", Policy{DelayLoop: 10 * time.Second}, &DNSChecker{}, Policy{DelayLoop: 10 * time.Second,
			ConnectTimeout: DefaultConnectTimeout, Retry: 3, DelayBeforeRetry: 10 * time.Second, Warmup: 10 * time.Second, Bootstrap: DefaultBootstrap, Rise: 1}},
		{"HTTP, none", Policy{Retry: NoRetry, Warmup: -1}, &HTTPChecker{}, Policy{DelayLoop: DefaultDelayLoop, ConnectTimeout: DefaultConnectTimeout,
			DelayBeforeRetry: 3 * time.Second, Bootstrap: DefaultBootstrap, Rise: 1}},
	} {
		if diff := cmp.Diff(tc.want, tc.p.Effective(tc.c)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
