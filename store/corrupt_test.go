package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// a database with enough records to span many pages.
func filledDatabase(t *testing.T, users int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cqrs.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	org, err := s.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside", ODSCode: "Y1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		u := cqrs.User{UserID: fmt.Sprintf("user%05d", i), FirstName: "Sam", LastName: strings.Repeat("x", 40), Email: fmt.Sprintf("user%05d@nhs.net", i), OrgID: org.ID}
		if _, err := s.CreateUser(t.Context(), u, hashOf(byte(i)), time.Hour, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenRefusesADamagedFileAndLeavesItAlone(t *testing.T) {
	good, err := os.ReadFile(filledDatabase(t, 300))
	if err != nil {
		t.Fatal(err)
	}
	if len(good) < 64*1024 {
		t.Fatalf("test database is only %d bytes", len(good))
	}
	// Cut inside the pages in use: bbolt grows files past their high-water
	// mark, and losing only that unused tail is no damage.
	meta, err := parseMeta(good[:4096])
	if err != nil {
		t.Fatal(err)
	}
	inUse := int(meta.pgid) * int(meta.pageSize)
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"zeroed", make([]byte, len(good))},
		{"one zero byte", []byte{0}},
		{"text", []byte("this is a spreadsheet, not a database\n")},
		{"truncated to one page", good[:4096]},
		{"truncated to half", good[:len(good)/2]},
		{"cut mid-page", good[:inUse-4096-100]},
		{"both meta pages zeroed", append(make([]byte, 8192), good[8192:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cqrs.db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("opened a damaged file")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
			for _, want := range []string{path, "backup", "has not been changed"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, tc.content) {
				t.Errorf("the file changed: %d bytes before, %d after", len(tc.content), len(after))
			}
			if left, _ := filepath.Glob(path + ".new-*"); len(left) > 0 {
				t.Errorf("left behind %v", left)
			}
		})
	}
}

func TestOpenRecoversFromOneDamagedMetaPage(t *testing.T) {
	path := filledDatabase(t, 50)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt keeps two meta pages and falls back to the older one; so must we.
	for i := 16; i < 80; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open with one good meta page: %v", err)
	}
	defer s.Close()
	if err := s.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesAMissingFileWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cqrs.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Size() == 0 {
		t.Fatalf("new file: %v, %v", info, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the database", len(entries))
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()
}
