package commands

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mqtool/mqtool/broker"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mqtool": func() {
			// As main.go does.
			ctx, _ := NotifyContext(context.Background())
			os.Exit(Main(ctx, os.Args, format.System()))
		},
	})
}

// TestScripts runs testdata/script/*.txtar, each against its own
// in-process broker on 127.0.0.1 whose port is $PORT.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			b := &scriptBroker{}
			if err := b.start(""); err != nil {
				return err
			}
			env.Setenv("PORT", b.port)
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/.config")
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("NO_COLOR", "")
			env.Values[brokerKey{}] = b
			env.Defer(b.stop)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"broker":  cmdBroker,
			"waitlog": cmdWaitLog,
			"status":  cmdStatus,
			"expand":  cmdExpand,
			"hexfile": cmdHexFile,
		},
	})
}

type brokerKey struct{}

// scriptAuth lets anonymous clients in; user alice needs password
// "s3cret", user banned is not authorised, other users have a bad
// password. Subscriptions to denied/# are refused.
type scriptAuth struct{}

func (scriptAuth) Authenticate(_ context.Context, c *packet.Connect) packet.ReasonCode {
	switch {
	case !c.UsernameFlag:
		return packet.Success
	case c.Username == "banned":
		return packet.NotAuthorized
	case c.Username == "alice" && c.PasswordFlag && string(c.Password) == "s3cret":
		return packet.Success
	}
	return packet.BadUserNameOrPassword
}

func (scriptAuth) Authorize(_ context.Context, _ broker.Client, a broker.Access, topic string) bool {
	return a != broker.AccessSubscribe || !strings.HasPrefix(topic, "denied/")
}

// scriptBroker is the broker of one script, which the script may stop and
// start again on the same port.
type scriptBroker struct {
	port   string
	mu     sync.Mutex
	log    []string
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *scriptBroker) start(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("broker listen: %w", err)
	}
	_, b.port, _ = net.SplitHostPort(ln.Addr().String())
	srv := broker.New(broker.Options{
		Auth:     scriptAuth{},
		LogLevel: broker.LogInfo,
		Log: func(_ broker.LogLevel, msg string) {
			b.mu.Lock()
			b.log = append(b.log, msg)
			b.mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		_ = srv.Serve(ctx, ln)
	}()
	return nil
}

func (b *scriptBroker) stop() {
	if b.cancel != nil {
		b.cancel()
		<-b.done
		b.cancel = nil
	}
}

// cmdBroker is "broker stop" and "broker start" (again on $PORT).
func cmdBroker(ts *testscript.TestScript, neg bool, args []string) {
	b := ts.Value(brokerKey{}).(*scriptBroker)
	if len(args) != 1 || neg {
		ts.Fatalf("usage: broker stop|start")
	}
	switch args[0] {
	case "stop":
		b.stop()
	case "start":
		ts.Check(b.start("127.0.0.1:" + b.port))
	default:
		ts.Fatalf("usage: broker stop|start")
	}
}

// cmdWaitLog is "waitlog [-n N] REGEXP": wait up to 10s until N (default
// 1) lines of the broker's log match REGEXP.
func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	n := 1
	if len(args) == 3 && args[0] == "-n" {
		var err error
		n, err = strconv.Atoi(args[1])
		ts.Check(err)
		args = args[2:]
	}
	if len(args) != 1 || neg {
		ts.Fatalf("usage: waitlog [-n N] REGEXP")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	b := ts.Value(brokerKey{}).(*scriptBroker)
	ts.Check(b.awaitLog(re, n))
}

// awaitLog waits up to 10s until n lines of the broker's log match re.
func (b *scriptBroker) awaitLog(re *regexp.Regexp, n int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := 0
		for _, l := range b.log {
			if re.MatchString(l) {
				got++
			}
		}
		logText := strings.Join(b.log, "\n")
		b.mu.Unlock()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker log has %d lines matching %q, want %d; log:\n%s", got, re, n, logText)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdStatus is "status N program args...": run the program like exec and
// check that it exits with code N.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: status N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with code %d, want %d", args[1], got, want)
	}
}

// cmdExpand is "expand SRC DST": copy SRC to DST replacing $VAR with the
// script's environment.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: expand SRC DST")
	}
	text := os.Expand(ts.ReadFile(args[0]), ts.Getenv)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(text), 0o600))
}

// cmdHexFile is "hexfile FILE HEX": write the bytes HEX encodes to FILE.
func cmdHexFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: hexfile FILE HEX")
	}
	b, err := hex.DecodeString(args[1])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
}
