package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// A hot backup taken while writes go on holds every write acknowledged
// before it started, and is a valid database.
func TestBackupUnderWrites(t *testing.T) {
	s, _ := openTest(t)
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.CreateOrganisation(Organisation{Name: "Org", ODSCode: fmt.Sprintf("W%05d", i)}); err != nil {
				t.Error(err)
				return
			}
			acked.Store(int64(i + 1))
		}
	}()
	for acked.Load() < 50 {
		runtime.Gosched()
	}
	before := acked.Load()
	var buf bytes.Buffer
	if _, err := s.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(path); err != nil {
		t.Fatalf("backup does not verify: %v", err)
	}
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	orgs, err := b.Organisations()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, o := range orgs {
		have[o.ODSCode] = true
	}
	for i := int64(0); i < before; i++ {
		if code := fmt.Sprintf("W%05d", i); !have[code] {
			t.Fatalf("write %s, acknowledged before the backup, is missing from it", code)
		}
	}
	t.Logf("%d writes acknowledged before the backup, %d in it", before, len(orgs))
}
