package mailer_test

import (
	"context"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/mailer"
	"github.com/cqrs-local/cqrs-signin/store"
)

// stopsAtRecord is the store, answering as PostgreSQL does (a call on an
// ended context fails), with the sender told to stop the moment the
// server has taken an email and its sending is recorded.
type stopsAtRecord struct {
	*store.Store
	stop context.CancelFunc
}

func (o stopsAtRecord) MarkEmailSent(ctx context.Context, id uint64) error {
	o.stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.Store.MarkEmailSent(ctx, id)
}

// TestAnEmailSentAsTheSenderStopsIsRecordedSent: an email the server took
// is recorded sent even when the sender is stopped at that moment, so the
// next pass does not send it again.
func TestAnEmailSentAsTheSenderStopsIsRecordedSent(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	be, cfg := startServer(t, mailer.TLSNone)
	e := queue(t, st, "ada@example.nhs.uk")
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	if _, err := mailer.NewSender(nil, cfg, stopsAtRecord{st, stop}, nil, clk.Now).DeliverDue(ctx); err != nil {
		t.Errorf("DeliverDue: %v", err)
	}
	if n := len(be.messages()); n != 1 {
		t.Fatalf("the server got %d messages, want 1", n)
	}
	if got := email(t, st, e.ID); got.Status != cqrs.EmailSent {
		t.Errorf("status %q after the server took it, want %q: the next pass would send it again", got.Status, cqrs.EmailSent)
	}
}
