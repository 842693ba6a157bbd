// Command cqrs-signin re-creates the CQRS registration and sign-in flows as
// one local program: it opens its database, starts listening and opens the
// browser on its own pages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/pkg/browser"

	"github.com/cqrs-local/cqrs-signin/handlers"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

// defaultAddr is a fixed port so bookmarks keep working; when it is taken
// the app falls back to a free one.
const defaultAddr = "127.0.0.1:8420"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "cqrs-signin: %v\n", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	addr       string
	data       string
	noBrowser  bool
	version    bool
	linkTTL    time.Duration
	addrIsFlag bool
}

// flagSpec documents a flag and the environment variable behind it.
type flagSpec struct{ name, env, usage string }

var flagSpecs = []flagSpec{
	{"addr", "CQRS_ADDR", "address to listen on (host:port); default falls back to a free port when taken"},
	{"data", "CQRS_DATA", "database file"},
	{"no-browser", "CQRS_NO_BROWSER", "do not open the browser"},
	{"registration-link-ttl", "CQRS_REGISTRATION_LINK_TTL", "how long a registration link works"},
	{"version", "", "print the version and exit"},
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}
	var o options
	usage := map[string]string{}
	for _, s := range flagSpecs {
		usage[s.name] = s.usage
		if s.env != "" {
			usage[s.name] += " [$" + s.env + "]"
		}
	}
	fs.StringVar(&o.addr, "addr", env("CQRS_ADDR", defaultAddr), usage["addr"])
	fs.StringVar(&o.data, "data", env("CQRS_DATA", defaultDataPath()), usage["data"])
	noBrowser, _ := strconv.ParseBool(getenv("CQRS_NO_BROWSER"))
	fs.BoolVar(&o.noBrowser, "no-browser", noBrowser, usage["no-browser"])
	ttl, err := time.ParseDuration(env("CQRS_REGISTRATION_LINK_TTL", "336h"))
	if err != nil {
		return o, fmt.Errorf("CQRS_REGISTRATION_LINK_TTL: %w", err)
	}
	fs.DurationVar(&o.linkTTL, "registration-link-ttl", ttl, usage["registration-link-ttl"])
	fs.BoolVar(&o.version, "version", false, usage["version"])
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRuns the CQRS registration and sign-in service on this computer and opens the browser.\n\nFlags (each with its environment variable):\n", filepath.Base(args[0]))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "addr" {
			o.addrIsFlag = true
		}
	})
	if getenv("CQRS_ADDR") != "" {
		o.addrIsFlag = true
	}
	if o.linkTTL <= 0 {
		return o, errors.New("--registration-link-ttl must be positive")
	}
	return o, nil
}

// defaultDataPath is in the user's configuration directory, so the app
// keeps its data wherever it is started from.
func defaultDataPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "cqrs-signin", "cqrs.db")
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if opts.version {
		fmt.Fprintf(stdout, "cqrs-signin %s\n", buildVersion())
		return nil
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	if err := os.MkdirAll(filepath.Dir(opts.data), 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := store.Open(opts.data, store.Options{LockTimeout: 500 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return joinRunningInstance(ctx, opts, stdout)
	}
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := listen(opts)
	if err != nil {
		return err
	}
	baseURL := "http://" + ln.Addr().String()

	cfg := handlers.DefaultConfig()
	cfg.Version = buildVersion()
	cfg.RegistrationLinkTTL = opts.linkTTL
	cfg.Hosts = append(cfg.Hosts, listenHost(ln))
	hasher := secret.NewHasher(secret.OWASP, 0, 2*time.Second)
	app, err := handlers.New(logger, cfg, st, hasher)
	if err != nil {
		ln.Close()
		return err
	}

	startURL := baseURL + "/"
	if n, err := st.CountUsers(); err != nil {
		ln.Close()
		return err
	} else if n == 0 {
		token := secret.NewToken()
		if err := st.SetSetupToken(secret.HashToken(token)); err != nil {
			ln.Close()
			return err
		}
		startURL = baseURL + "/setup?token=" + token
		fmt.Fprintf(stdout, "First start: create the administrator with this one-time set-up link:\n  %s\n", startURL)
	}
	if err := writeInstanceFile(opts.data, baseURL); err != nil {
		logger.Warn("could not record the running instance", "err", err)
	}
	defer os.Remove(instanceFile(opts.data))

	serveErr := make(chan error, 1)
	go func() { serveErr <- app.Listener(ln) }()
	fmt.Fprintf(stdout, "CQRS is running at %s (data: %s)\n", baseURL, opts.data)
	openBrowser(opts, startURL, logger)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "Shutting down…")
	if err := app.ShutdownWithTimeout(10 * time.Second); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	return nil
}

// listen binds at once so a bind error surfaces before anything else; the
// default fixed port falls back to a free one when it is taken.
func listen(opts options) (net.Listener, error) {
	ln, err := net.Listen("tcp", opts.addr)
	if err == nil || opts.addrIsFlag {
		return ln, err
	}
	host, _, _ := net.SplitHostPort(opts.addr)
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

func listenHost(ln net.Listener) string {
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	return host
}

func openBrowser(opts options, url string, logger *slog.Logger) {
	if opts.noBrowser {
		return
	}
	browser.Stdout, browser.Stderr = io.Discard, io.Discard
	if err := browser.OpenURL(url); err != nil {
		logger.Warn("could not open a browser; open the address above yourself", "err", err)
	}
}

// instanceRecord is written beside the database so a second launch can find
// the running instance instead of waiting on bbolt's file lock.
type instanceRecord struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

func instanceFile(data string) string { return data + ".instance" }

func writeInstanceFile(data, url string) error {
	b, _ := json.Marshal(instanceRecord{URL: url, PID: os.Getpid()})
	return os.WriteFile(instanceFile(data), b, 0o600)
}

// joinRunningInstance is the second launch: the data file is locked, so if
// a CQRS instance answers at the recorded address, open the browser on it.
func joinRunningInstance(ctx context.Context, opts options, stdout io.Writer) error {
	b, err := os.ReadFile(instanceFile(opts.data))
	var rec instanceRecord
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err == nil && rec.URL != "" && instanceAnswers(ctx, rec.URL) {
		fmt.Fprintf(stdout, "CQRS is already running at %s; opening it.\n", rec.URL)
		openBrowser(opts, rec.URL+"/", slog.New(slog.NewTextHandler(io.Discard, nil)))
		return nil
	}
	return fmt.Errorf("the data file %s is locked by another process, and no CQRS instance answers for it; stop that process or choose another file with --data", opts.data)
}

func instanceAnswers(ctx context.Context, baseURL string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Service string `json:"service"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body) == nil && body.Service == "cqrs-signin"
}
