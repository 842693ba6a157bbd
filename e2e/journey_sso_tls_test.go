package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The classroom's HTTPS modes: the NHSmail journey in a real browser when
// the app serves its own certificate (--tls-self-signed) or a site's
// certificate from a private CA (--tls-cert). The relying party inside the
// app must reach the embedded simulator behind that certificate; the
// browser is told to accept exactly that certificate's key, as a learner
// who compared the fingerprint would.

var httpsRunningRE = regexp.MustCompile(`CQRS is running at (https://\S+)`)

// startHTTPSApp runs the app on 127.0.0.1 with the TLS flags and returns
// its https base URL and set-up link.
func startHTTPSApp(t *testing.T, dataDir string, flags ...string) (baseURL, setupURL string) {
	t.Helper()
	args := append([]string{"--no-browser", "--addr", "127.0.0.1:0", "--data", filepath.Join(dataDir, "cqrs.db")}, flags...)
	runApp(t, args, 10*time.Second, func(out string) bool {
		setup, running := setupLineRE.FindStringSubmatch(out), httpsRunningRE.FindStringSubmatch(out)
		if setup == nil || running == nil {
			return false
		}
		setupURL, baseURL = setup[1], running[1]
		return true
	})
	return baseURL, setupURL
}

// spkiPin is the certificate's public key as Chromium's
// --ignore-certificate-errors-spki-list takes it: base64 of its SHA-256.
func spkiPin(t *testing.T, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no certificate in the PEM file")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// privateCACertificate writes a certificate for 127.0.0.1 issued by a CA
// made here (in no trust store) and its key, and returns their paths.
func privateCACertificate(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Training centre CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cqrs.training.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// nhsmailJourneyOverHTTPS sets up a user with an NHSmail account and signs
// them in through the embedded simulator, all over HTTPS.
func nhsmailJourneyOverHTTPS(t *testing.T, baseURL, setupURL string, certPEM []byte) {
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowserWith(t, parent, chromedp.Flag("ignore-certificate-errors-spki-list", spkiPin(t, certPEM)))
	firstRunSetUp(t, ctx, setupURL)
	sam := newUser{UserID: "sam.patel", FirstName: "Sam", LastName: "Patel", WorkPhone: "0113 496 0001", Email: "sam.patel@nhs.net"}
	samNHSmail := nhsmailAccount{Email: "sam.patel@nhs.net", FirstName: "Sam", LastName: "Patel", Password: "Simulator#1"}
	legacySignIn(t, ctx, baseURL, adminUserID, adminPassword)
	setUpUser(t, ctx, baseURL, sam, "")
	addNHSmailAccount(t, ctx, baseURL, samNHSmail)
	samCtx := registerFromMailbox(t, ctx, baseURL, sam, "Harbour#Lights42")

	startNHSmailSignIn(t, samCtx, baseURL)
	nhsmailSignIn(t, samCtx, samNHSmail.Email, samNHSmail.Password)
	step(t, samCtx, "wait for sam's Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if loc := location(t, samCtx); loc != baseURL+"/messages" {
		t.Errorf("after NHSmail sign-in over HTTPS the browser is at %s, want %s/messages", loc, baseURL)
	}
	if got := textOf(t, samCtx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("signed in as %q", got)
	}
}

func TestNHSmailJourneyUnderSelfSignedHTTPS(t *testing.T) {
	dir := t.TempDir()
	baseURL, setupURL := startHTTPSApp(t, dir, "--tls-self-signed")
	if !strings.HasPrefix(baseURL, "https://127.0.0.1:") {
		t.Fatalf("running at %s", baseURL)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "classroom-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	nhsmailJourneyOverHTTPS(t, baseURL, setupURL, certPEM)
}

func TestNHSmailJourneyUnderPrivateCAHTTPS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := privateCACertificate(t, dir)
	baseURL, setupURL := startHTTPSApp(t, dir, "--tls-cert", certPath, "--tls-key", keyPath)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	nhsmailJourneyOverHTTPS(t, baseURL, setupURL, certPEM)
}
