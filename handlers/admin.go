package handlers

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// UserAdminStore is what user administration needs from the store.
type UserAdminStore interface {
	CreateUser(ctx context.Context, u cqrs.User, linkHash []byte, linkTTL time.Duration, email *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
	Emails(ctx context.Context, f cqrs.EmailFilter) ([]cqrs.Email, error)
	LatestEmails(ctx context.Context, userIDs []uint64) (map[uint64]cqrs.Email, error)
	ListUsers(ctx context.Context, f cqrs.UserFilter) ([]cqrs.User, int, error)
	Organisation(ctx context.Context, id uint64) (cqrs.Organisation, error)
	Organisations(ctx context.Context) ([]cqrs.Organisation, error)
	RevokeInvitation(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error)
	SendLink(ctx context.Context, userID uint64, purpose cqrs.LinkPurpose, linkHash []byte, ttl time.Duration, email cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
	SetStatus(ctx context.Context, id uint64, status cqrs.Status, events ...cqrs.AuditEvent) (cqrs.User, error)
	UnlinkSSOSubject(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error)
	Unlock(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error)
	UpdateUser(ctx context.Context, edited cqrs.User, events ...cqrs.AuditEvent) (cqrs.User, error)
	EditUser(ctx context.Context, edited cqrs.User, keepSession []byte, notifyOld *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error)
	User(ctx context.Context, id uint64) (cqrs.User, error)
	UserByUserID(ctx context.Context, userID string) (cqrs.User, error)
}

const usersPerPage = 25

var roleLabels = map[cqrs.Role]string{
	cqrs.RoleSystemAdmin: "System administrator",
	cqrs.RoleUserAdmin:   "User Administrator",
	cqrs.RoleUser:        "User",
}

func isSystemAdmin(u cqrs.User) bool { return u.Role == cqrs.RoleSystemAdmin }

// orgScope is the organisation an administrator may see: 0 (all) for the
// system administrator, their own for a User Administrator.
func orgScope(admin cqrs.User) uint64 {
	if isSystemAdmin(admin) {
		return 0
	}
	return admin.OrgID
}

// managedUser loads the user named in the URL, if the signed-in
// administrator may manage them. Another organisation's user is "not
// found": a User Administrator learns nothing about other organisations.
func (a *app) managedUser(c *fiber.Ctx) (cqrs.User, cqrs.User, error) {
	admin, _ := currentUser(c)
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return admin, cqrs.User{}, fiber.ErrNotFound
	}
	u, err := a.userAdmin.User(c.UserContext(), id)
	// Own words, and one answer for a user who does not exist and one in another organisation: the 404 tells nothing about other organisations.
	if errors.Is(err, cqrs.ErrNotFound) || (err == nil && !isSystemAdmin(admin) && u.OrgID != admin.OrgID) {
		return admin, cqrs.User{}, refuse(fiber.StatusNotFound, "User not found", "There is no such user in your organisation.")
	}
	if err != nil {
		return admin, cqrs.User{}, err
	}
	if isSystemAdmin(u) && !isSystemAdmin(admin) {
		return admin, cqrs.User{}, refuse(fiber.StatusForbidden, "You cannot manage this user", "Only the system administrator can change the system administrator's account.")
	}
	if err := a.training.Scope(c, admin, u); err != nil {
		return admin, cqrs.User{}, err
	}
	return admin, u, nil
}

// adminUsers is the list with search, status filter and pages.
func (a *app) adminUsers(c *fiber.Ctx) error {
	admin, _ := currentUser(c)
	page, _ := strconv.Atoi(c.Query("page", "1"))
	if page < 1 {
		page = 1
	}
	q := trimSpace(c.Query("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	state := c.Query("state")
	switch state {
	case "", cqrs.StateInvited, cqrs.StateActive, cqrs.StateLocked, cqrs.StateDisabled:
	default:
		state = ""
	}
	users, total, err := a.userAdmin.ListUsers(c.UserContext(), cqrs.UserFilter{OrgID: orgScope(admin), Query: q, State: state, Offset: (page - 1) * usersPerPage, Limit: usersPerPage})
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Users")
	if err != nil {
		return err
	}
	m := views.UserListModel{Page: p, Query: q, Total: total, CanOrgs: isSystemAdmin(admin), Notice: c.Query("notice")}
	for _, s := range []struct{ v, l string }{{"", "Any status"}, {cqrs.StateInvited, "Invited"}, {cqrs.StateActive, "Active"}, {cqrs.StateLocked, "Locked"}, {cqrs.StateDisabled, "Disabled"}} {
		m.States = append(m.States, views.Option{Value: s.v, Label: s.l, Selected: s.v == state})
	}
	orgNames, err := a.orgNames(c.UserContext())
	if err != nil {
		return err
	}
	ids := make([]uint64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	latest, err := a.userAdmin.LatestEmails(c.UserContext(), ids)
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	for _, u := range users {
		row := views.AdminUserRow{
			ID: strconv.FormatUint(u.ID, 10), UserID: u.UserID, Name: u.FullName(), Email: u.Email,
			Organisation: orgNames[u.OrgID], Role: roleLabels[u.Role], State: u.State(), Invitation: u.Invitation(now),
		}
		if e, ok := latest[u.ID]; ok {
			row.EmailStatus = emailStatusLabels[e.Status]
			if e.Status == cqrs.EmailFailed && e.LastError != "" {
				row.EmailStatus += ": " + e.LastError
			}
		}
		m.Rows = append(m.Rows, row)
	}
	if total > 0 {
		m.From = (page-1)*usersPerPage + 1
		m.To = m.From + len(users) - 1
	}
	link := func(p int) string {
		v := url.Values{"page": {strconv.Itoa(p)}}
		if q != "" {
			v.Set("q", q)
		}
		if state != "" {
			v.Set("state", state)
		}
		return "/admin/users?" + v.Encode()
	}
	if page > 1 {
		m.PrevURL = link(page - 1)
	}
	if page*usersPerPage < total {
		m.NextURL = link(page + 1)
	}
	if isHTMX(c) {
		return render(c, fiber.StatusOK, views.UserTable(m))
	}
	return render(c, fiber.StatusOK, views.UserListPage(m))
}

func (a *app) orgNames(ctx context.Context) (map[uint64]string, error) {
	orgs, err := a.userAdmin.Organisations(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[uint64]string, len(orgs))
	for _, o := range orgs {
		names[o.ID] = o.Name + " (" + o.ODSCode + ")"
	}
	return names, nil
}

// userForm shapes the create (withUserID) or edit form.
func (a *app) userForm(ctx context.Context, admin cqrs.User, action, submit string, values map[string]string, withUserID bool, errs views.Errors) (views.UserFormModel, error) {
	m := views.UserFormModel{Action: action, Submit: submit, Errors: errs}
	if withUserID {
		m.Fields = append(m.Fields, views.Field{ID: "user_id", Label: "User ID", Hint: "3 to 32 letters, digits, full stops, underscores or hyphens.", Value: values["user_id"], MaxLength: maxUserID, Required: true})
	}
	emailHint := ""
	if len(a.cfg.EmailDomains) > 0 {
		emailHint = "A personal work address ending " + strings.Join(a.cfg.EmailDomains, " or ") + "."
	}
	m.Fields = append(m.Fields,
		views.Field{ID: "first_name", Label: "First name", Value: values["first_name"], MaxLength: maxName, Required: true},
		views.Field{ID: "last_name", Label: "Last name", Value: values["last_name"], MaxLength: maxName, Required: true},
		views.Field{ID: "work_phone", Label: "Work phone", Type: "tel", Value: values["work_phone"], MaxLength: maxPhone},
		views.Field{ID: "email", Label: "Email address", Hint: emailHint, Type: "email", Value: values["email"], MaxLength: maxEmail, Required: true},
	)
	orgs, err := a.userAdmin.Organisations(ctx)
	if err != nil {
		return m, err
	}
	for _, o := range orgs {
		if isSystemAdmin(admin) || o.ID == admin.OrgID {
			id := strconv.FormatUint(o.ID, 10)
			m.Orgs = append(m.Orgs, views.Option{Value: id, Label: o.Name + " (" + o.ODSCode + ")", Selected: id == values["org_id"]})
		}
	}
	for _, r := range assignableRoles(admin) {
		m.Roles = append(m.Roles, views.Option{Value: string(r), Label: roleLabels[r], Selected: string(r) == values["role"]})
	}
	return m, nil
}

// assignableRoles: nobody creates another system administrator.
func assignableRoles(admin cqrs.User) []cqrs.Role {
	return []cqrs.Role{cqrs.RoleUser, cqrs.RoleUserAdmin}
}

// parseUserForm validates the create or edit form; it checks that the
// organisation and role are ones this administrator may assign. A
// fixedRole (the system administrator's own) is kept whatever the form says.
func (a *app) parseUserForm(c *fiber.Ctx, admin cqrs.User, withUserID bool, fixedRole cqrs.Role) (map[string]string, cqrs.User, views.Errors) {
	values := formValues(c, "user_id", "first_name", "last_name", "work_phone", "email", "org_id", "role")
	var errs views.Errors
	if withUserID {
		errs = append(errs, validateUserID(values["user_id"])...)
	}
	errs = append(errs, validatePersonName("first_name", "first name", values["first_name"])...)
	errs = append(errs, validatePersonName("last_name", "last name", values["last_name"])...)
	errs = append(errs, validatePhone(values["work_phone"])...)
	errs = append(errs, a.validateWorkEmail(values["email"])...)
	orgID, err := strconv.ParseUint(values["org_id"], 10, 64)
	if err != nil || (!isSystemAdmin(admin) && orgID != admin.OrgID) {
		errs = append(errs, views.FieldError{Field: "org_id", Message: "Select an organisation."})
	} else if _, err := a.userAdmin.Organisation(c.UserContext(), orgID); err != nil {
		errs = append(errs, views.FieldError{Field: "org_id", Message: "Select an organisation."})
	}
	role := cqrs.Role(values["role"])
	if fixedRole != "" {
		role, values["role"] = fixedRole, string(fixedRole)
	} else if !slices.Contains(assignableRoles(admin), role) {
		errs = append(errs, views.FieldError{Field: "role", Message: "Select a role."})
	}
	u := cqrs.User{UserID: values["user_id"], FirstName: values["first_name"], LastName: values["last_name"],
		WorkPhone: values["work_phone"], Email: values["email"], OrgID: orgID, Role: role}
	return values, u, errs
}

// validateWorkEmail adds the site's allowed domains to validateEmail.
func (a *app) validateWorkEmail(v string) []views.FieldError {
	if errs := validateEmail(v); errs != nil {
		return errs
	}
	if len(a.cfg.EmailDomains) == 0 {
		return nil
	}
	domain := strings.ToLower(v[strings.LastIndexByte(v, '@')+1:])
	for _, d := range a.cfg.EmailDomains {
		if domain == strings.ToLower(d) {
			return nil
		}
	}
	return fieldError("email", "Enter a personal work email address ending "+strings.Join(a.cfg.EmailDomains, " or ")+".")
}

// newUserPage is "Set up a user".
func (a *app) newUserPage(c *fiber.Ctx) error {
	admin, _ := currentUser(c)
	values := map[string]string{"org_id": strconv.FormatUint(admin.OrgID, 10), "role": string(cqrs.RoleUser)}
	form, err := a.userForm(c.UserContext(), admin, "/admin/users", "Set up user and send email", values, true, nil)
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Set up a user")
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.NewUserPage(p, form, isSystemAdmin(admin)))
}

// createUser saves the user, their link and the registration email in one
// transaction, then wakes the mailer.
func (a *app) createUser(c *fiber.Ctx) error {
	admin, _ := currentUser(c)
	values, u, errs := a.parseUserForm(c, admin, true, "")
	var created cqrs.User
	if len(errs) == 0 {
		org, err := a.userAdmin.Organisation(c.UserContext(), u.OrgID)
		if err != nil {
			return err
		}
		token := secret.NewToken()
		expires := a.cfg.Now().Add(a.cfg.RegistrationLinkTTL)
		email := a.registrationEmail(c.UserContext(), u, admin, org, token, expires)
		created, err = a.userAdmin.CreateUser(c.UserContext(), u, secret.HashToken(token), a.cfg.RegistrationLinkTTL, &email,
			a.event(c, cqrs.AuditEvent{Type: evUserCreated, Subject: u.UserID, OrgID: u.OrgID, Detail: "role " + string(u.Role)}),
			a.event(c, cqrs.AuditEvent{Type: evLinkSent, Subject: u.UserID, OrgID: u.OrgID, Method: "registration"}))
		// Field errors in the form's words, not a page: the administrator corrects the form.
		switch {
		case errors.Is(err, cqrs.ErrConflict):
			if _, e := a.userAdmin.UserByUserID(c.UserContext(), u.UserID); e == nil {
				errs = append(errs, views.FieldError{Field: "user_id", Message: "That User ID is already in use."})
			} else {
				errs = append(errs, views.FieldError{Field: "email", Message: "That email address is already in use by another user."})
			}
		case err != nil:
			return err
		}
	}
	if len(errs) > 0 {
		form, err := a.userForm(c.UserContext(), admin, "/admin/users", "Set up user and send email", values, true, errs)
		if err != nil {
			return err
		}
		p, err := a.signedInPage(c, "Set up a user")
		if err != nil {
			return err
		}
		return render(c, fiber.StatusUnprocessableEntity, views.NewUserPage(p, form, isSystemAdmin(admin)))
	}
	a.wakeMailer()
	a.log.Info("user created", "by", admin.UserID, "user_id", created.UserID)
	return redirect(c, "/admin/users/"+strconv.FormatUint(created.ID, 10)+"?notice=created")
}

var userNotices = map[string]string{
	"created":             "The user has been set up and the registration email queued.",
	"saved":               "The changes have been saved.",
	"disabled":            "The account has been disabled and its sessions ended.",
	"enabled":             "The account has been enabled.",
	"unlocked":            "The account has been unlocked.",
	"resent":              "A new registration email has been queued. The previous link no longer works.",
	"revoked":             "The invitation has been revoked. Its link no longer works.",
	"reset":               "A password reset email has been queued.",
	"unlinked":            "The NHSmail sign-in link has been removed.",
	"second-factor-reset": "The second step has been reset and the user told by email. They set up their second step (an authenticator app or a passkey) again at their next sign-in.",
}

// userDetail is one user's page.
func (a *app) userDetail(c *fiber.Ctx) error {
	admin, u, err := a.managedUser(c)
	if err != nil {
		return err
	}
	values := map[string]string{"first_name": u.FirstName, "last_name": u.LastName, "work_phone": u.WorkPhone, "email": u.Email,
		"org_id": strconv.FormatUint(u.OrgID, 10), "role": string(u.Role)}
	return a.renderUserDetail(c, fiber.StatusOK, admin, u, values, nil, userNotices[c.Query("notice")])
}

func (a *app) renderUserDetail(c *fiber.Ctx, status int, admin, u cqrs.User, values map[string]string, errs views.Errors, notice string) error {
	id := strconv.FormatUint(u.ID, 10)
	form, err := a.userForm(c.UserContext(), admin, "/admin/users/"+id, "Save changes", values, false, errs)
	if err != nil {
		return err
	}
	if isSystemAdmin(u) { // the system administrator's role is not editable
		form.Roles = []views.Option{{Value: string(cqrs.RoleSystemAdmin), Label: roleLabels[cqrs.RoleSystemAdmin], Selected: true}}
	}
	p, err := a.signedInPage(c, u.FullName())
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	m := views.UserDetailModel{Page: p, ID: id, UserID: u.UserID, Name: u.FullName(), State: u.State(),
		Invitation: u.Invitation(now), Form: form, Notice: notice}
	if m.Invitation == cqrs.InvitePending {
		m.InviteExpires = u.InviteExpires.Format(timeFormat)
	}
	base := "/admin/users/" + id + "/"
	add := func(path, label string, warning bool) {
		_, confirm := userConfirmations[path] // asks first: see confirm.go
		m.Actions = append(m.Actions, views.UserAction{Path: base + path, Label: label, Secondary: !warning, Warning: warning, Confirm: confirm})
	}
	if u.PasswordHash == "" && u.Status != cqrs.StatusDisabled {
		add("resend", "Resend registration email", false)
		if !u.InviteRevoked {
			add("revoke", "Revoke invitation", false)
		}
	}
	if u.PasswordHash != "" && u.Status != cqrs.StatusDisabled {
		add("reset", "Send password reset link", false)
	}
	if !u.LockedAt.IsZero() {
		add("unlock", "Unlock account", false)
	}
	emails, err := a.userAdmin.Emails(c.UserContext(), cqrs.EmailFilter{UserID: u.ID, Limit: 20})
	if err != nil {
		return err
	}
	if u.SSOSubject != "" {
		if m.SSOLink, err = a.ssoLinkText(c.UserContext(), u, emails); err != nil {
			return err
		}
		add("unlink", "Remove NHSmail link", false)
	}
	if a.secondFactor != nil {
		st, err := a.secondFactor.SecondFactorStatus(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		if !st.Enrolled.IsZero() {
			add("second-factor/reset", "Reset second step (authenticator app, passkeys)", false)
		}
	}
	if u.ID != admin.ID {
		if u.Status == cqrs.StatusDisabled {
			add("enable", "Enable account", false)
		} else {
			add("disable", "Disable account", true)
		}
	}
	m.Emails = emailRows(emails)
	return render(c, status, views.UserDetailPage(m, isSystemAdmin(admin)))
}

// ssoLinkText says which NHSmail account the user's single sign-on is
// linked to, and since when: the account's email address when the
// embedded simulator has it, otherwise the provider's stable subject
// (Entra ID's object ID); the date from the email that told the user of
// the link, when it is among their recent emails (newest first).
func (a *app) ssoLinkText(ctx context.Context, u cqrs.User, emails []cqrs.Email) (string, error) {
	_, who, _ := strings.Cut(u.SSOSubject, "|")  // after the issuer
	if _, oid, ok := strings.Cut(who, ":"); ok { // Entra ID: tid:oid
		who = oid
	}
	if a.nhsmail != nil {
		accounts, err := a.nhsmail.NHSmailAccounts(ctx)
		if err != nil {
			return "", err
		}
		for _, acct := range accounts {
			if acct.ObjectID != "" && acct.ObjectID == who {
				who = acct.Email
				break
			}
		}
	}
	text := "Linked to NHSmail account " + who
	for _, e := range emails {
		if e.Kind == "nhsmail-linked" {
			text += " since " + e.Created.Format(timeFormat)
			break
		}
	}
	return text, nil
}

var emailStatusLabels = map[cqrs.EmailStatus]string{
	cqrs.EmailQueued: "queued",
	cqrs.EmailSent:   "sent",
	cqrs.EmailFailed: "failed",
	cqrs.EmailLocal:  "delivered to the local mailbox",
}

func emailRows(emails []cqrs.Email) []views.EmailRow {
	rows := make([]views.EmailRow, 0, len(emails))
	for _, e := range emails {
		r := views.EmailRow{ID: strconv.FormatUint(e.ID, 10), Kind: e.Kind, To: e.ToName + " <" + e.To + ">", Subject: e.Subject,
			Status: emailStatusLabels[e.Status], Created: e.Created.Format(timeFormat), Error: e.LastError, Attempts: e.Attempts}
		if !e.SentAt.IsZero() {
			r.SentAt = e.SentAt.Format(timeFormat)
		}
		rows = append(rows, r)
	}
	return rows
}

// updateUser saves the edit form.
func (a *app) updateUser(c *fiber.Ctx) error {
	admin, u, err := a.managedUser(c)
	if err != nil {
		return err
	}
	var fixedRole cqrs.Role
	if isSystemAdmin(u) { // nobody makes or unmakes the system administrator
		fixedRole = cqrs.RoleSystemAdmin
	}
	values, edited, errs := a.parseUserForm(c, admin, false, fixedRole)
	if len(errs) == 0 {
		edited.ID = u.ID
		events := []cqrs.AuditEvent{a.event(c, cqrs.AuditEvent{Type: evUserEdited, Subject: u.UserID, OrgID: edited.OrgID})}
		if edited.Role != u.Role {
			events = append(events, a.event(c, cqrs.AuditEvent{Type: evRoleChanged, Subject: u.UserID, OrgID: edited.OrgID, Detail: string(u.Role) + " to " + string(edited.Role)}))
		}
		// A field error in the form's words, not a page: the administrator corrects the form.
		if err := a.saveUserEdit(c, admin, u, edited, events); errors.Is(err, cqrs.ErrConflict) {
			errs = append(errs, views.FieldError{Field: "email", Message: "That email address is already in use by another user."})
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return a.renderUserDetail(c, fiber.StatusUnprocessableEntity, admin, u, values, errs, "")
	}
	a.log.Info("user edited", "by", admin.UserID, "user_id", u.UserID)
	return redirect(c, "/admin/users/"+strconv.FormatUint(u.ID, 10)+"?notice=saved")
}

// userEvent is an audit event about the user an action is on, recorded by
// the store call with the change.
type userEvent func(typ, detail string) cqrs.AuditEvent

// userAction wraps one administrator's action on a user they manage: the
// user is looked up and checked, do makes the change, and the answer is
// the user's page with a notice saying what was done.
func (a *app) userAction(done string, do func(c *fiber.Ctx, admin, u cqrs.User, event userEvent) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		admin, u, err := a.managedUser(c)
		if err != nil {
			return err
		}
		event := func(typ, detail string) cqrs.AuditEvent {
			return a.event(c, cqrs.AuditEvent{Type: typ, Subject: u.UserID, OrgID: u.OrgID, Method: "admin", Detail: detail})
		}
		err = do(c, admin, u, event)
		var pe *pageError
		switch {
		case errors.As(err, &pe):
			return err
		// Own words: what the conflict means for this user's account.
		case errors.Is(err, cqrs.ErrConflict):
			return refuse(fiber.StatusConflict, "That cannot be done for this user", "The user has already registered, or the account's state has changed. Nothing was changed.")
		case err != nil:
			return err
		}
		a.wakeMailer()
		a.log.Info("user action", "by", admin.UserID, "user_id", u.UserID, "action", done)
		return redirect(c, "/admin/users/"+strconv.FormatUint(u.ID, 10)+"?notice="+done)
	}
}

// disableUser stops the account signing in; nobody disables themselves.
func (a *app) disableUser(c *fiber.Ctx, admin, u cqrs.User, event userEvent) error {
	if u.ID == admin.ID {
		return refuse(fiber.StatusConflict, "You cannot disable your own account")
	}
	_, err := a.userAdmin.SetStatus(c.UserContext(), u.ID, cqrs.StatusDisabled, event(evUserDisabled, ""))
	return err
}

// enableUser lets a disabled account sign in again.
func (a *app) enableUser(c *fiber.Ctx, _, u cqrs.User, event userEvent) error {
	_, err := a.userAdmin.SetStatus(c.UserContext(), u.ID, cqrs.StatusActive, event(evUserEnabled, ""))
	return err
}

// unlockUser clears the lock and the failure count.
func (a *app) unlockUser(c *fiber.Ctx, _, u cqrs.User, event userEvent) error {
	_, err := a.userAdmin.Unlock(c.UserContext(), u.ID, event(evUnlock, ""))
	return err
}

// resendInvitation sends a new registration email; the previous link stops working.
func (a *app) resendInvitation(c *fiber.Ctx, admin, u cqrs.User, event userEvent) error {
	org, err := a.userAdmin.Organisation(c.UserContext(), u.OrgID)
	if err != nil {
		return err
	}
	token := secret.NewToken()
	email := a.registrationEmail(c.UserContext(), u, admin, org, token, a.cfg.Now().Add(a.cfg.RegistrationLinkTTL))
	_, err = a.userAdmin.SendLink(c.UserContext(), u.ID, cqrs.LinkRegister, secret.HashToken(token), a.cfg.RegistrationLinkTTL, email,
		event(evLinkSent, "registration (resent; the previous link revoked)"))
	return err
}

// unlinkNHSmail removes the NHSmail identity linked to the account.
func (a *app) unlinkNHSmail(c *fiber.Ctx, _, u cqrs.User, event userEvent) error {
	_, err := a.userAdmin.UnlinkSSOSubject(c.UserContext(), u.ID, event(evSSOUnlinked, ""))
	return err
}

// revokeInvitation withdraws an unused registration link.
func (a *app) revokeInvitation(c *fiber.Ctx, _, u cqrs.User, event userEvent) error {
	_, err := a.userAdmin.RevokeInvitation(c.UserContext(), u.ID, event(evInviteRevoked, ""))
	return err
}

// startPasswordReset emails the user an Unlock Account or Forgotten
// Password link: the administrator starts it, never learns it.
func (a *app) startPasswordReset(c *fiber.Ctx, _, u cqrs.User, event userEvent) error {
	token := secret.NewToken()
	email := a.resetEmail(c.UserContext(), u, token, a.cfg.Now().Add(a.cfg.ResetLinkTTL))
	_, err := a.userAdmin.SendLink(c.UserContext(), u.ID, cqrs.LinkReset, secret.HashToken(token), a.cfg.ResetLinkTTL, email,
		event(evLinkSent, "password reset"))
	return err
}
