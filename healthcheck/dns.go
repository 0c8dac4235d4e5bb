package healthcheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// DNSChecker is keepalived's DNS_CHECK: it sends a recursive query of Type
// for Name over UDP; the target is up when an answer with RCODE NOERROR
// arrives.
type DNSChecker struct {
	Conn
	// Type is the query type ("A", "AAAA", "SOA", "MX", ...); empty means
	// SOA, keepalived's default.
	Type string
	// Name is the queried name; empty means the root ".", keepalived's
	// default.
	Name string
}

var _ Checker = (*DNSChecker)(nil)

func (c *DNSChecker) kind() kind     { return kindDNS }
func (c *DNSChecker) String() string { return "dns " + c.Addr.String() }

// Check sends the query and reads the answer.
func (c *DNSChecker) Check(ctx context.Context) error {
	if err := c.validate("dns"); err != nil {
		return err
	}
	typ := c.Type
	if typ == "" {
		typ = "SOA"
	}
	qt, ok := dns.StringToType[strings.ToUpper(typ)]
	if !ok {
		return fmt.Errorf("dns check %s: unknown query type %q", c.Addr, c.Type)
	}
	name := c.Name
	if name == "" {
		name = "."
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return fmt.Errorf("dns check %s: bad name %q", c.Addr, name)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qt)
	m.RecursionDesired = true
	cl := &dns.Client{Net: "udp", Dialer: c.dialer("udp")}
	if dl, ok := ctx.Deadline(); ok {
		cl.Timeout = timeUntil(dl)
	}
	r, _, err := cl.ExchangeContext(ctx, m, c.Addr.String())
	if err != nil {
		return fmt.Errorf("dns check %s: %s %s: %w", c.Addr, typ, name, ctxErr(ctx, err))
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("dns check %s: %s %s: rcode %s", c.Addr, typ, name, dns.RcodeToString[r.Rcode])
	}
	return nil
}
