package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

// TestSecondFactorFlag: --second-factor (CQRS_SECOND_FACTOR) is off unless
// set, takes the three settings only, and its key file sits beside the
// database unless --second-factor-key names another.
func TestSecondFactorFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		want    cqrs.SecondFactorPolicy
		wantErr string
	}{
		{"default", nil, "", cqrs.SecondFactorOff, ""},
		{"flag", []string{"--second-factor", "administrators"}, "", cqrs.SecondFactorAdministrators, ""},
		{"environment", nil, "everyone", cqrs.SecondFactorEveryone, ""},
		{"flag wins", []string{"--second-factor", "off"}, "everyone", cqrs.SecondFactorOff, ""},
		{"unknown", []string{"--second-factor", "admins"}, "", "", `--second-factor: "admins" is not a second-factor setting: use off, administrators or everyone`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "CQRS_SECOND_FACTOR" {
					return tc.env
				}
				return ""
			}
			o, err := parseFlags(append([]string{"cqrs-signin", "--data", "/srv/cqrs/cqrs.db"}, tc.args...), getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.secondFactor != tc.want || o.secondFactorKey != "/srv/cqrs/second-factor.key" {
				t.Errorf("setting %q, key %q", o.secondFactor, o.secondFactorKey)
			}
		})
	}
}

// TestSecondFactorKeyFile: the key is made once, readable by its owner
// only, and read back the same; a file that is not a key is refused.
func TestSecondFactorKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "second-factor.key")
	first, err := secondFactorKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	again, err := secondFactorKey(path)
	if err != nil || !bytes.Equal(first, again) || len(first) != 32 {
		t.Fatalf("read again: %x, %v; made %x", again, err, first)
	}
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secondFactorKey(path); err == nil || !strings.Contains(err.Error(), "not a key this program made") {
		t.Errorf("a file that is not a key: %v", err)
	}
}

// TestResetSecondFactorCommand: on the computer that holds the data, the
// command forgets a person's second factor (a system administrator who
// lost their phone and their recovery codes), emails them and records it;
// on the file only while CQRS is stopped, on PostgreSQL at any time.
func TestResetSecondFactorCommand(t *testing.T) {
	for _, engine := range []string{"bbolt", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var (
				db   storetest.Engine
				args []string
			)
			if engine == "postgres" {
				dsn := storetest.PostgresDSN(t)
				pg, err := postgres.Open(context.Background(), dsn, postgres.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer pg.Close()
				db, args = pg, []string{"--database", dsn}
			} else {
				data := filepath.Join(t.TempDir(), "cqrs.db")
				if _, err := runCmd(t, "reset-second-factor", "--data", data, "admin.jones"); err == nil || !strings.Contains(err.Error(), "no database") {
					t.Fatalf("without a database: %v", err)
				}
				st, err := store.Open(data, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer func() { st.Close() }()
				db, args = st, []string{"--data", data}
				if _, err := runCmd(t, append([]string{"reset-second-factor"}, append(args, "admin.jones")...)...); err == nil || !strings.Contains(err.Error(), "CQRS is running") {
					t.Fatalf("while the database is open: %v", err)
				}
			}
			ctx := t.Context()
			db.SetSetupToken(ctx, secret.HashToken("setup"))
			admin, err := db.CompleteSetup(ctx, secret.HashToken("setup"), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"},
				cqrs.User{UserID: "admin.jones", FirstName: "Alex", LastName: "Jones", Email: "admin.jones@nhs.net"}, secret.HashToken("register"), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.SetPasswordWithLink(ctx, secret.HashToken("register"), cqrs.LinkRegister, "hash", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := db.LegacySignIn(ctx, cqrs.SignInAttempt{UserID: "admin.jones", CheckedHash: "hash", PasswordOK: true,
				SessionHash: secret.HashToken("pending"), SecondFactor: cqrs.SecondFactorAdministrators}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.OfferSecondFactor(ctx, secret.HashToken("pending"), []byte("sealed")); err != nil {
				t.Fatal(err)
			}
			if res, err := db.SecondFactorSignIn(ctx, cqrs.SecondFactorAttempt{PendingHash: secret.HashToken("pending"), Kind: cqrs.SecondFactorEnrol,
				CheckedSealed: []byte("sealed"), Step: 7, SessionHash: secret.HashToken("session")}); err != nil || !res.SignedIn {
				t.Fatalf("enrol: %+v, %v", res, err)
			}
			if engine == "bbolt" {
				db.Close()
			}
			if _, err := runCmd(t, append([]string{"reset-second-factor"}, append(args, "nobody")...)...); err == nil || !strings.Contains(err.Error(), `there is no user "nobody"`) {
				t.Fatalf("an unknown User ID: %v", err)
			}
			out, err := runCmd(t, append([]string{"reset-second-factor"}, append(args, "admin.jones")...)...)
			if err != nil || !strings.Contains(out, "The second step of admin.jones is reset") {
				t.Fatalf("reset: %v\n%s", err, out)
			}
			if engine == "bbolt" {
				st, err := store.Open(args[1], store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				db = st
			}
			if st, err := db.SecondFactorStatus(ctx, admin.ID); err != nil || !st.Enrolled.IsZero() {
				t.Errorf("after the command: %+v, %v; want not enrolled", st, err)
			}
			emails, _ := db.Emails(ctx, cqrs.EmailFilter{UserID: admin.ID})
			if len(emails) == 0 || emails[0].Kind != "second-factor-reset" || !strings.Contains(emails[0].HTML, "Alex Jones") {
				t.Errorf("the owner's email: %+v", emails)
			}
			if events, n, _ := db.AuditEvents(ctx, cqrs.AuditFilter{Type: cqrs.AuditSecondFactorReset}); n != 1 || events[0].Method != "command" {
				t.Errorf("audit: %+v", events)
			}
		})
	}
}
