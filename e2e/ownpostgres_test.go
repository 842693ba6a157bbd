package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// ownPostgres is a throwaway PostgreSQL cluster of the test's own, so a
// test can stop and start the database under the app without touching
// the shared one other tests (and other people) use.
type ownPostgres struct {
	t        *testing.T
	bin, dir string
	port     int
	asUser   string // run the server's tools as this user ("" for the test's own)
	DSN      string
}

// findPostgresBin is the directory of initdb and pg_ctl: Debian keeps
// them in /usr/lib/postgresql/VERSION/bin, off PATH. Skipped without them,
// except on CI (CI=true).
func findPostgresBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // the newest version first
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no PostgreSQL server programs (initdb, pg_ctl) found; CI=true, so the database restart test must run")
	}
	t.Skip("no PostgreSQL server programs (initdb, pg_ctl): install Debian's postgresql package")
	return ""
}

// startOwnPostgres makes a cluster in a temporary directory and starts it
// on a free port of 127.0.0.1, with trust authentication for that address
// only. PostgreSQL refuses to run as root: as root (CI's .ci/run) the
// cluster belongs to the postgres user and its tools run through runuser.
func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	pg := &ownPostgres{t: t, bin: findPostgresBin(t), port: freePort(t)}
	dir, err := os.MkdirTemp("", "cqrs-own-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asUser = "postgres"
	}
	pg.dir = filepath.Join(dir, "data")
	pg.run("initdb", "--pgdata", pg.dir, "--username", "cqrs", "--auth", "trust", "--no-sync", "--encoding", "UTF8", "--locale", "C")
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 60\n", pg.port, dir)
	f, err := os.OpenFile(filepath.Join(pg.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pg.Start()
	t.Cleanup(func() { pg.Stop() })
	pg.DSN = fmt.Sprintf("postgres://cqrs@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	return pg
}

// run runs one of the server's programs, as the cluster's owner.
func (pg *ownPostgres) run(program string, args ...string) {
	pg.t.Helper()
	name, argv := filepath.Join(pg.bin, program), args
	if pg.asUser != "" {
		name, argv = "runuser", append([]string{"-u", pg.asUser, "--", filepath.Join(pg.bin, program)}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Dir = os.TempDir() // the postgres user may not enter the test's directory
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.t.Fatalf("%s %v: %v\n%s", program, args, err, out)
	}
}

// Start starts the server and waits until it accepts connections.
func (pg *ownPostgres) Start() {
	pg.t.Helper()
	pg.run("pg_ctl", "--pgdata", pg.dir, "--log", filepath.Join(filepath.Dir(pg.dir), "server.log"), "--wait", "--timeout", "60", "start")
}

// Stop stops the server as an administrator's restart does ("fast":
// open transactions are rolled back, connections closed).
func (pg *ownPostgres) Stop() {
	pg.t.Helper()
	if _, err := os.Stat(filepath.Join(pg.dir, "postmaster.pid")); err != nil {
		return // not running
	}
	pg.run("pg_ctl", "--pgdata", pg.dir, "--mode", "fast", "--wait", "--timeout", "60", "stop")
}

// stoppedFor stops the server, waits gap, and starts it again.
func (pg *ownPostgres) stoppedFor(gap time.Duration) {
	pg.t.Helper()
	pg.Stop()
	time.Sleep(gap)
	pg.Start()
}
