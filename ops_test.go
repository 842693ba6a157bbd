package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"cqrs-signin"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestBackupRestoreCheck(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "cqrs.db")
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	org, _ := st.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	st.Close()

	t.Run("check a good file", func(t *testing.T) {
		out, err := runCmd(t, "check", "--data", data)
		if err != nil || !strings.Contains(out, "is consistent") {
			t.Fatalf("check: %v\n%s", err, out)
		}
	})
	backup := filepath.Join(dir, "backup.db")
	t.Run("backup of a stopped database", func(t *testing.T) {
		if out, err := runCmd(t, "backup", "--data", data, backup); err != nil {
			t.Fatalf("backup: %v\n%s", err, out)
		}
		if _, err := store.Verify(backup); err != nil {
			t.Fatal(err)
		}
		if _, err := runCmd(t, "backup", "--data", data, backup); err == nil {
			t.Fatal("backup overwrote an existing file")
		}
	})
	t.Run("restore refuses a file that is not a database and changes nothing", func(t *testing.T) {
		junk := filepath.Join(dir, "junk.db")
		os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 500), 0o600)
		before, _ := os.ReadFile(data)
		if _, err := runCmd(t, "restore", "--data", data, junk); err == nil {
			t.Fatal("restored a junk file")
		}
		after, _ := os.ReadFile(data)
		if !bytes.Equal(before, after) {
			t.Fatal("the database changed")
		}
	})
	t.Run("restore a backup", func(t *testing.T) {
		st, _ := store.Open(data, store.Options{})
		st.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "After backup", ODSCode: "Z99999"})
		st.Close()
		out, err := runCmd(t, "restore", "--data", data, backup)
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		st, err = store.Open(data, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		orgs, _ := st.Organisations(t.Context())
		if len(orgs) != 1 || orgs[0].ID != org.ID {
			t.Fatalf("after restore: %+v", orgs)
		}
		kept, _ := filepath.Glob(data + ".before-restore-*")
		if len(kept) != 1 {
			t.Fatalf("the replaced database was not kept: %v", kept)
		}
	})
	t.Run("check reports a damaged file", func(t *testing.T) {
		damaged := filepath.Join(dir, "damaged.db")
		b, _ := os.ReadFile(backup)
		for i := 4096 * 2; i < len(b); i++ { // keep the meta pages, wreck the rest
			b[i] = 0xAB
		}
		os.WriteFile(damaged, b, 0o600)
		if out, err := runCmd(t, "check", "--data", damaged); err == nil {
			t.Fatalf("check passed a damaged file:\n%s", out)
		}
	})
}

// TestSetupLinkCommand: on the computer that holds the data, a stopped
// database gives the system administrator a way back in, whether set-up was
// never finished or the password is forgotten.
func TestSetupLinkCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "cqrs.db")
	linkIn := func(out string) string {
		t.Helper()
		m := regexp.MustCompile(`http://127\.0\.0\.1:9000(/register|/reset)\?token=(\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no link at --url in:\n%s", out)
		}
		return m[2]
	}
	if _, err := runCmd(t, "setup-link", "--data", data); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("without a database: %v", err)
	}
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, "setup-link", "--data", data); err == nil || !strings.Contains(err.Error(), "CQRS is running") {
		t.Fatalf("while the database is open: %v", err)
	}
	st.Close()
	if _, err := runCmd(t, "setup-link", "--data", data); err == nil || !strings.Contains(err.Error(), "nobody is set up") {
		t.Fatalf("before set-up: %v", err)
	}
	st, _ = store.Open(data, store.Options{})
	st.SetSetupToken(t.Context(), secret.HashToken("setup"))
	if _, err := st.CompleteSetup(t.Context(), secret.HashToken("setup"), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"},
		cqrs.User{UserID: "admin.jones", Email: "admin.jones@nhs.net"}, secret.HashToken("lost-in-the-browser"), time.Hour); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, err := runCmd(t, "setup-link", "--data", data, "--url", "http://127.0.0.1:9000/")
	if err != nil || !strings.Contains(out, "/register?token=") || !strings.Contains(out, "admin.jones") {
		t.Fatalf("set-up not finished: %v\n%s", err, out)
	}
	token := linkIn(out)
	st, _ = store.Open(data, store.Options{})
	if _, u, err := st.LinkUser(t.Context(), secret.HashToken(token), cqrs.LinkRegister); err != nil || u.UserID != "admin.jones" {
		t.Fatalf("the printed link: %v, %s", err, u.UserID)
	}
	if _, err := st.SetPasswordWithLink(t.Context(), secret.HashToken(token), cqrs.LinkRegister, "hash", nil); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, err = runCmd(t, "setup-link", "--data", data, "--url", "http://127.0.0.1:9000")
	if err != nil || !strings.Contains(out, "/reset?token=") {
		t.Fatalf("password forgotten: %v\n%s", err, out)
	}
	st, _ = store.Open(data, store.Options{})
	defer st.Close()
	if _, u, err := st.LinkUser(t.Context(), secret.HashToken(linkIn(out)), cqrs.LinkReset); err != nil || u.UserID != "admin.jones" {
		t.Fatalf("the printed reset link: %v, %s", err, u.UserID)
	}
	if _, err := runCmd(t, "setup-link", "--data", data, "--url", "ftp://x"); err == nil {
		t.Fatal("a non-web --url was taken")
	}
}

// TestSetupLinkCommandOnPostgres: with --database the command works while
// instances run (PostgreSQL is shared), the same way.
func TestSetupLinkCommandOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	pg, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, err := runCmd(t, "setup-link", "--database", dsn); err == nil || !strings.Contains(err.Error(), "nobody is set up") {
		t.Fatalf("before set-up: %v", err)
	}
	pg.SetSetupToken(t.Context(), secret.HashToken("setup"))
	if _, err := pg.CompleteSetup(t.Context(), secret.HashToken("setup"), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"},
		cqrs.User{UserID: "admin.jones", Email: "admin.jones@nhs.net"}, secret.HashToken("lost"), time.Hour); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "setup-link", "--database", dsn, "--url", "https://cqrs.example.nhs.uk")
	m := regexp.MustCompile(`https://cqrs\.example\.nhs\.uk/register\?token=(\S+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("setup-link --database: %v\n%s", err, out)
	}
	if _, u, err := pg.LinkUser(t.Context(), secret.HashToken(m[1]), cqrs.LinkRegister); err != nil || u.UserID != "admin.jones" {
		t.Fatalf("the printed link: %v, %s", err, u.UserID)
	}
}
