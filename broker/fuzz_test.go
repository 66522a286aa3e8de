package broker

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// pipeListener is a net.Listener whose connections are in-memory pipes.
type pipeListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial() (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case l.ch <- b:
		return a, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// FuzzServerInput feeds arbitrary bytes to the server after a valid
// CONNECT at each protocol level. The server must not panic or hang.
func FuzzServerInput(f *testing.F) {
	seeds := [][]byte{
		{0x30, 0x05, 0, 1, 'a', 'h', 'i'},
		{0x82, 0x06, 0, 1, 0, 1, '#', 1},
		{0x62, 0x02, 0, 1},
		{0xC0, 0x00},
		{0xE0, 0x00},
		{0x10, 0xFF, 0xFF, 0xFF, 0x7F},
		{0x34, 0x07, 0, 1, 'a', 0, 5, 0, 'x'},
	}
	for _, s := range seeds {
		for v := byte(3); v <= 5; v++ {
			f.Add(v, s)
		}
	}
	ln := newPipeListener()
	srv := New(Options{SysInterval: -1, ConnectTimeout: time.Second, MaxPacketSize: 1 << 16})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	f.Cleanup(func() {
		cancel()
		<-done
	})
	f.Fuzz(func(t *testing.T, level byte, data []byte) {
		v := packet.Version(3 + level%3)
		nc, err := ln.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		// Read everything the server sends so its writes never block.
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, nc)
			close(drained)
		}()
		if err := packet.Write(nc, &packet.Connect{Version: v, ClientID: "fuzz", CleanStart: true}, v); err != nil {
			t.Fatal(err)
		}
		nc.Write(data)
		nc.Write([]byte{0xE0, 0x00}) // DISCONNECT, if the stream is still in sync
		nc.Close()
		<-drained
	})
}
