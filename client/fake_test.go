package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeConn is the server side of one connection in a scripted test.
type fakeConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
	v  packet.Version
}

const fakeTimeout = 5 * time.Second

// read returns the next packet from the client, or nil after reporting an error.
func (f *fakeConn) read() packet.Packet {
	f.t.Helper()
	f.c.SetReadDeadline(time.Now().Add(fakeTimeout))
	p, err := packet.Read(f.br, f.v, 0)
	if err != nil {
		f.t.Errorf("fake server: read: %v", err)
		return nil
	}
	if c, ok := p.(*packet.Connect); ok {
		f.v = c.Version
	}
	return p
}

// readWithin returns the next packet or nil if none arrives within d,
// without reporting an error.
func (f *fakeConn) readWithin(d time.Duration) (packet.Packet, error) {
	f.c.SetReadDeadline(time.Now().Add(d))
	return packet.Read(f.br, f.v, 0)
}

// readRaw returns the next packet from the client as it was on the wire,
// or nil after reporting an error.
func (f *fakeConn) readRaw() []byte {
	f.t.Helper()
	f.c.SetReadDeadline(time.Now().Add(fakeTimeout))
	b := make([]byte, 1, 16)
	if _, err := io.ReadFull(f.br, b); err != nil {
		f.t.Errorf("fake server: read: %v", err)
		return nil
	}
	remaining, mul := 0, 1
	for i := 0; ; i++ {
		x, err := f.br.ReadByte()
		if err != nil || i == 4 {
			f.t.Errorf("fake server: read remaining length after % x: %v", b, err)
			return nil
		}
		b = append(b, x)
		remaining += int(x&0x7F) * mul
		mul <<= 7
		if x&0x80 == 0 {
			break
		}
	}
	body := make([]byte, remaining)
	if _, err := io.ReadFull(f.br, body); err != nil {
		f.t.Errorf("fake server: read body of % x: %v", b, err)
		return nil
	}
	return append(b, body...)
}

// expectBytes reads the next packet from the client and checks that it is
// want, byte for byte.
func (f *fakeConn) expectBytes(want []byte) {
	f.t.Helper()
	if got := f.readRaw(); !bytes.Equal(got, want) {
		f.t.Errorf("client sent % x, want % x", got, want)
	}
}

// closedByClient reports whether the client closes the connection within
// fakeTimeout without sending anything more.
func (f *fakeConn) closedByClient() bool {
	f.t.Helper()
	p, err := f.readWithin(fakeTimeout)
	if err == nil {
		f.t.Errorf("fake server: got %s, want the client to close", p.Type())
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func (f *fakeConn) write(p packet.Packet) {
	f.t.Helper()
	if err := packet.Write(f.c, p, f.v); err != nil {
		f.t.Errorf("fake server: write %s: %v", p.Type(), err)
	}
}

// expect reads the next packet and checks its type.
func expect[T packet.Packet](f *fakeConn) T {
	f.t.Helper()
	var zero T
	p := f.read()
	if p == nil {
		return zero
	}
	got, ok := p.(T)
	if !ok {
		f.t.Errorf("fake server: got %s, want %T", p.Type(), zero)
		return zero
	}
	return got
}

// accept reads CONNECT and answers with CONNACK ca (nil: success).
func (f *fakeConn) accept(ca *packet.Connack) *packet.Connect {
	f.t.Helper()
	c := expect[*packet.Connect](f)
	if c == nil {
		return nil
	}
	if ca == nil {
		ca = &packet.Connack{}
	}
	f.write(ca)
	return c
}

// fakeServer runs script on each accepted connection.
type fakeServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	url  string
	done chan struct{}
}

// startFake listens on 127.0.0.1 and runs script for every connection; the
// listener is closed and the scripts waited for at cleanup.
func startFake(t *testing.T, script func(f *fakeConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFake(t, ln, "mqtt://"+ln.Addr().String(), script)
}

func serveFake(t *testing.T, ln net.Listener, url string, script func(f *fakeConn)) *fakeServer {
	s := &fakeServer{ln: ln, url: url, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				script(&fakeConn{t: t, c: c, br: bufio.NewReader(c), v: packet.V311})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// dial connects to s with opts (URL filled in) and closes the client at cleanup.
func dial(t *testing.T, s *fakeServer, opts Options) *Client {
	t.Helper()
	if opts.URL == "" {
		opts.URL = s.url
	}
	ctx, cancel := context.WithTimeout(context.Background(), fakeTimeout)
	defer cancel()
	c, err := Dial(ctx, opts)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", opts.URL, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitDone waits for c's connection to end.
func waitDone(t *testing.T, c *Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(fakeTimeout):
		t.Fatal("Done not closed within 5s")
	}
}

// isTimeout reports whether err is a read deadline expiring.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
