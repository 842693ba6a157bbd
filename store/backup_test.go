package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
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
			if _, err := s.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Org", ODSCode: fmt.Sprintf("W%05d", i)}); err != nil {
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
	if _, err := s.Backup(t.Context(), &buf); err != nil {
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
	orgs, err := b.Organisations(t.Context())
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

// A backup is carried off the computer, so it holds no working link: the
// token of every email still carrying one (in the local mailbox, or not
// yet sent) is cut out, in the hot backup and in the offline one, and not
// a byte of it is left anywhere in the file.
func TestBackupHoldsNoWorkingLink(t *testing.T) {
	s, clk := openTest(t)
	org, err := s.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for i, userID := range []string{"jo.bloggs", "sam.patel"} {
		token := fmt.Sprintf("LiveLinkToken%dAbCdEfGhIjKlMnOpQrStUvWxYz", i)
		tokens = append(tokens, token)
		link := "http://127.0.0.1:8420/register?token=" + token
		e := &cqrs.Email{Kind: "registration", To: userID + "@nhs.net", Subject: "Complete your CQRS registration",
			Text: "Complete your CQRS registration:\n" + link + "\n", HTML: `<p><a href="` + link + `">` + link + `</a></p>`, Secret: token}
		u, err := s.CreateUser(t.Context(), cqrs.User{UserID: userID, FirstName: "Jo", LastName: "Bloggs", Email: userID + "@nhs.net", OrgID: org.ID, Role: cqrs.RoleUser},
			hashOf(byte(i+1)), time.Hour, e)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 { // delivered to the local mailbox; the other waits in the outbox
			emails, _ := s.Emails(t.Context(), cqrs.EmailFilter{UserID: u.ID})
			if err := s.MarkEmailDelivered(t.Context(), emails[0].ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	var hot bytes.Buffer
	if _, err := s.Backup(t.Context(), &hot); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hotPath := filepath.Join(dir, "hot.db")
	if err := os.WriteFile(hotPath, hot.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The offline backup, from a closed copy of the live file.
	live, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	closedPath := filepath.Join(dir, "closed.db")
	if err := os.WriteFile(closedPath, live, 0o600); err != nil {
		t.Fatal(err)
	}
	var offline bytes.Buffer
	if _, err := BackupFile(closedPath, &offline); err != nil {
		t.Fatal(err)
	}
	offlinePath := filepath.Join(dir, "offline.db")
	if err := os.WriteFile(offlinePath, offline.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{hotPath, offlinePath} {
		raw, _ := os.ReadFile(path)
		for _, token := range tokens {
			if bytes.Contains(raw, []byte(token)) {
				t.Errorf("%s holds the link token %s", filepath.Base(path), token)
			}
		}
		if _, err := Verify(path); err != nil {
			t.Fatalf("%s does not verify: %v", filepath.Base(path), err)
		}
		b, err := Open(path, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		emails, err := b.Emails(t.Context(), cqrs.EmailFilter{})
		if err != nil || len(emails) != 2 {
			t.Fatalf("%s: %d emails (%v), want 2", filepath.Base(path), len(emails), err)
		}
		for _, e := range emails {
			if !strings.Contains(e.Text, linkRemoved) || !strings.Contains(e.HTML, linkRemoved) || e.Secret != "" {
				t.Errorf("%s: email to %s keeps its link: %q", filepath.Base(path), e.To, e.Text)
			}
		}
		// Everything else is there: the links' hashes (the people who got
		// the emails can still use them), the users, the outbox sequence.
		if _, u, err := b.LinkUser(t.Context(), hashOf(1), cqrs.LinkRegister); err != nil || u.UserID != "jo.bloggs" {
			t.Errorf("%s: the registration link record is missing: %v", filepath.Base(path), err)
		}
		b.Close()
	}
	// The live database keeps its links: only the copy is changed.
	if raw, _ := os.ReadFile(s.Path()); !bytes.Contains(raw, []byte(tokens[0])) {
		t.Error("the live database lost its email's link")
	}
}
