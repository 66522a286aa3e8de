//go:build !unix

package broker

import (
	"net"
	"syscall"
)

// rawSocket returns nil: elsewhere than on Unix every packet goes through
// the write goroutine.
func rawSocket(net.Conn) syscall.RawConn { return nil }

// writeSocket is never called where rawSocket returns nil.
func writeSocket(uintptr, []byte) (int, error) { return 0, syscall.EINVAL }
