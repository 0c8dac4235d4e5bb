package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

// httpFrom returns an HTTP client whose connections start in namespace h;
// every request opens a new connection, so each one is scheduled anew.
func httpFrom(h *nslab.Host, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       h.DialContext,
			DisableKeepAlives: true,
		},
	}
}

// probeFrom is httpFrom for probes that time an outage: a connection not
// established within 900 ms is given up, below TCP's first SYN
// retransmission (1 s), so that no probe started during the outage is
// carried across it by a retransmitted SYN and counted as served from its
// start.
func probeFrom(h *nslab.Host, timeout time.Duration) *http.Client {
	c := httpFrom(h, timeout)
	c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
		defer cancel()
		return h.DialContext(ctx, network, addr)
	}
	return c
}

// servedBy fetches the page once and returns which real server answered.
func servedBy(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	name := resp.Header.Get("X-Served-By")
	if name == "" {
		return "", fmt.Errorf("no X-Served-By header in the answer")
	}
	return name, nil
}

// directorStatus is the part of the director's JSON status the demo reads.
type directorStatus struct {
	RouterID      string `json:"router_id"`
	Backend       string `json:"backend"`
	BackendReason string `json:"backend_reason"`
	VRRP          []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Priority int    `json:"priority"`
	} `json:"vrrp"`
	VirtualServers []struct {
		Service     string `json:"service"`
		RealServers []struct {
			Address string `json:"address"`
			Weight  int    `json:"weight"`
			Healthy bool   `json:"healthy"`
			InTable bool   `json:"in_table"`
		} `json:"real_servers"`
	} `json:"virtual_servers"`
}

func (s *directorStatus) state() string {
	if len(s.VRRP) == 0 {
		return ""
	}
	return s.VRRP[0].State
}

// healthy reports the health the director sees for a real server address
// and whether the server is in the IPVS table the director read back.
func (s *directorStatus) healthy(addr string) (healthy, inTable, known bool) {
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			if rs.Address == addr {
				return rs.Healthy, rs.InTable, true
			}
		}
	}
	return false, false, false
}

const statusAddr = "127.0.0.1:9100"

func fetchStatus(ctx context.Context, h *nslab.Host) (*directorStatus, error) {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+statusAddr+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st directorStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode status of %s: %w", h.Name(), err)
	}
	return &st, nil
}
