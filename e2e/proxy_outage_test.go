package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
)

// The database restarted under the instances: while it is down, people
// get the site's "try again in a moment" page (503, Retry-After) and the
// instances report not ready; once it is back they answer again by
// themselves, and every sign-in they acknowledged is there.

// outageAnswer is one request's outcome through the proxy.
type outageAnswer int

const (
	answeredOK outageAnswer = iota
	answeredTryAgain
	answeredOther
)

// tryAgainPage reports whether resp/body is the site's outage page: 503,
// Retry-After, the site's own layout and words.
func tryAgainPage(resp *http.Response, body string) bool {
	return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" &&
		strings.Contains(body, "Please try again in a moment") && strings.Contains(body, "Nothing was saved") &&
		strings.Contains(body, `class="nhsuk-header`)
}

// outageSignIn signs in through base with a new cookie jar and reads the
// Message Centre; the jar is returned when the sign-in was acknowledged.
func outageSignIn(base, userID, password string) (outageAnswer, http.CookieJar, string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	judge := func(want string) func(*http.Response, error) (outageAnswer, string) {
		return func(resp *http.Response, err error) (outageAnswer, string) {
			if err != nil {
				return answeredOther, err.Error()
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			switch {
			case resp.StatusCode == 200 && strings.Contains(body, want):
				return answeredOK, body
			case tryAgainPage(resp, body):
				return answeredTryAgain, body
			}
			return answeredOther, fmt.Sprintf("%s %d Retry-After %q: %.200q", resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	a, body := judge("csrf_token")(c.Get(base + "/login"))
	if a != answeredOK {
		return a, nil, body
	}
	m := csrfFieldRE.FindStringSubmatch(body)
	if m == nil {
		return answeredOther, nil, "no CSRF token on the Login page"
	}
	a, body = judge("Message Centre")(c.PostForm(base+"/login", url.Values{"user_id": {userID}, "password": {password}, "csrf_token": {m[1]}}))
	if a != answeredOK {
		return a, nil, body
	}
	a, body = judge("Message Centre")(c.Get(base + "/messages"))
	return a, jar, body
}

func TestProxyPostgresRestart(t *testing.T) {
	pg := startOwnPostgres(t)
	s := startSiteOn(t, pg.DSN)
	st, err := postgres.Open(context.Background(), pg.DSN, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, err := st.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	if err != nil {
		t.Fatal(err)
	}
	db := &sharedDB{t: t, dsn: pg.DSN, st: st, org: org}
	db.active("sam.patel", "Harbour#Lights42")

	var (
		mu        sync.Mutex
		acked     []http.CookieJar // jars of acknowledged sign-ins
		counts    [3]int
		others    []string
		lastOK    atomic.Int64 // unix nanoseconds of the last request answered normally
		firstDown atomic.Int64 // of the first "try again" page
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, jar, detail := outageSignIn(s.publicURL, "sam.patel", "Harbour#Lights42")
				now := time.Now().UnixNano()
				mu.Lock()
				counts[a]++
				switch a {
				case answeredOK:
					acked = append(acked, jar)
					lastOK.Store(now)
				case answeredTryAgain:
					firstDown.CompareAndSwap(0, now)
				default:
					others = append(others, time.Now().Format("15:04:05.000 ")+detail)
				}
				mu.Unlock()
				if a == answeredTryAgain {
					time.Sleep(100 * time.Millisecond) // as a person would, not a tight loop
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	pids := make([]int, len(s.procs))
	for i, p := range s.procs {
		pids[i] = p.cmd.Process.Pid
	}

	stoppedAt := time.Now()
	pg.Stop()
	// While the database is down, each instance says it is not ready.
	time.Sleep(time.Second)
	for i, port := range s.ports {
		if err := expectPage(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), http.StatusServiceUnavailable, "database unreachable"); err != nil {
			t.Errorf("instance %d during the outage: %v", i+1, err)
		}
	}
	time.Sleep(2 * time.Second)
	pg.Start()
	startedAt := time.Now()

	// Recovery by itself: every instance ready again, and sign-ins
	// through the proxy answered normally, with no instance restarted.
	deadline := time.Now().Add(30 * time.Second)
	for i, port := range s.ports {
		for {
			err := expectPage(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 200, `"ready"`)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %d not ready 30s after the database came back: %v", i+1, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for lastOK.Load() < startedAt.UnixNano() {
		if time.Now().After(deadline) {
			t.Fatal("no sign-in through the proxy succeeded within 30s of the database coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	recovered := time.Unix(0, lastOK.Load())
	time.Sleep(2 * time.Second) // and stays so
	close(stop)
	wg.Wait()

	for i, p := range s.procs {
		select {
		case <-p.exited:
			t.Errorf("instance %d exited: %v\n%s", i+1, p.waitErr, p.Stderr.String())
		default:
		}
		if p.cmd.Process.Pid != pids[i] {
			t.Errorf("instance %d was restarted", i+1)
		}
	}
	for _, o := range others {
		t.Errorf("neither an answer nor the try-again page: %s", o)
	}
	if counts[answeredTryAgain] == 0 {
		t.Error("no request met the outage's try-again page: the outage was not observed")
	}
	// Every acknowledged sign-in's session was written: it still works.
	for i, jar := range acked {
		c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
		if err := expectPage(c, s.publicURL+"/messages", 200, "Message Centre"); err != nil {
			t.Errorf("acknowledged sign-in %d of %d lost its session: %v", i+1, len(acked), err)
			break
		}
	}
	t.Logf("database down %s (stop begun %s, back %s); %d sign-ins acknowledged, %d try-again pages, %d other answers; first try-again page %s after the stop began; normal answers again %s after the database came back",
		startedAt.Sub(stoppedAt).Round(time.Millisecond), stoppedAt.Format("15:04:05.000"), startedAt.Format("15:04:05.000"),
		counts[answeredOK], counts[answeredTryAgain], counts[answeredOther],
		time.Unix(0, firstDown.Load()).Sub(stoppedAt).Round(time.Millisecond), recovered.Sub(startedAt).Round(time.Millisecond))
}
