package vpcd

import (
	"net"
	"syscall"
)

// quickAck turns on TCP_QUICKACK for the next reads. vpcd writes a frame's length and its body
// with two send calls on a socket without TCP_NODELAY, so Nagle's algorithm holds the body back
// until the length is acknowledged; with delayed ACKs on our side that costs 40 ms per APDU.
// Linux clears the flag after it is used, so it is set again before every frame.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
