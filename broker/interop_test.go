package broker

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/internal/mosquittotest"
	"github.com/mqtool/mqtool/packet"
)

type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan error
}

// start runs a mosquitto client with -h/-p for addr and the protocol version.
func start(t *testing.T, tool, addr, v string, args ...string) *proc {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	all := append([]string{"-h", host, "-p", port, "-V", v}, args...)
	p := &proc{cmd: exec.CommandContext(ctx, mosquittotest.Tool(t, tool), all...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); cancel() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for p to exit and returns its stdout.
func (p *proc) wait(t *testing.T) string {
	t.Helper()
	if err := <-p.done; err != nil {
		t.Fatalf("%v: %v; stderr: %s", p.cmd.Args, err, p.stderr.String())
	}
	p.done <- nil
	return p.stdout.String()
}

func run(t *testing.T, tool, addr, v string, args ...string) string {
	t.Helper()
	return start(t, tool, addr, v, args...).wait(t)
}

func subscribed(t *testing.T, s *Server, id string) {
	t.Helper()
	waitFor(t, id+" subscribed", func() bool {
		s.mu.Lock()
		ss := s.sessions[id]
		s.mu.Unlock()
		if ss == nil {
			return false
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return len(ss.subs) > 0 && ss.conn != nil
	})
}

func TestMosquittoInterop(t *testing.T) {
	mosquittotest.Tool(t, "mosquitto_pub")
	mosquittotest.Tool(t, "mosquitto_sub")
	addr, s := startServer(t, Options{})
	for _, v := range []string{"mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			for qos := 0; qos <= 2; qos++ {
				t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
					topic := fmt.Sprintf("interop/%s/%d", v, qos)
					id := fmt.Sprintf("isub-%s-%d", v, qos)
					sub := start(t, "mosquitto_sub", addr, v, "-i", id, "-t", topic, "-q", fmt.Sprint(qos), "-C", "3", "-v")
					subscribed(t, s, id)
					for i := range 3 {
						run(t, "mosquitto_pub", addr, v, "-t", topic, "-q", fmt.Sprint(qos), "-m", fmt.Sprint("m", i))
					}
					want := fmt.Sprintf("%s m0\n%s m1\n%s m2\n", topic, topic, topic)
					if got := sub.wait(t); got != want {
						t.Errorf("mosquitto_sub -V %s -q %d printed %q, want %q", v, qos, got, want)
					}
				})
			}
			t.Run("retained", func(t *testing.T) {
				topic := "interop/ret/" + v
				run(t, "mosquitto_pub", addr, v, "-t", topic, "-q", "1", "-r", "-m", "kept")
				got := run(t, "mosquitto_sub", addr, v, "-t", topic, "-C", "1", "-F", "%r %t %p")
				if got != "1 "+topic+" kept\n" {
					t.Errorf("retained delivery %q, want %q", got, "1 "+topic+" kept\n")
				}
				run(t, "mosquitto_pub", addr, v, "-t", topic, "-r", "-n")
				// mosquitto_pub may exit before the server has handled its
				// QoS 0 PUBLISH: poll, with a deadline, for the clearing.
				deadline := time.Now().Add(testTimeout)
				for n := s.store.RetainedCount(); n != 0; n = s.store.RetainedCount() {
					if time.Now().After(deadline) {
						t.Errorf("%d retained messages %v after clearing, want 0", n, testTimeout)
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
			t.Run("wildcards", func(t *testing.T) {
				id := "iwild-" + v
				sub := start(t, "mosquitto_sub", addr, v, "-i", id, "-t", "iw/"+v+"/+/c", "-t", "iw/"+v+"/x/#", "-C", "2", "-v")
				subscribed(t, s, id)
				run(t, "mosquitto_pub", addr, v, "-t", "iw/"+v+"/b/c", "-m", "1")
				run(t, "mosquitto_pub", addr, v, "-t", "iw/"+v+"/y", "-m", "no")
				run(t, "mosquitto_pub", addr, v, "-t", "iw/"+v+"/x/y/z", "-m", "2")
				want := "iw/" + v + "/b/c 1\niw/" + v + "/x/y/z 2\n"
				if got := sub.wait(t); got != want {
					t.Errorf("wildcard subscriber printed %q, want %q", got, want)
				}
			})
			t.Run("persistent session", func(t *testing.T) {
				id := "ipersist-" + v
				topic := "interop/persist/" + v
				args := []string{"-c", "-i", id, "-t", topic, "-q", "1"}
				if v == "mqttv5" {
					args = append(args, "-x", "60")
				}
				run(t, "mosquitto_sub", addr, v, append(args, "-E")...)
				run(t, "mosquitto_pub", addr, v, "-t", topic, "-q", "1", "-m", "queued")
				got := run(t, "mosquitto_sub", addr, v, append(args, "-C", "1")...)
				if got != "queued\n" {
					t.Errorf("after reconnect got %q, want the queued message", got)
				}
			})
			t.Run("will", func(t *testing.T) {
				watch := connected(t, addr, packet.V5, "iwill-watch-"+v)
				watch.subscribe(1, sub("interop/will/"+v, 1))
				id := "iwill-" + v
				p := start(t, "mosquitto_sub", addr, v, "-i", id, "-t", "nothing", "--will-topic", "interop/will/"+v,
					"--will-payload", "bye", "--will-qos", "1")
				subscribed(t, s, id)
				p.cmd.Process.Kill()
				got := recvAs[*packet.Publish](watch)
				if string(got.Payload) != "bye" {
					t.Errorf("will payload %q, want bye", got.Payload)
				}
			})
		})
	}
}
