package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSIGTERMFinishesQueuedSignIns: sign-ins that arrived before SIGTERM
// and are still waiting their turn (one account's attempts are checked one
// at a time, and the hashing slots are few) are answered, not dropped with
// a server fault when the shutdown begins (those waiting longer than the
// queue allows get its usual "The service is busy", signal or not). A rolling restart behind a load
// balancer meets exactly these.
func TestSIGTERMFinishesQueuedSignIns(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no interrupt signal to send")
	}
	p := startProcess(t, []string{"--no-browser", "--addr", "127.0.0.1:0", "--data", t.TempDir() + "/cqrs.db", "--signin-rate-limit", "0"})
	var base, setupURL string
	p.waitUntil(20*time.Second, func(out string) bool {
		if m := setupLineRE.FindStringSubmatch(out); m != nil {
			setupURL = m[1]
		}
		m := runningLineRE.FindStringSubmatch(out)
		if m != nil {
			base = m[1]
		}
		return m != nil && setupURL != ""
	})
	setUpOverHTTP(t, base, setupURL)

	// Eight people hold the Login page, then sign in to one account at once.
	const people = 8
	type form struct {
		c     *http.Client
		token string
	}
	forms := make([]form, people)
	for i := range forms {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfFieldRE.FindStringSubmatch(string(body))
		if m == nil {
			t.Fatal("no CSRF token on the Login page")
		}
		forms[i] = form{c, m[1]}
	}
	answers := make([]string, people)
	var wg sync.WaitGroup
	for i, f := range forms {
		wg.Go(func() {
			resp, err := f.c.PostForm(base+"/login", url.Values{"user_id": {"restart.admin"}, "password": {"Riverside#2026q"}, "csrf_token": {f.token}})
			if err != nil {
				answers[i] = err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers[i] = fmt.Sprintf("%d %s %.120q", resp.StatusCode, resp.Header.Get("Location"), body)
			switch {
			case resp.StatusCode == http.StatusSeeOther && strings.HasSuffix(resp.Header.Get("Location"), "/messages"):
				answers[i] = "signed in"
			case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "The service is busy"):
				// Waited longer than the queue allows (a loaded
				// machine): a clear answer, as without the signal.
				answers[i] = "busy"
			}
		})
	}
	time.Sleep(150 * time.Millisecond) // the first is hashing, the rest wait their turn
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	signedIn := 0
	for i, a := range answers {
		switch a {
		case "signed in":
			signedIn++
		case "busy":
		default:
			t.Errorf("sign-in %d of %d, sent before the signal: %s", i+1, people, a)
		}
	}
	if signedIn < 2 {
		t.Errorf("%d of %d sign-ins signed in: the signal came before any waited", signedIn, people)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the app did not exit within 20s of the signal")
	}
}
