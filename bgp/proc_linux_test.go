package bgp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// Namespace tests run each speaker as a process of its own: the test
// binary started again inside the speaker's namespace, with speakerEnv
// holding its configuration. A process is what a director is, and what a
// SIGKILL can take down while the router watches.

const speakerEnv = "LVSKIT_BGP_TEST_SPEAKER"

// speakerSpec is the child's configuration.
type speakerSpec struct {
	ASN      uint32
	RouterID netip.Addr
	Peers    []Peer
	Routes   []routeSpec
}

type routeSpec struct {
	Prefix      netip.Prefix
	Communities []string
	MED         uint32
	LocalPref   uint32
}

func (r routeSpec) route() (Route, error) {
	out := Route{Prefix: r.Prefix, MED: r.MED, LocalPref: r.LocalPref}
	for _, s := range r.Communities {
		c, err := ParseCommunity(s)
		if err != nil {
			return out, err
		}
		out.Communities = append(out.Communities, c)
	}
	return out, nil
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(speakerEnv); spec != "" {
		os.Exit(speakerMain(spec))
	}
	os.Exit(m.Run())
}

// speakerMain runs a speaker until SIGTERM, taking commands on stdin, one
// a line, and answering each with one line on stdout:
//
//	announce PREFIX   -> ok | err ...
//	withdraw PREFIX   -> ok | err ...
//	withdrawall       -> ok | err ...
//	status            -> the Status as JSON
func speakerMain(specJSON string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var spec speakerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		log.Error("decode spec", "err", err)
		return 2
	}
	sp, err := New(Config{ASN: spec.ASN, RouterID: spec.RouterID, Peers: spec.Peers, Logger: log})
	if err != nil {
		log.Error("new speaker", "err", err)
		return 2
	}
	var routes []Route
	for _, rs := range spec.Routes {
		r, err := rs.route()
		if err != nil {
			log.Error("route", "err", err)
			return 2
		}
		routes = append(routes, r)
	}
	if err := sp.SetRoutes(routes); err != nil {
		log.Error("set routes", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var out sync.Mutex
	reply := func(s string) {
		out.Lock()
		defer out.Unlock()
		fmt.Println(s)
	}
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			reply(speakerCommand(ctx, sp, in.Text()))
		}
	}()
	if err := sp.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	return 0
}

func speakerCommand(ctx context.Context, sp *Speaker, line string) string {
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	var err error
	switch verb {
	case "announce", "withdraw":
		var p netip.Prefix
		if p, err = netip.ParsePrefix(arg); err != nil {
			break
		}
		if verb == "announce" {
			err = sp.Announce(Route{Prefix: p})
		} else {
			err = sp.Withdraw(p)
		}
	case "withdrawall":
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = sp.WithdrawAll(wctx)
		cancel()
	case "status":
		b, jerr := json.Marshal(sp.Status())
		if jerr != nil {
			return "err " + jerr.Error()
		}
		return string(b)
	default:
		err = fmt.Errorf("unknown command %q", verb)
	}
	if err != nil {
		return "err " + err.Error()
	}
	return "ok"
}

// speakerProc is a running child speaker.
type speakerProc struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	log   *nslab.Buffer
	done  chan struct{}

	mu sync.Mutex // one command at a time
}

// startSpeaker runs a speaker with spec in host h.
func startSpeaker(t testing.TB, h *netnstest.Host, name string, spec speakerSpec) *speakerProc {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := &speakerProc{t: t, name: name, lines: make(chan string, 16), log: new(nslab.Buffer), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), speakerEnv+"="+string(b))
	p.cmd.Stderr = p.log
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(p.cmd); err != nil {
		t.Fatalf("start speaker %s: %v", name, err)
	}
	go func() {
		in := bufio.NewScanner(stdout)
		in.Buffer(make([]byte, 64<<10), 1<<20)
		for in.Scan() {
			p.lines <- in.Text()
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("speaker %s logged:\n%s", name, p.log.String())
		}
	})
	return p
}

// do sends one command and returns its answer.
func (p *speakerProc) do(cmd string) string {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintln(p.stdin, cmd); err != nil {
		p.t.Fatalf("speaker %s: send %q: %v", p.name, cmd, err)
	}
	select {
	case l := <-p.lines:
		return l
	case <-p.done:
		p.t.Fatalf("speaker %s exited during %q:\n%s", p.name, cmd, p.log.String())
	case <-time.After(30 * time.Second):
		p.t.Fatalf("speaker %s: no answer to %q", p.name, cmd)
	}
	return ""
}

// must sends a command that must answer ok.
func (p *speakerProc) must(cmd string) {
	p.t.Helper()
	if got := p.do(cmd); got != "ok" {
		p.t.Fatalf("speaker %s: %s: %s", p.name, cmd, got)
	}
}

func (p *speakerProc) status() Status {
	p.t.Helper()
	var st struct {
		Running bool
		Peers   []struct {
			Address netip.Addr
			State   string
			BFD     string
			Sent    int
		}
	}
	line := p.do("status")
	if err := json.Unmarshal([]byte(line), &st); err != nil {
		p.t.Fatalf("speaker %s: status %q: %v", p.name, line, err)
	}
	out := Status{Running: st.Running}
	for _, ps := range st.Peers {
		out.Peers = append(out.Peers, PeerStatus{Address: ps.Address, State: parseSessionState(ps.State), BFD: parseBFDState(ps.BFD), Sent: ps.Sent})
	}
	return out
}

func parseSessionState(s string) SessionState {
	for i, n := range sessionStateNames {
		if n == s {
			return SessionState(i)
		}
	}
	return -1
}

func parseBFDState(s string) BFDState {
	for i, n := range bfdStateNames {
		if n == s {
			return BFDState(i)
		}
	}
	return -1
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *speakerProc) terminate() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("speaker %s still running 30s after SIGTERM", p.name)
	}
	if !p.cmd.ProcessState.Success() {
		p.t.Fatalf("speaker %s: %v after SIGTERM:\n%s", p.name, p.cmd.ProcessState, p.log.String())
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *speakerProc) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}
