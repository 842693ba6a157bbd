package handlers

import (
	"regexp"
	"strings"
	"testing"
)

// TestTextAssetsNameTheirCharset: the CSS holds non-ASCII characters in
// `content:`; without a charset a browser may decode them as another
// encoding and show mojibake.
func TestTextAssetsNameTheirCharset(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/assets/css/app.css", "/assets/vendor/nhsuk-frontend.min.css", "/assets/js/app.js", "/assets/vendor/htmx.min.js", "/assets/images/favicon.svg"} {
		r := e.client().get(path)
		wantStatus(t, r, 200)
		if ct := r.Header.Get("Content-Type"); !strings.Contains(strings.ToLower(ct), "charset=utf-8") {
			t.Errorf("GET %s: Content-Type %q, want charset=utf-8", path, ct)
		}
	}
}

// externalURL is any url(...) or @import that leaves this site, and any
// @font-face; cssComment is a comment, which asks for nothing.
var (
	externalURL = regexp.MustCompile(`(?i)(url\(\s*["']?\s*(https?:)?//|@import|@font-face)`)
	cssComment  = regexp.MustCompile(`(?s)/\*.*?\*/`)
)

// TestStylesheetsRequestNothingElsewhere: the NHS stylesheet is built from
// its Sass sources without @font-face (its Frutiger files are on an NHS web
// address the CSP blocks, and the app must work offline).
func TestStylesheetsRequestNothingElsewhere(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/assets/vendor/nhsuk-frontend.min.css", "/assets/css/app.css"} {
		r := e.client().get(path)
		wantStatus(t, r, 200)
		if m := externalURL.FindAllString(cssComment.ReplaceAllString(r.body, ""), 5); m != nil {
			t.Errorf("GET %s asks for more: %q (run `go tool task deps` to rebuild the stylesheet)", path, m)
		}
	}
}
