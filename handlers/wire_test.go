package handlers

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

func decode(t *testing.T, encoding string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch encoding {
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	default:
		return body
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", encoding, err)
	}
	return b
}

// TestPagesReferToHashedAssets: the pages load every asset by its
// content-hashed name, which is cached as immutable for a year, so a
// second visit within the year fetches the page alone.
func TestPagesReferToHashedAssets(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/login")
	wantStatus(t, r, 200)
	doc := r.doc(t)
	var urls []string
	for _, sel := range []string{`link[href]`, `script[src]`} {
		attr := "href"
		if strings.HasPrefix(sel, "script") {
			attr = "src"
		}
		for _, n := range doc.Find(sel).Nodes {
			for _, a := range n.Attr {
				if a.Key == attr {
					urls = append(urls, a.Val)
				}
			}
		}
	}
	if len(urls) < 5 {
		t.Fatalf("Login page refers to %q, want the icon, two stylesheets and two scripts", urls)
	}
	hashed := 0
	for _, u := range urls {
		if !strings.HasPrefix(u, "/assets/") {
			t.Errorf("asset URL %q is not under /assets/", u)
			continue
		}
		for _, plain := range []string{"/assets/css/app.css", "/assets/js/app.js", "/assets/vendor/htmx.min.js", "/assets/vendor/nhsuk-frontend.min.css", "/assets/images/favicon.svg"} {
			if u == plain {
				t.Errorf("Login page loads %s by its plain name, which is cached for an hour only", u)
			}
		}
		a := c.get(u)
		wantStatus(t, a, 200)
		if got := a.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q, want a year, immutable", u, got)
		} else {
			hashed++
		}
	}
	if hashed != len(urls) {
		t.Errorf("%d of %d assets are cached as immutable", hashed, len(urls))
	}
}

// TestAssetsPrecompressed: an asset comes in the encoding the browser
// accepts, brotli first, decoding to the plain bytes, with Vary; a
// browser accepting neither gets the plain bytes.
func TestAssetsPrecompressed(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, name := range []string{"vendor/nhsuk-frontend.min.css", "vendor/htmx.min.js", "css/app.css", "js/app.js"} {
		u := urlOf(t, c, name)
		plain := c.get(u)
		wantStatus(t, plain, 200)
		if got := plain.Header.Get("Content-Encoding"); got != "" {
			t.Errorf("GET %s without Accept-Encoding: Content-Encoding %q", u, got)
		}
		for _, tc := range []struct{ accept, want string }{
			{"gzip, deflate, br, zstd", "br"},
			{"br;q=1.0, gzip;q=0.8", "br"},
			{"gzip", "gzip"},
			{"br;q=0, gzip", "gzip"},
			{"br;q=0.0, gzip;q=0", ""},
			{"*", "br"},
			{"identity", ""},
		} {
			r := c.get(u, header("Accept-Encoding", tc.accept))
			wantStatus(t, r, 200)
			if got := r.Header.Get("Content-Encoding"); got != tc.want {
				t.Errorf("GET %s, Accept-Encoding %q: Content-Encoding %q, want %q", u, tc.accept, got, tc.want)
			}
			if got := r.Header.Get("Vary"); !strings.Contains(got, "Accept-Encoding") {
				t.Errorf("GET %s: Vary %q, want Accept-Encoding", u, got)
			}
			if got := decode(t, tc.want, []byte(r.body)); !bytes.Equal(got, []byte(plain.body)) {
				t.Errorf("GET %s, Accept-Encoding %q: %d bytes decode to %d, want the %d plain bytes", u, tc.accept, len(r.body), len(got), len(plain.body))
			}
			if tc.want != "" && len(r.body) > len(plain.body)*6/10 {
				t.Errorf("GET %s in %s: %d bytes of %d, want far fewer", u, tc.want, len(r.body), len(plain.body))
			}
		}
	}
}

// TestPlainAssetNamesRevalidate: by its plain name an asset is cached for
// an hour, and then a browser asks again with the ETag and gets 304.
func TestPlainAssetNamesRevalidate(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/assets/css/app.css")
	wantStatus(t, r, 200)
	if got := r.Header.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("Cache-Control %q, want an hour", got)
	}
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := c.get("/assets/css/app.css", header("If-None-Match", etag))
	wantStatus(t, again, 304)
	if again.body != "" {
		t.Errorf("304 with a body of %d bytes", len(again.body))
	}
	other := c.get("/assets/css/app.css", header("If-None-Match", `W/"000000000000"`))
	wantStatus(t, other, 200)
}

// TestPagesCompressedOverPlainHTTP: a page is compressed for a browser that
// accepts it, over plain HTTP (localhost, the classroom network); see
// uncompressedPage for why not over HTTPS.
func TestPagesCompressedOverPlainHTTP(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	plain := c.get("/login")
	r := c.get("/login", header("Accept-Encoding", "gzip"))
	wantStatus(t, r, 200)
	if got := r.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", got)
	}
	if got := r.Header.Get("Vary"); !strings.Contains(got, "Accept-Encoding") {
		t.Errorf("Vary %q, want Accept-Encoding", got)
	}
	if len(r.body) >= len(plain.body)/2 {
		t.Errorf("compressed page %d bytes, plain %d", len(r.body), len(plain.body))
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("compressed page Cache-Control %q, want no-store", got)
	}
}

// urlOf is the hashed URL the Login page gives for an asset.
func urlOf(t *testing.T, c *client, name string) string {
	t.Helper()
	r := c.get("/login")
	dot := strings.LastIndexByte(name, '.')
	prefix, ext := "/assets/"+name[:dot]+".", name[dot:]
	for _, field := range strings.FieldsFunc(r.body, func(r rune) bool { return r == '"' }) {
		if strings.HasPrefix(field, prefix) && strings.HasSuffix(field, ext) && len(field) == len(prefix)+12+len(ext) {
			return field
		}
	}
	t.Fatalf("the Login page does not refer to %s", name)
	return ""
}
