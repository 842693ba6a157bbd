// Package views holds the templ components of every screen. It imports no
// application package: handlers hand it view models shaped like the screen.
package views

// Page is what the layout needs on every screen.
type Page struct {
	Title     string
	CSRFToken string
	User      *SignedInUser // nil when nobody is signed in
	Version   string
	// InsecureLAN warns that passwords cross the network in clear.
	InsecureLAN bool
	// Training is the training banner and job aid panel; nil outside
	// training mode.
	Training *TrainingChrome
}

// SignedInUser is the header's account area.
type SignedInUser struct {
	Name           string
	UserID         string
	Organisation   string
	UnreadMessages int
	IsAdmin        bool
	// ClassBoard links the header to the class board: the trainer's, in
	// training mode.
	ClassBoard bool
}

// FieldError is one problem with one form field, for the error summary and
// the message next to the field.
type FieldError struct {
	Field   string // the input's id, for the summary's link
	Message string
}

// Errors lists a form's problems in screen order.
type Errors []FieldError

// For returns the messages that belong to field.
func (e Errors) For(field string) []string {
	var out []string
	for _, fe := range e {
		if fe.Field == field {
			out = append(out, fe.Message)
		}
	}
	return out
}

// Has reports whether field has a problem.
func (e Errors) Has(field string) bool { return len(e.For(field)) > 0 }

// RuleState is how a password policy line is shown.
type RuleState string

// Rule states.
const (
	RuleUnchecked RuleState = ""        // nothing typed yet, or checked on submit only
	RuleMet       RuleState = "met"     // satisfied by what was typed
	RuleNotMet    RuleState = "not-met" // broken by what was typed or submitted
)

// PolicyLine is one line of the Password Policy box.
type PolicyLine struct {
	Code     string
	Text     string
	State    RuleState
	OnSubmit bool // needs stored hashes, so only checked when the form is sent
	Note     string
	// Reason says why the typed password breaks this line (the strength
	// estimator's feedback), when the policy gives one.
	Reason string
	Sub    []PolicyLine
}

// PolicyBox is the Password Policy box beside the password fields.
type PolicyBox struct {
	Lines []PolicyLine
}

// Field is one text input of a form, with what the user typed.
type Field struct {
	ID           string
	Label        string
	Hint         string
	Value        string
	Type         string // "text" when empty
	Autocomplete string
	MaxLength    int
	Required     bool
}
