package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock"
)

func TestNetworkAddressNeedsHTTPSOrConsent(t *testing.T) {
	out, err := runCmd(t, "--no-browser", "--addr", "0.0.0.0:0", "--data", filepath.Join(t.TempDir(), "cqrs.db"))
	if err == nil || !strings.Contains(err.Error(), "needs HTTPS") {
		t.Fatalf("plain HTTP on all interfaces started: %v\n%s", err, out)
	}
}

// privateCALeaf is a certificate for 127.0.0.1 and localhost issued by a
// certificate authority made here (in no trust store), as a site's own CA
// would issue it, and the PEM files of the certificate and its key.
func privateCALeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "cqrs.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPath, keyPath
}

func newPrivateCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Training centre CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

// TestRelyingPartyTrustsExactlyTheAppsOwnCertificate: the client the
// relying party reaches the embedded simulator with accepts the app's own
// certificate (from a private CA, or self-made), and refuses another
// certificate from the same CA and any other self-signed one.
func TestRelyingPartyTrustsExactlyTheAppsOwnCertificate(t *testing.T) {
	ca, caKey := newPrivateCA(t)
	own, certPath, keyPath := privateCALeaf(t, ca, caKey)
	sibling, _, _ := privateCALeaf(t, ca, caKey)
	selfMade, err := selfSignedCertificate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	serveWith := func(cert tls.Certificate) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	netw, err := setupNetwork(options{tlsCert: certPath, tlsKey: keyPath}, ln)
	if err != nil {
		t.Fatal(err)
	}
	client, err := netw.ownCertificateClient()
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := client.Get(serveWith(own)); err != nil {
		t.Errorf("the app's own certificate (from a private CA) is refused: %v", err)
	} else {
		resp.Body.Close()
	}
	for name, cert := range map[string]tls.Certificate{"another certificate of the same CA": sibling, "a self-signed certificate": selfMade} {
		if resp, err := client.Get(serveWith(cert)); err == nil {
			resp.Body.Close()
			t.Errorf("%s is trusted", name)
		}
	}

	selfNetw := exposure{tls: &tls.Config{Certificates: []tls.Certificate{selfMade}}}
	selfClient, err := selfNetw.ownCertificateClient()
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := selfClient.Get(serveWith(selfMade)); err != nil {
		t.Errorf("the self-made certificate is refused: %v", err)
	} else {
		resp.Body.Close()
	}
	if resp, err := selfClient.Get(serveWith(own)); err == nil {
		resp.Body.Close()
		t.Error("with the self-made certificate, another certificate is trusted")
	}
}

// TestHSTSOnlyWithASitesCertificate: --tls-cert turns HSTS on (the app
// then sends it to host names only); the self-made certificate and plain
// HTTP do not.
func TestHSTSOnlyWithASitesCertificate(t *testing.T) {
	ca, caKey := newPrivateCA(t)
	_, certPath, keyPath := privateCALeaf(t, ca, caKey)
	for _, tc := range []struct {
		name string
		opts options
		want bool
	}{
		{"--tls-cert", options{tlsCert: certPath, tlsKey: keyPath}, true},
		{"--tls-self-signed", options{tlsSelfSigned: true, data: filepath.Join(t.TempDir(), "cqrs.db")}, false},
		{"plain HTTP", options{}, false},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		netw, err := setupNetwork(tc.opts, ln)
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := appConfig(tc.opts, netw, "127.0.0.1", clock.New(time.Now)).HSTS; got != tc.want {
			t.Errorf("%s: HSTS %v, want %v", tc.name, got, tc.want)
		}
	}
}
