package nhsmail

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// maxBody bounds a POST body; the app limits bodies too, but the provider
// must not rely on being mounted behind it.
const maxBody = 64 << 10

// contentSecurity is the app's policy (no inline script or style
// anywhere) plus form-action, which browsers also apply to the redirect
// that follows a form: the sign-in form's answer goes to CQRS's callback.
// Each source is an origin rebuilt from its parsed parts, so nothing in a
// registered URI can add a directive.
func contentSecurity(self string, redirectURIs []string) string {
	formAction := []string{"'self'"}
	seen := map[string]bool{self: true}
	for _, raw := range redirectURIs {
		if o, ok := cqrs.RedirectOrigin(raw); ok && !seen[o] {
			seen[o] = true
			formAction = append(formAction, o)
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action " + strings.Join(formAction, " ")
}

// setSecurityHeaders goes on every answer. The sign-in page takes passwords,
// so it must never be framed or cached.
func (p *Provider) setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// readableRequest refuses query strings and form bodies that are not valid
// UTF-8 after decoding, or too large, so nothing malformed reaches zitadel or
// the store. It answers 0 when the request can be read.
func readableRequest(r *http.Request) (int, string) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || !validValues(query) {
		return http.StatusBadRequest, "It contained characters that are not valid text."
	}
	if r.Method != http.MethodPost {
		return 0, ""
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return 0, ""
	}
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return http.StatusUnsupportedMediaType, "Only form submissions are accepted here."
	}
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return http.StatusRequestEntityTooLarge, "It was too large."
		}
		return http.StatusBadRequest, "It could not be read as a form."
	}
	if !validValues(r.PostForm) {
		return http.StatusBadRequest, "It contained characters that are not valid text."
	}
	return 0, ""
}

func validValues(v url.Values) bool {
	for k, vs := range v {
		if !utf8.ValidString(k) {
			return false
		}
		for _, s := range vs {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// render writes a page; it renders into a buffer first so a template error
// becomes a clean 500 rather than half a page.
func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		p.log.Error("nhsmail: render", "path", r.URL.Path, "error", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message renders the simulator's plain page for refusals and failures.
func (p *Provider) message(w http.ResponseWriter, r *http.Request, status int, heading string, paragraphs ...string) {
	p.messageWithLink(w, r, status, heading, nil, paragraphs...)
}

func (p *Provider) messageWithLink(w http.ResponseWriter, r *http.Request, status int, heading string, link *views.NHSmailLink, paragraphs ...string) {
	p.render(w, r, status, views.NHSmailMessagePage(views.NHSmailMessageModel{
		Title: heading, Heading: heading, Paragraphs: paragraphs, Link: link,
	}))
}

func (p *Provider) notFound(w http.ResponseWriter, r *http.Request) {
	p.message(w, r, http.StatusNotFound, "Page not found", "There is no NHSmail page at this address.")
}

func (p *Provider) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if p.cfg.Unavailable != nil && p.cfg.Unavailable(err) {
		// Nothing was written (the transaction rolled back), and the
		// store reconnects by itself.
		p.log.Warn("nhsmail: "+what+": the database cannot be reached", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "5")
		p.message(w, r, http.StatusServiceUnavailable, "Sorry, NHSmail is unavailable for a moment",
			"Nothing was changed. Please try again in a moment.")
		return
	}
	p.log.Error("nhsmail: "+what, "path", r.URL.Path, "error", err)
	p.message(w, r, http.StatusInternalServerError, "Sorry, there is a problem with NHSmail",
		"Nothing was changed. Try again later.")
}
