//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package handlers

import "syscall"

// canAskSocket is false where clientClosed has no way to peek: a request
// there ends at its deadline or at shutdown, not when its client leaves.
const canAskSocket = false

func clientClosed(syscall.RawConn) bool { return false }
