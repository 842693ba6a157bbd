package views

import (
	"context"
	"html"
	"io"
)

// templ (v0.3) copies every interpolated value ({ s }) through fmt.Sprint
// before escaping it: two allocations per value, on every page. The values
// every page or every message writes (the layout's header, the message
// list, the CSRF field) go through these instead, escaped exactly as templ
// escapes text and attributes (html.EscapeString), written straight into
// the page's buffer. Each is a string type, so @text(s) in a template is a
// conversion and a method call: no closure or copy is made.

// text renders s as HTML text: @text(s) writes what { s } writes.
type text string

// Render writes the escaped text.
func (t text) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, html.EscapeString(string(t)))
	return err
}

// CSRFField is in every form that changes something: the hidden field
// with the request's CSRF token.
type CSRFField string

// Render writes the hidden input, its value escaped.
func (token CSRFField) Render(_ context.Context, w io.Writer) error {
	if _, err := io.WriteString(w, `<input type="hidden" name="csrf_token" value="`); err != nil {
		return err
	}
	if _, err := io.WriteString(w, html.EscapeString(string(token))); err != nil {
		return err
	}
	_, err := io.WriteString(w, `">`)
	return err
}

// constantHTML is markup fixed when the program starts, built from
// constants (never from input) and escaped then, not on every page.
type constantHTML string

// Render writes the markup.
func (h constantHTML) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, string(h))
	return err
}

// htmxConfigMeta is the layout's htmx-config tag: its JSON is full of
// quotes, which would otherwise be escaped again on every page.
var htmxConfigMeta = constantHTML(`<meta name="htmx-config" content="` + html.EscapeString(htmxConfig) + `">`)
