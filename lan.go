package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// exposure is how the app is reached: on this computer only (the default),
// or on the classroom's network when --addr names a LAN or all interfaces.
type exposure struct {
	baseURL     string
	hosts       []string // extra names and addresses the Host check accepts
	urls        []string // the addresses learners can type
	tls         *tls.Config
	fingerprint string // SHA-256 of the certificate, to compare in browsers
	insecureLAN bool   // plain HTTP on a network address, knowingly
}

// setupNetwork decides the scheme, the addresses and the certificate.
// Passwords must not cross a network in clear, so a network address needs
// HTTPS unless --insecure-lan says otherwise.
func setupNetwork(opts options, ln net.Listener) (exposure, error) {
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ip := net.ParseIP(host)
	local := ip != nil && ip.IsLoopback()
	var n exposure
	names := []string{"localhost", "127.0.0.1", "::1"}
	addrs := []string{host}
	if !local {
		if ip != nil && ip.IsUnspecified() {
			addrs = lanAddresses()
		}
		n.hosts = append(n.hosts, addrs...)
		if name, err := os.Hostname(); err == nil && name != "" {
			n.hosts = append(n.hosts, name)
			if !strings.Contains(name, ".") {
				n.hosts = append(n.hosts, name+".local")
			}
		}
		names = append(names, n.hosts...)
	}
	switch {
	case opts.tlsCert != "" || opts.tlsKey != "":
		if opts.tlsCert == "" || opts.tlsKey == "" {
			return n, errors.New("--tls-cert and --tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(opts.tlsCert, opts.tlsKey)
		if err != nil {
			return n, fmt.Errorf("TLS certificate: %w", err)
		}
		n.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case opts.tlsSelfSigned:
		cert, err := selfSignedCertificate(filepath.Dir(opts.data), names)
		if err != nil {
			return n, err
		}
		n.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case !local && !opts.insecureLAN:
		return n, errors.New("listening on the network needs HTTPS, or passwords would cross it in clear: add --tls-self-signed (or --tls-cert and --tls-key), or --insecure-lan to accept the risk")
	default:
		n.insecureLAN = !local
	}
	scheme := "http"
	if n.tls != nil {
		scheme = "https"
		sum := sha256.Sum256(n.tls.Certificates[0].Certificate[0])
		hexed := make([]string, len(sum))
		for i, b := range sum {
			hexed[i] = fmt.Sprintf("%02X", b)
		}
		n.fingerprint = strings.Join(hexed, ":")
	}
	first := host
	if len(addrs) > 0 && !local {
		first = addrs[0]
	}
	n.baseURL = scheme + "://" + net.JoinHostPort(first, port)
	for _, h := range append(addrs, n.hosts...) {
		u := scheme + "://" + net.JoinHostPort(h, port)
		if !slices.Contains(n.urls, u) {
			n.urls = append(n.urls, u)
		}
	}
	return n, nil
}

// lanAddresses are this computer's non-loopback IPv4 addresses (the ones a
// classroom types), then IPv6 ones.
func lanAddresses() []string {
	var v4, v6 []string
	ifaces, _ := net.InterfaceAddrs()
	for _, a := range ifaces {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			v4 = append(v4, ipn.IP.String())
		} else {
			v6 = append(v6, ipn.IP.String())
		}
	}
	out := append(v4, v6...)
	if len(out) == 0 {
		out = []string{"127.0.0.1"}
	}
	return out
}

// selfSignedCertificate loads the classroom certificate kept beside the
// database, or makes one (ECDSA P-256, one year) for names when there is
// none or it does not cover them all.
func selfSignedCertificate(dir string, names []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, "classroom-cert.pem"), filepath.Join(dir, "classroom-key.pem")
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && time.Now().Before(leaf.NotAfter.Add(-24*time.Hour)) && covers(leaf, names) {
			return cert, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "CQRS sign-in on this computer", Organization: []string{"CQRS sign-in (local)"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func covers(leaf *x509.Certificate, names []string) bool {
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// ownCertificateClient is an HTTP client that trusts exactly the
// certificate this app serves (its only root), not the system's roots nor
// the CA that issued it: whether self-made or from a private CA, the
// certificate is in no trust store, yet the relying party must reach the
// embedded NHSmail simulator behind it.
func (n exposure) ownCertificateClient() (*http.Client, error) {
	leaf, err := x509.ParseCertificate(n.tls.Certificates[0].Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: transport}, nil
}
