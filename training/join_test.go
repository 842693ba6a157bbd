package training

import "testing"

// TestThisComputerOnly: a loopback address is one nobody else in the room
// can open (the join screen: TestJoinScreenOnThisComputerOnly in package
// handlers).
func TestThisComputerOnly(t *testing.T) {
	if !thisComputerOnly("http://127.0.0.1:8420") || !thisComputerOnly("http://localhost:8420") || !thisComputerOnly("http://[::1]:8420") {
		t.Error("a loopback address is not recognised")
	}
	if thisComputerOnly("https://192.0.2.10:8443") {
		t.Error("a network address is said to be this computer's only")
	}
}
