package handlers

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cqrs-local/cqrs-signin/views"
)

// Field bounds, shared by set-up and administration.
const (
	minUserID  = 3
	maxUserID  = 32
	maxName    = 50
	maxEmail   = 254
	maxOrgName = 100
	minODS     = 3
	maxODS     = 10
	maxPhone   = 20
)

func trimSpace(s string) string { return strings.TrimSpace(s) }

func fieldError(field, msg string) []views.FieldError {
	return []views.FieldError{{Field: field, Message: msg}}
}

// hasControl reports control characters and the invisible line and
// paragraph separators and format characters, none of which belong in a
// name, an address or a header.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf)
	})
}

// validateUserID: 3-32 letters, digits, '.', '_' or '-'.
func validateUserID(v string) []views.FieldError {
	n := utf8.RuneCountInString(v)
	switch {
	case v == "":
		return fieldError("user_id", "Enter a User ID.")
	case n < minUserID || n > maxUserID:
		return fieldError("user_id", "User ID must be 3 to 32 characters long.")
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fieldError("user_id", "User ID can only contain letters A to Z, digits, full stops, underscores and hyphens.")
		}
	}
	return nil
}

func validatePersonName(field, label, v string) []views.FieldError {
	switch {
	case v == "":
		return fieldError(field, "Enter a "+label+".")
	case utf8.RuneCountInString(v) > maxName:
		return fieldError(field, "The "+label+" must be 50 characters or fewer.")
	case hasControl(v) || strings.ContainsAny(v, "<>"):
		return fieldError(field, "The "+label+" contains characters that are not allowed.")
	}
	return nil
}

// validateEmail accepts one bare address: no display name, no CR or LF
// (header injection), within the RFC length.
func validateEmail(v string) []views.FieldError {
	if v == "" {
		return fieldError("email", "Enter an email address.")
	}
	if len(v) > maxEmail || hasControl(v) {
		return fieldError("email", "Enter a valid email address, like name@nhs.net.")
	}
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || addr.Name != "" || !strings.Contains(v[strings.LastIndexByte(v, '@')+1:], ".") {
		return fieldError("email", "Enter a valid email address, like name@nhs.net.")
	}
	return nil
}

func validateOrgName(v string) []views.FieldError {
	switch {
	case v == "":
		return fieldError("org_name", "Enter the organisation name.")
	case utf8.RuneCountInString(v) > maxOrgName:
		return fieldError("org_name", "The organisation name must be 100 characters or fewer.")
	case hasControl(v) || strings.ContainsAny(v, "<>"):
		return fieldError("org_name", "The organisation name contains characters that are not allowed.")
	}
	return nil
}

func normaliseODS(v string) string { return strings.ToUpper(v) }

// validateODSCode: 3-10 letters and digits.
func validateODSCode(v string) []views.FieldError {
	if v == "" {
		return fieldError("ods_code", "Enter the organisation's ODS code.")
	}
	if len(v) < minODS || len(v) > maxODS || strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return fieldError("ods_code", "The ODS code must be 3 to 10 letters and digits, like Y12345.")
	}
	return nil
}

// validatePhone: optional; digits, spaces, and + ( ) - only.
func validatePhone(v string) []views.FieldError {
	if v == "" {
		return nil
	}
	if len(v) > maxPhone || strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == ' ' || r == '+' || r == '(' || r == ')' || r == '-')
	}) {
		return fieldError("work_phone", "Enter a phone number using digits, spaces, +, ( ) and -, up to 20 characters.")
	}
	return nil
}
