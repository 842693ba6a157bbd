//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package handlers

import "syscall"

const canAskSocket = true

// clientClosed peeks at the socket without waiting and without taking
// anything from it, so fasthttp still reads every byte the client sent
// (a pipelined request too): an end of stream or a reset means the client
// has gone, as net/http's background read would report.
func clientClosed(raw syscall.RawConn) bool {
	var closed bool
	var buf [1]byte
	err := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || err == syscall.ECONNRESET
		return true // never wait for the socket to become readable
	})
	return closed || err != nil
}
