package commands

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitLog waits until n lines of b's log match re.
func (b *scriptBroker) waitLog(t *testing.T, re string, n int) {
	t.Helper()
	if err := b.awaitLog(regexp.MustCompile(re), n); err != nil {
		t.Fatal(err)
	}
}

// TestPubLinesReconnects checks that pub -l connects again when the broker
// goes away and keeps sending the following lines on the new connection.
func TestPubLinesReconnects(t *testing.T) {
	if _, err := exec.LookPath("mqtool"); err != nil {
		t.Fatalf("mqtool is not on PATH (TestMain installs it): %v", err)
	}
	b := &scriptBroker{}
	if err := b.start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	env := append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())

	pub := exec.Command("mqtool", "pub", "-p", b.port, "-i", "linepub", "-t", "l/t", "-l", "-q", "1")
	pub.Env = env
	stdin, err := pub.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var pubErr strings.Builder
	pub.Stderr = &pubErr
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Wait() }()
	b.waitLog(t, `as linepub `, 1)
	// A first subscriber sees "before" arrive, so that it is not sent
	// again after the restart.
	first := exec.Command("mqtool", "sub", "-p", b.port, "-i", "firstsub", "-t", "l/t", "-C", "1", "-W", "20")
	first.Env = env
	var firstOut strings.Builder
	first.Stdout = &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	b.waitLog(t, `firstsub subscribed to l/t`, 1)
	if _, err := stdin.Write([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil || firstOut.String() != "before\n" {
		t.Fatalf("first sub: %v, printed %q, want %q", err, firstOut.String(), "before\n")
	}

	b.stop()
	if err := b.start("127.0.0.1:" + b.port); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, "mqtool", "sub", "-p", b.port, "-i", "linesub", "-t", "l/t", "-C", "2", "-q", "1")
	sub.Env = env
	var subOut strings.Builder
	sub.Stdout = &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	b.waitLog(t, `linesub subscribed to l/t`, 1)
	if _, err := stdin.Write([]byte("after-1\nafter-2\n")); err != nil {
		t.Fatal(err)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("sub: %v (output %q)", err, subOut.String())
	}
	if got, want := subOut.String(), "after-1\nafter-2\n"; got != want {
		t.Errorf("sub printed %q, want %q", got, want)
	}
	stdin.Close()
	select {
	case err := <-pubDone:
		if err != nil {
			t.Errorf("pub -l: %v; stderr %q", err, pubErr.String())
		}
	case <-ctx.Done():
		t.Fatal("pub -l did not exit after stdin closed")
	}
	b.waitLog(t, `as linepub `, 2)
}

// TestPubLinesInterrupt checks that an interrupt ends pub -l while it waits
// for a line, with a DISCONNECT.
func TestPubLinesInterrupt(t *testing.T) {
	b := &scriptBroker{}
	if err := b.start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	pub := exec.Command("mqtool", "pub", "-p", b.port, "-i", "waiting", "-t", "l/t", "-l")
	pub.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	stdin, err := pub.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pub.Wait() }()
	b.waitLog(t, `as waiting `, 1)
	if err := pub.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pub -l after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = pub.Process.Kill()
		t.Fatal("pub -l did not exit within 10s of SIGINT")
	}
	b.waitLog(t, `Client waiting disconnected\.$`, 1)
}

// TestStdinInterrupt checks that an interrupt ends pub -s and --pw-prompt
// while they wait for stdin, with exit code 130.
func TestStdinInterrupt(t *testing.T) {
	for _, args := range [][]string{
		{"pub", "-p", "1", "-t", "a", "-s"},
		{"pub", "-p", "1", "-t", "a", "-m", "x", "-u", "me", "--pw-prompt"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// A signal that arrives before mqtool catches SIGINT kills it;
			// then try again, waiting longer before the signal.
			for delay := 50 * time.Millisecond; delay < 10*time.Second; delay *= 2 {
				cmd := exec.Command("mqtool", args...)
				cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
				stdin, err := cmd.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					t.Fatalf("mqtool %q exited before the signal: %v", args, err)
				case <-time.After(delay):
				}
				_ = cmd.Process.Signal(os.Interrupt)
				var err2 error
				select {
				case err2 = <-done:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatalf("mqtool %q did not exit within 10s of SIGINT", args)
				}
				stdin.Close()
				var ee *exec.ExitError
				if errors.As(err2, &ee) && ee.ExitCode() == -1 {
					continue // killed by the signal: too early
				}
				if !errors.As(err2, &ee) || ee.ExitCode() != 130 {
					t.Errorf("mqtool %q after SIGINT: %v, want exit status 130", args, err2)
				}
				return
			}
			t.Fatalf("mqtool %q never caught SIGINT", args)
		})
	}
}

// TestPubLinesRefusedReconnect checks that pub -l ends with the refusal's
// exit code when the broker refuses it on reconnection, without waiting
// for another line.
func TestPubLinesRefusedReconnect(t *testing.T) {
	b := startSessionBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := exec.CommandContext(ctx, "mqtool", "pub", "-p", b.port(), "-i", "refpub", "-t", "l/r", "-l")
	pub.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	stdin, err := pub.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var errOut strings.Builder
	pub.Stderr = &errOut
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	b.waitLog(t, ` as refpub `, 1)
	b.refuse.Store(true)
	b.stop()
	b.serve(t)
	err = pub.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Fatalf("pub -l exited with %v, want exit code 5 (not authorised); stderr %q", err, errOut.String())
	}
	if got, want := errOut.String(), "Connection error: Connection Refused: not authorised.\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}
