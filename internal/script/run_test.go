package script_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/internal/script"
	"github.com/lvskit/lvskit/internal/script/scripttest"
)

func TestRunEnds(t *testing.T) {
	dir := t.TempDir()
	code := scripttest.Write(t, dir, "code.sh", `exit "$1"`)
	args := scripttest.Write(t, dir, "args.sh", `printf '%s|' "$@"`)
	killed := scripttest.Write(t, dir, "killed.sh", `kill -USR1 $$`)
	chatty := scripttest.Write(t, dir, "chatty.sh", `head -c 200000 /dev/zero; echo done >&2`)
	tests := []struct {
		name     string
		cmd      script.Cmd
		want     script.Result
		wantErr  string
		wantSize int // of Output, when not checked by want
	}{
		{"exit 0", script.Cmd{Argv: []string{code, "0"}}, script.Result{Exited: true}, "", 0},
		{"exit 3", script.Cmd{Argv: []string{code, "3"}}, script.Result{Exited: true, Status: 3}, "exit status 3", 0},
		{"no shell: words and metacharacters are arguments", script.Cmd{Argv: []string{args, "two words", "$HOME;", "*"}, Output: true},
			script.Result{Exited: true, Output: []byte("two words|$HOME;|*|")}, "", 0},
		{"killed by a signal", script.Cmd{Argv: []string{killed}}, script.Result{Signal: syscall.SIGUSR1}, "killed by signal user defined signal 1", 0},
		{"missing program", script.Cmd{Argv: []string{filepath.Join(dir, "missing")}}, script.Result{}, "start:", 0},
		{"no program", script.Cmd{}, script.Result{}, "no program", 0},
		{"output kept up to MaxOutput", script.Cmd{Argv: []string{chatty}, Output: true}, script.Result{Exited: true}, "", script.MaxOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := script.Run(t.Context(), tt.cmd)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Run: error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantSize != 0 {
				if len(res.Output) != tt.wantSize {
					t.Errorf("kept %d bytes of output, want %d", len(res.Output), tt.wantSize)
				}
				res.Output = nil
			}
			if fmt.Sprint(res) != fmt.Sprint(tt.want) {
				t.Errorf("Run = %+v, want %+v", res, tt.want)
			}
		})
	}
}

// A run that reaches its timeout on the injected clock ends with its
// whole process group: a child that ignores SIGTERM and would outlive its
// parent is killed too; a parent that ignores SIGTERM gets SIGKILL after
// the grace time, on the same clock.
func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	for _, parentIgnoresTerm := range []bool{false, true} {
		t.Run(fmt.Sprintf("parent ignores SIGTERM %v", parentIgnoresTerm), func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			trap := ""
			if parentIgnoresTerm {
				trap = "trap '' TERM"
			}
			prog := scripttest.Write(t, dir, "spawn.sh", fmt.Sprintf(`%s
sh -c 'trap "" TERM; echo $$ > %s; exec sleep 1000' &
while :; do sleep 1; done`, trap, pidFile))
			clk := clocktest.New(time.Unix(1000, 0))
			type result struct {
				res script.Result
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := script.Run(t.Context(), script.Cmd{Argv: []string{prog}, Timeout: 10 * time.Second, Clock: clk})
				done <- result{res, err}
			}()
			child := scripttest.ReadPID(t, pidFile)
			t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
			clk.BlockUntil(1) // the timeout
			clk.Advance(10*time.Second - time.Nanosecond)
			select {
			case r := <-done:
				t.Fatalf("Run ended before its timeout: %+v, %v", r.res, r.err)
			default:
			}
			clk.Advance(time.Nanosecond)
			if parentIgnoresTerm {
				clk.BlockUntil(1) // the grace time
				if !scripttest.Alive(child) {
					t.Fatal("the child died before the grace time was over")
				}
				clk.Advance(script.DefaultKillGrace)
			}
			r := <-done
			if !r.res.TimedOut || !errors.Is(r.err, script.ErrTimeout) {
				t.Fatalf("Run = %+v, %v; want timed out", r.res, r.err)
			}
			scripttest.WaitGone(t, child)
		})
	}
}

// Ending the caller's context ends the run the same way.
func TestRunContextEnds(t *testing.T) {
	dir := t.TempDir()
	prog := scripttest.Write(t, dir, "sleep.sh", "exec sleep 1000")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := script.Run(ctx, script.Cmd{Argv: []string{prog}})
	if !res.Stopped || res.TimedOut || err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("Run = %+v, %v; want stopped", res, err)
	}
}

// A script given a user and group runs as them, with that group alone.
func TestRunAsUserAndGroup(t *testing.T) {
	id := scripttest.Root(t).NobodyNogroup
	dir := scripttest.PublicDir(t)
	prog := scripttest.Write(t, dir, "id.sh", `echo "$(id -u) $(id -g) $(id -G)"`)
	res, err := script.Run(t.Context(), script.Cmd{Argv: []string{prog}, Credential: id.Credential(), Output: true})
	if err != nil {
		t.Fatalf("Run: %v (%s)", err, res.Output)
	}
	want := fmt.Sprintf("%d %d %d\n", id.UID, id.GID, id.GID)
	if string(res.Output) != want {
		t.Errorf("the script says it is %q, want %q", res.Output, want)
	}
}
