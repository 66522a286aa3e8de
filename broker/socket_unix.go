//go:build unix

package broker

import (
	"net"
	"syscall"
)

// rawSocket returns the socket under nc for pushNow's writes, when nc is
// a TCP or unix socket itself (not a wrapper, whose Write must be used).
func rawSocket(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch nc := nc.(type) {
	case *net.TCPConn:
		sc = nc
	case *net.UnixConn:
		sc = nc
	default:
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// writeSocket writes b to the socket fd without blocking (the socket is in
// non-blocking mode, as Go keeps them); tests replace it.
var writeSocket = func(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }
