package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/store"
)

// A backup is taken while the app runs; a restore is refused until it stops.
func TestBackupWhileRunning(t *testing.T) {
	data := filepath.Join(t.TempDir(), "cqrs.db")
	runApp(t, []string{"--no-browser", "--addr", "127.0.0.1:0", "--data", data}, 10*time.Second,
		func(out string) bool { return strings.Contains(out, "CQRS is running at") })
	backup := filepath.Join(t.TempDir(), "hot.db")
	bin := appBinary(t)
	if r := runBinary(t, time.Minute, bin, "backup", "--data", data, backup); r.code != 0 {
		t.Fatalf("hot backup: exit %d\n%s", r.code, r.stdout+r.stderr)
	}
	if _, err := store.Verify(backup); err != nil {
		t.Fatalf("hot backup does not verify: %v", err)
	}
	if r := runBinary(t, time.Minute, bin, "restore", "--data", data, backup); r.code == 0 || !strings.Contains(r.stderr, "stop it") {
		t.Fatalf("restore while running: exit %d\n%s", r.code, r.stdout+r.stderr)
	}
}
