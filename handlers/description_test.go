package handlers

import (
	"strings"
	"testing"
)

// Every page says in a sentence what the service is, for search results
// and link previews (Lighthouse's SEO audit asks for it on the Login page).
func TestPagesDescribeTheService(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, path := range []string{"/login", "/register"} {
		r := c.get(path)
		desc := r.doc(t).Find(`head meta[name="description"]`)
		if desc.Length() != 1 || !strings.Contains(desc.AttrOr("content", ""), "Calculating Quality Reporting Service") {
			t.Errorf("%s: %d description meta elements, content %q", path, desc.Length(), desc.AttrOr("content", ""))
		}
	}
}
