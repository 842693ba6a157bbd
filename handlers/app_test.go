package handlers

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// TestStoreErrorsHaveOneAnswerEach: a store error a handler passes on, as
// the store wraps it, is the page its table row says, never a server fault.
func TestStoreErrorsHaveOneAnswerEach(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("store: user: %w", cqrs.ErrNotFound), 404},
		{fmt.Errorf("postgres: update user: %w", cqrs.ErrConflict), 409},
		{fmt.Errorf("store: link: %w", cqrs.ErrExpired), 410},
		{errors.New("disk full"), 0},
	} {
		got := 0
		if pe := storeAnswer(tc.err); pe != nil {
			got = pe.status
		}
		if got != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, got, tc.status)
		}
	}
}
