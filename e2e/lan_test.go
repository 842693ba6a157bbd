package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startOnLAN runs the app on all interfaces with extra flags and returns
// its output once it is serving.
func startOnLAN(t *testing.T, flags ...string) (*syncBuffer, string) {
	t.Helper()
	args := append([]string{"--no-browser", "--addr", "0.0.0.0:0", "--data", filepath.Join(t.TempDir(), "cqrs.db")}, flags...)
	out, _ := runApp(t, args, 10*time.Second, func(out string) bool { return strings.Contains(out, "CQRS is running at") })
	port := regexp.MustCompile(`running at https?://[^ ]*:(\d+) `).FindStringSubmatch(out.String())
	if port == nil {
		t.Fatalf("no port in:\n%s", out.String())
	}
	return out, port[1]
}

func TestClassroomHTTPSWithItsOwnCertificate(t *testing.T) {
	out, port := startOnLAN(t, "--tls-self-signed")
	if !strings.Contains(out.String(), "fingerprint") || !strings.Contains(out.String(), "Learners on this network can use:") {
		t.Fatalf("output lacks the fingerprint or the addresses:\n%s", out.String())
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://127.0.0.1:" + port
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz over HTTPS = %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", base+"/login", nil)
	req.Host = "rebind.example"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("a foreign Host over the LAN = %d, want 403", resp.StatusCode)
	}
	resp, err = client.Get(base + "/setup")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if !c.Secure {
			t.Errorf("cookie %s is not Secure under HTTPS", c.Name)
		}
	}
}

func TestInsecureLANWarnsOnEveryPage(t *testing.T) {
	out, port := startOnLAN(t, "--insecure-lan")
	if !strings.Contains(out.String(), "WARNING: plain HTTP") {
		t.Fatalf("no warning on the console:\n%s", out.String())
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/help")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `data-testid="insecure-lan-warning"`) {
		t.Fatal("the page does not warn about plain HTTP on the network")
	}
}
