package handlers

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// AuditStore is the security audit log.
type AuditStore interface {
	Audit(ctx context.Context, e cqrs.AuditEvent) error
	AuditEvents(ctx context.Context, f cqrs.AuditFilter) ([]cqrs.AuditEvent, int, error)
}

// Short names for the audit event types the handlers write; the names
// themselves are cqrs's one list (cqrs.AuditTypes).
const (
	evSignIn          = cqrs.AuditSignIn
	evSignInFailed    = cqrs.AuditSignInFailed
	evSignInLocked    = cqrs.AuditSignInLocked
	evSignOut         = cqrs.AuditSignOut
	evUnlock          = cqrs.AuditUnlock
	evPasswordSet     = cqrs.AuditPasswordSet
	evPasswordChanged = cqrs.AuditPasswordChanged
	evPasswordReset   = cqrs.AuditPasswordReset
	evLinkSent        = cqrs.AuditLinkSent
	evLinkUsed        = cqrs.AuditLinkUsed
	evLinkRefused     = cqrs.AuditLinkRefused
	evInviteRevoked   = cqrs.AuditInvitationRevoked
	evUserCreated     = cqrs.AuditUserCreated
	evUserEdited      = cqrs.AuditUserEdited
	evRoleChanged     = cqrs.AuditRoleChanged
	evUserDisabled    = cqrs.AuditUserDisabled
	evUserEnabled     = cqrs.AuditUserEnabled
	evSSORefused      = cqrs.AuditSSORefused
	evSSOUnlinked     = cqrs.AuditSSOUnlinked
	evSetupUsed       = cqrs.AuditSetupUsed
	evResetRequested  = cqrs.AuditResetRequested
)

// auditTypes are the types the audit page filters by: every one, less
// training mode's outside it.
func (a *app) auditTypes() []string {
	var out []string
	for _, t := range cqrs.AuditTypes {
		if a.cfg.Training || !cqrs.TrainingAudit(t) {
			out = append(out, t)
		}
	}
	return out
}

// event stamps a security event with who did it and from where. A change
// hands its events to the store call that makes it, which records them in
// the same transaction.
func (a *app) event(c *fiber.Ctx, e cqrs.AuditEvent) cqrs.AuditEvent {
	if u, ok := currentUser(c); ok && e.Actor == "" {
		e.Actor = u.UserID
	}
	e.IP = c.IP()
	return e
}

// audit records a security event that comes with no change (a refusal, a
// download). The request fails when the event cannot be recorded: nothing
// security-relevant happens unlogged.
func (a *app) audit(c *fiber.Ctx, e cqrs.AuditEvent) error {
	if err := a.auditLog.Audit(c.UserContext(), a.event(c, e)); err != nil {
		return fmt.Errorf("audit %s: %w", e.Type, err)
	}
	return nil
}

// auditFilter reads the audit page's filters, scoped to what the
// administrator may see.
func (a *app) auditFilter(c *fiber.Ctx) (cqrs.AuditFilter, views.AuditModel) {
	admin, _ := currentUser(c)
	f := cqrs.AuditFilter{OrgID: orgScope(admin), Subject: trimSpace(c.Query("user")), Type: c.Query("type")}
	types := a.auditTypes()
	valid := false
	for _, t := range types {
		valid = valid || t == f.Type
	}
	if !valid {
		f.Type = ""
	}
	m := views.AuditModel{User: f.Subject, From: c.Query("from"), To: c.Query("to")}
	if t, err := time.ParseInLocation("2006-01-02", m.From, time.Local); err == nil {
		f.From = t
	} else {
		m.From = ""
	}
	if t, err := time.ParseInLocation("2006-01-02", m.To, time.Local); err == nil {
		f.To = t.AddDate(0, 0, 1) // the whole "to" day
	} else {
		m.To = ""
	}
	m.Types = append(m.Types, views.Option{Value: "", Label: "Any event", Selected: f.Type == ""})
	for _, t := range types {
		m.Types = append(m.Types, views.Option{Value: t, Label: t, Selected: f.Type == t})
	}
	return f, m
}

const auditPerPage = 50

// auditPage is the audit log with filters and pages.
func (a *app) auditPage(c *fiber.Ctx) error {
	admin, _ := currentUser(c)
	f, m := a.auditFilter(c)
	page, _ := strconv.Atoi(c.Query("page", "1"))
	if page < 1 {
		page = 1
	}
	f.Offset, f.Limit = (page-1)*auditPerPage, auditPerPage
	events, total, err := a.auditLog.AuditEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Audit log")
	if err != nil {
		return err
	}
	m.Page, m.Total, m.CanOrgs = p, total, isSystemAdmin(admin)
	for _, e := range events {
		m.Rows = append(m.Rows, auditRow(e))
	}
	q := url.Values{}
	for k, v := range map[string]string{"user": m.User, "type": f.Type, "from": m.From, "to": m.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	m.CSVURL = "/admin/audit.csv?" + q.Encode()
	if page > 1 {
		q.Set("page", strconv.Itoa(page-1))
		m.PrevURL = "/admin/audit?" + q.Encode()
	}
	if page*auditPerPage < total {
		q.Set("page", strconv.Itoa(page+1))
		m.NextURL = "/admin/audit?" + q.Encode()
	}
	return render(c, fiber.StatusOK, views.AuditPage(m))
}

func auditRow(e cqrs.AuditEvent) views.AuditRow {
	return views.AuditRow{Time: e.Time.Format("2006-01-02 15:04:05"), Type: e.Type, Actor: e.Actor, Subject: e.Subject, IP: e.IP, Method: e.Method, Detail: e.Detail}
}

// auditCSV downloads the filtered log. Every cell is escaped by csvCell, so
// no typed value can forge a line or run as a formula.
func (a *app) auditCSV(c *fiber.Ctx) error {
	f, _ := a.auditFilter(c)
	events, _, err := a.auditLog.AuditEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="cqrs-audit.csv"`)
	w := csv.NewWriter(c.Response().BodyWriter())
	w.Write([]string{"time", "event", "actor", "user", "ip", "method", "detail"})
	for _, e := range events {
		r := auditRow(e)
		w.Write([]string{r.Time, csvCell(r.Type), csvCell(r.Actor), csvCell(r.Subject), csvCell(r.IP), csvCell(r.Method), csvCell(r.Detail)})
	}
	w.Flush()
	return w.Error()
}

// csvCell makes a value safe for the CSV download (ASVS 16.4.1). Control
// characters and Unicode line separators become visible escapes (\n, \x1b,
// \u2028; a backslash is doubled so the escapes stay unambiguous): a User
// ID typed with a newline would otherwise start a forged line for anyone
// reading the file line by line. A cell a spreadsheet would run as a
// formula is prefixed with a quote.
func csvCell(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	s = b.String()
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}
