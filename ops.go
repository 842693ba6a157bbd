package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/handlers"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
)

// The operating subcommands: backup, restore, check and setup-link, each
// taking --data like the server.

type subcommand struct {
	name, args, summary string
	run                 func(ctx context.Context, data string, rest []string, stdout io.Writer) error
	// withDatabase, when set, runs the subcommand on either engine (--data
	// or --database), at the address --url.
	withDatabase func(ctx context.Context, t target, stdout io.Writer) error
}

// target is where a subcommand that works on either engine acts.
type target struct {
	data, database, url string
	args                []string
}

var subcommands = []subcommand{
	{name: "backup", args: "OUT", summary: "write a consistent copy of the database to OUT, even while CQRS runs", run: backupCmd},
	{name: "restore", args: "IN", summary: "replace the database with the backup IN (CQRS must be stopped; the current file is kept beside it)", run: restoreCmd},
	{name: "check", summary: "run a consistency check of the database file", run: checkCmd},
	{name: "reset-second-factor", args: "USER_ID", summary: "forget a person's authenticator app, passkeys and recovery codes, so they set them up again at their next sign-in (the way back in for a system administrator who has lost both)", withDatabase: resetSecondFactorCmd},
	{name: "setup-link", summary: "print a new one-time link to set the system administrator's password (a registration link until set-up is finished, then an Unlock Account or Forgotten Password link)", withDatabase: setupLinkCmd},
}

func findSubcommand(name string) (subcommand, bool) {
	for _, s := range subcommands {
		if s.name == name {
			return s, true
		}
	}
	return subcommand{}, false
}

func runSubcommand(ctx context.Context, sc subcommand, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(sc.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := getenv("CQRS_DATA")
	if data == "" {
		data = defaultDataPath()
	}
	fs.StringVar(&data, "data", data, "database file [$CQRS_DATA]")
	database := getenv("CQRS_DATABASE")
	fs.StringVar(&database, "database", database, "the PostgreSQL database, when CQRS runs on one [$CQRS_DATABASE]")
	siteURL := "http://" + defaultAddr
	if sc.withDatabase != nil {
		fs.StringVar(&siteURL, "url", siteURL, "the address CQRS answers at, for the printed link")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s %s [--data FILE] %s\n\n%s%s.\n\nFlags:\n", filepath.Base(args[0]), sc.name, sc.args, strings.ToUpper(sc.summary[:1]), sc.summary[1:])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	want := 0
	if sc.args != "" {
		want = 1
	}
	if fs.NArg() != want {
		fs.Usage()
		return fmt.Errorf("%s: expected %d argument(s), got %d", sc.name, want, fs.NArg())
	}
	if sc.withDatabase != nil {
		return sc.withDatabase(ctx, target{data: data, database: database, url: strings.TrimSuffix(siteURL, "/"), args: fs.Args()}, stdout)
	}
	if database != "" {
		return errPostgresTools
	}
	return sc.run(ctx, data, fs.Args(), stdout)
}

// errPostgresTools answers backup, restore and check on PostgreSQL, whose
// own tools do them properly (and see the whole database, not one file).
var errPostgresTools = errors.New("CQRS runs on PostgreSQL here: back it up with pg_dump " +
	"(pg_dump --format=custom --file=cqrs.dump \"$CQRS_DATABASE\"), restore with pg_restore, " +
	"and check it with PostgreSQL's own tools (pg_amcheck); the backup, restore and check subcommands are for the database file")

// backupCmd copies the database, without the links of stored emails (see
// store.Backup). While the app runs it holds bbolt's lock, so the copy
// comes from the running instance (authorised by the token in the instance
// file, readable only by this user); otherwise straight from the file.
func backupCmd(ctx context.Context, data string, args []string, stdout io.Writer) error {
	out := args[0]
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s already exists; choose a new file name", out)
	}
	tmp := out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	n, err := backupFrom(ctx, data, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if _, err := store.Verify(tmp); err != nil {
		return fmt.Errorf("the backup did not verify: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backed up %s to %s (%d bytes).\n", data, out, n)
	fmt.Fprintln(stdout, "The copy holds no working link: links in emails waiting in the local mailbox are removed from it (after a restore, send those again).")
	return nil
}

func backupFrom(ctx context.Context, data string, w io.Writer) (int64, error) {
	n, err := store.BackupFile(data, w)
	if !errors.Is(err, store.ErrLocked) {
		return n, err
	}
	rec, err := readInstanceFile(data)
	if err != nil {
		return 0, fmt.Errorf("the database is in use and the running CQRS could not be found: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rec.URL+"/internal/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+rec.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("asking the running CQRS for a backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the running CQRS refused the backup: %s", resp.Status)
	}
	return io.Copy(w, resp.Body)
}

// restoreCmd replaces the database with a verified backup, keeping the
// current file as DATA.before-restore-TIME.
func restoreCmd(ctx context.Context, data string, args []string, stdout io.Writer) error {
	in := args[0]
	schema, err := store.Verify(in)
	if err != nil {
		return fmt.Errorf("refusing to restore: %w", err)
	}
	if _, err := os.Stat(data); err == nil {
		if _, err := store.Verify(data); errors.Is(err, store.ErrLocked) {
			return errors.New("CQRS is running on this database: stop it, then restore")
		}
	}
	if err := os.MkdirAll(filepath.Dir(data), 0o700); err != nil {
		return err
	}
	tmp := data + ".restoring"
	if err := copyFile(in, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	kept := ""
	if _, err := os.Stat(data); err == nil {
		kept = data + ".before-restore-" + time.Now().Format("20060102-150405")
		if err := os.Rename(data, kept); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, data); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Restored %s from %s (schema %d).\n", data, in, schema)
	if kept != "" {
		fmt.Fprintf(stdout, "The previous database is kept as %s.\n", kept)
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// checkCmd verifies the database file in place.
func checkCmd(ctx context.Context, data string, args []string, stdout io.Writer) error {
	schema, err := store.Verify(data)
	if errors.Is(err, store.ErrLocked) {
		return errors.New("CQRS is running on this database: take a backup and check that, or stop CQRS first")
	}
	if err != nil {
		return fmt.Errorf("check failed: %w", err)
	}
	fmt.Fprintf(stdout, "%s is consistent (schema %d).\n", data, schema)
	return nil
}

func readInstanceFile(data string) (instanceRecord, error) {
	var rec instanceRecord
	b, err := os.ReadFile(instanceFile(data))
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err == nil && rec.URL == "" {
		err = errors.New("instance file has no address")
	}
	return rec, err
}

// openForCommand opens the database a command acts on: PostgreSQL by
// --database, else the file at --data, which must exist (missing says why)
// and must not be open in a running CQRS (running says what to do).
func openForCommand(ctx context.Context, t target, missing, running string) (engine, error) {
	if t.database != "" {
		return postgres.Open(ctx, t.database, postgres.Options{})
	}
	if _, err := os.Stat(t.data); err != nil {
		return nil, errors.New(missing)
	}
	file, err := store.Open(t.data, store.Options{LockTimeout: 500 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return nil, errors.New(running)
	}
	if err != nil {
		return nil, err
	}
	return file, nil
}

// resetSecondFactorCmd forgets a person's second factor on the computer
// that holds the data: for a system administrator who has lost their phone
// and their recovery codes (nobody else can reset theirs), or a site with
// no other administrator. Whoever runs it can read the database anyway.
// The owner is emailed and the audit log says the command did it.
func resetSecondFactorCmd(ctx context.Context, t target, stdout io.Writer) error {
	db, err := openForCommand(ctx, t, fmt.Sprintf("no database at %s", t.data),
		"CQRS is running on this database: stop it, then run reset-second-factor again")
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.UserByUserID(ctx, t.args[0])
	if errors.Is(err, cqrs.ErrNotFound) {
		return fmt.Errorf("there is no user %q", t.args[0])
	}
	if err != nil {
		return err
	}
	text := "Dear " + u.FullName() + ",\n\nThe authenticator app, passkeys and recovery codes of your CQRS account (User ID " + u.UserID +
		") were reset on the computer that runs CQRS. Your old codes no longer work. The next time you sign in with your User ID and password, you will set up your second step again: an authenticator app or a passkey.\n\nIf this wasn't you, contact your CQRS User Administrator at once.\n"
	notice := &cqrs.Email{Kind: "second-factor-reset", Subject: "The second step of your CQRS sign-in was reset", Text: text,
		HTML: "<p>" + strings.ReplaceAll(html.EscapeString(strings.TrimSpace(text)), "\n\n", "</p><p>") + "</p>"}
	if _, err := db.ResetSecondFactor(ctx, u.ID, notice, cqrs.AuditEvent{Type: cqrs.AuditSecondFactorReset, Method: "command",
		Detail: "authenticator app, passkeys and recovery codes forgotten by the reset-second-factor command"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The second step of %s is reset: they set up their second step again at their next sign-in. They have been emailed, and the audit log records it.\n", u.UserID)
	return nil
}

// setupLinkCmd is the way back in for the system administrator, on the
// computer that holds the data: a new one-time link to set their password,
// whether set-up was never finished (the set-up form sent, the browser lost
// before the password) or the password is forgotten and no mail server
// delivers the reset email. Whoever runs it can read the database anyway.
func setupLinkCmd(ctx context.Context, t target, stdout io.Writer) error {
	u, err := url.Parse(t.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q is not an http:// or https:// address", t.url)
	}
	db, err := openForCommand(ctx, t, fmt.Sprintf("no database at %s: start CQRS, which prints a set-up link while nobody is set up", t.data),
		"CQRS is running on this database: stop it, then run setup-link again (or just restart CQRS: while the system administrator has no password, each start prints a link to choose it)")
	if err != nil {
		return err
	}
	defer db.Close()
	defaults := handlers.DefaultConfig()
	token := secret.NewToken()
	admin, link, err := db.SystemAdminLink(ctx, secret.HashToken(token), defaults.RegistrationLinkTTL, defaults.ResetLinkTTL, true,
		cqrs.AuditEvent{Type: cqrs.AuditLinkSent, Detail: "system administrator's link printed by the setup-link command"})
	if errors.Is(err, cqrs.ErrNotFound) {
		return errors.New("nobody is set up yet: start CQRS, which prints the one-time set-up link")
	}
	if err != nil {
		return err
	}
	path, what := "/register", "choose their password (set-up is not finished)"
	if link.Purpose == cqrs.LinkReset {
		path, what = "/reset", "choose a new password (it also unlocks the account)"
	}
	fmt.Fprintf(stdout, "A one-time link for the system administrator %s to %s, working until %s:\n  %s%s?token=%s\n",
		admin.UserID, what, link.Expires.Local().Format("2 Jan 2006 15:04"), t.url, path, token)
	fmt.Fprintln(stdout, "Open it in the browser where CQRS runs; if CQRS answers at another address, give it with --url. Anyone with this link can set the password: do not send it on.")
	return nil
}
