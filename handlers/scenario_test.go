package handlers

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// The roles a request is sent as, named as the access table names them
// (it has no column for a plain user of another organisation).
const (
	roleAnon          = "anon"          // a visitor, not signed in
	roleUser          = "user"          // a plain user
	roleOtherOrgUser  = "otherOrgUser"  // a plain user of another organisation
	roleSameOrgAdmin  = "sameOrgAdmin"  // a User Administrator of the organisation concerned
	roleOtherOrgAdmin = "otherOrgAdmin" // a User Administrator of another organisation
	roleSysAdmin      = "sysAdmin"      // the system administrator
	roleLearner       = "learner"       // a learner in training mode
	roleTokenRight    = "tokenRight"    // the instance token (the backup subcommand)
	roleTokenWrong    = "tokenWrong"    // a wrong instance token
)

// scenario is one request and what must come of it, in the shape of
// PocketBase's ApiScenario: who sends what, the answer, and the change to
// the database. The refusal cases are tables of these, run by
// runScenarios; a table lives in the test file of the handler it tests.
type scenario struct {
	Name   string
	Method string // GET when empty
	URL    string
	Role   string // whose browser sends it: a key of the roles given to runScenarios

	// Form is a POST's fields (sent URL-encoded). CSRFFrom is the page
	// whose form token is added as csrf_token, read in the role's browser
	// as a person's form would carry it; empty adds none.
	Form     url.Values
	CSRFFrom string
	Body     string            // a raw body sent as a form, instead of Form
	Headers  map[string]string // extra request headers
	Host     string            // the Host header, when not the app's own
	// OverListener sends the request over a real loopback listener, for
	// what only fasthttp's own limits answer (the body limit).
	OverListener bool
	// Before runs after the database is read for Unchanged and before the
	// CSRF token is read and the request sent: for a step of the case
	// itself (another browser's token, the clock moved on), in the
	// browser c, and may change the form.
	Before func(t *testing.T, c *client, form url.Values)

	ExpectedStatus int
	// ExpectedLocation is the start of a redirect's Location.
	ExpectedLocation string
	// ExpectedContent must all be in the body, NotExpectedContent none of
	// it; both are matched against the body as a reader sees it (templ's
	// &#39; read as an apostrophe).
	ExpectedContent    []string
	NotExpectedContent []string

	// The database change: Unchanged wants the database file byte for byte
	// as it was before Before, the CSRF page and the request; ExpectedChange
	// checks the store after them.
	Unchanged      bool
	ExpectedChange func(t *testing.T)
	// After checks what else the answer must be (cookies, a comparison
	// with other answers).
	After func(t *testing.T, c *client, r response)
}

// runScenarios sends each scenario, in order, as a subtest of its name, from
// the role's browser in roles (a nil browser: a new one for each scenario),
// and checks what came of it.
func runScenarios(t *testing.T, e *testEnv, roles map[string]*client, scenarios []scenario) {
	t.Helper()
	var base string // the loopback listener, started for the first scenario that needs it
	for _, s := range scenarios {
		t.Run(s.Name, func(t *testing.T) {
			c, ok := roles[s.Role]
			if !ok {
				t.Fatalf("no browser for role %q", s.Role)
			}
			if c == nil {
				c = e.client()
			}
			if s.OverListener && base == "" {
				base = e.serve()
			}
			var before []byte
			if s.Unchanged {
				before = e.dbBytes()
			}
			r := s.send(t, c, base)
			if r.StatusCode != s.ExpectedStatus {
				t.Fatalf("%s %s as %s: status = %d, want %d; body:\n%s", s.method(), s.URL, s.Role, r.StatusCode, s.ExpectedStatus, excerpt(r.body))
			}
			if loc := r.Header.Get("Location"); s.ExpectedLocation != "" && !strings.HasPrefix(loc, s.ExpectedLocation) {
				t.Errorf("%s %s as %s: Location = %q, want %s…", s.method(), s.URL, s.Role, loc, s.ExpectedLocation)
			}
			read := strings.ReplaceAll(r.body, "&#39;", "'")
			for _, want := range s.ExpectedContent {
				if !strings.Contains(read, want) {
					t.Errorf("body lacks %q; body:\n%s", want, excerpt(r.body))
				}
			}
			for _, unwanted := range s.NotExpectedContent {
				if strings.Contains(read, unwanted) {
					t.Errorf("body has %q; body:\n%s", unwanted, excerpt(r.body))
				}
			}
			if s.Unchanged && !bytes.Equal(before, e.dbBytes()) {
				t.Errorf("%s %s as %s changed the database", s.method(), s.URL, s.Role)
			}
			if s.ExpectedChange != nil {
				s.ExpectedChange(t)
			}
			if s.After != nil {
				s.After(t, c, r)
			}
		})
	}
}

func (s scenario) method() string {
	if s.Method == "" {
		return http.MethodGet
	}
	return s.Method
}

// send makes the scenario's request from c (over the listener at base
// when it asks for one).
func (s scenario) send(t *testing.T, c *client, base string) response {
	t.Helper()
	form := cloneForm(s.Form) // a row's Before may change it; the table stays as written
	if s.Before != nil {
		s.Before(t, c, form)
	}
	if s.CSRFFrom != "" {
		form.Set("csrf_token", c.csrf(s.CSRFFrom))
	}
	var opts []reqOpt
	for k, v := range s.Headers {
		opts = append(opts, header(k, v))
	}
	if s.Host != "" {
		opts = append(opts, host(s.Host))
	}
	body := s.Body
	if s.method() != http.MethodGet {
		opts = append([]reqOpt{header("Content-Type", fiber.MIMEApplicationForm)}, opts...)
		if body == "" {
			body = form.Encode()
		}
	}
	if s.OverListener {
		return c.over(base, s.method(), s.URL, body, opts...)
	}
	return c.do(s.method(), s.URL, body, opts...)
}
