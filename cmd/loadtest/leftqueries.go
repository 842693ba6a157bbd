package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The app's PostgreSQL connections in this run, told apart in
// pg_stat_activity by their application_name.
var (
	appDatabase string // the app's CQRS_DATABASE, "" on the database file
	appConnName string // its connections' application_name
)

// nameAppConnections gives the app's database address an application_name
// of this run's own (unless it names one), before any instance starts, so
// the queries counted after the storm are this run's instances' and no
// other program's on the same server.
func nameAppConnections() {
	for i, kv := range appEnv {
		dsn, ok := strings.CutPrefix(kv, "CQRS_DATABASE=")
		if !ok || dsn == "" {
			continue
		}
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme == "" {
			return // a keyword=value address: its connections are not told apart
		}
		q := u.Query()
		if appConnName = q.Get("application_name"); appConnName == "" {
			appConnName = fmt.Sprintf("cqrs-loadtest-%d", os.Getpid())
			q.Set("application_name", appConnName)
			u.RawQuery = q.Encode()
			appEnv[i] = "CQRS_DATABASE=" + u.String()
		}
		appDatabase = u.String()
	}
}

// leaveAndCountQueries, on PostgreSQL, starts n sign-in attempts and
// leaves each after leaveAfter, as browsers closed mid-request do, then
// reports the app's queries still running: at once, and how long until
// none is. A query still running after limit is a problem for -check: the
// request's context should have ended it with its client.
func leaveAndCountQueries(s *server, n int, leaveAfter, limit time.Duration) {
	if appDatabase == "" || appConnName == "" {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, appDatabase)
	if err != nil {
		fmt.Println("  queries left running: cannot connect:", err)
		return
	}
	defer conn.Close(ctx)
	running := func() (active, all int, err error) {
		err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state <> 'idle'), count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid()`, appConnName).Scan(&active, &all)
		return active, all, err
	}

	csrf, token, err := anonymous(s.base)
	if err != nil {
		fmt.Println("  queries left running:", err)
		return
	}
	leaving := &http.Client{
		Timeout:       leaveAfter,
		Transport:     &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	right := signInRequest(s.base, csrf, token, adminID, adminPassword)
	wrong := signInRequest(s.base, csrf, token, "no.such.user", wrongPassword)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		left int
	)
	for i := range n {
		req := right.request()
		if i%3 != 0 {
			req = wrong.request()
		}
		wg.Go(func() {
			resp, err := leaving.Do(req)
			if err != nil {
				mu.Lock()
				left++
				mu.Unlock()
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	leaving.CloseIdleConnections()

	start := time.Now()
	first, all, err := running()
	if err != nil {
		fmt.Println("  queries left running:", err)
		return
	}
	active := first
	for active > 0 && time.Since(start) < limit {
		time.Sleep(50 * time.Millisecond)
		if active, all, err = running(); err != nil {
			fmt.Println("  queries left running:", err)
			return
		}
	}
	fmt.Printf("  %d more sign-in attempts, %d of them left after %s: the app's queries still running when they had left: %d; %d after %s (its connections: %d)\n",
		n, left, leaveAfter, first, active, time.Since(start).Round(time.Millisecond), all)
	if active > 0 {
		problemsMu.Lock()
		problems = append(problems, fmt.Sprintf("storm: %d queries still running %s after their clients left", active, limit))
		problemsMu.Unlock()
	}
}
