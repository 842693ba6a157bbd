package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestNetworkAddressNeedsHTTPSOrConsent(t *testing.T) {
	out, err := runCmd(t, "--no-browser", "--addr", "0.0.0.0:0", "--data", filepath.Join(t.TempDir(), "cqrs.db"))
	if err == nil || !strings.Contains(err.Error(), "needs HTTPS") {
		t.Fatalf("plain HTTP on all interfaces started: %v\n%s", err, out)
	}
}
