package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The rest of what the handlers need, in the bbolt engine's words.

// setupKeyPrefix names the set-up tokens' hashes in meta. Each instance
// that starts before anyone is set up records its own, so every link
// printed works until one is used.
const setupKeyPrefix = "setup."

func setupKey(hash []byte) string { return setupKeyPrefix + hex.EncodeToString(hash) }

// SetSetupToken records the hash of a one-time set-up link's token, while
// there are no users.
func (s *Store) SetSetupToken(ctx context.Context, hash []byte) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var hasUsers bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&hasUsers); err != nil {
			return err
		}
		if hasUsers {
			return cqrs.ErrConflict
		}
		_, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, setupKey(hash), hash)
		return err
	})
}

// SetupPending reports whether hash is a set-up token's.
func (s *Store) SetupPending(ctx context.Context, hash []byte) bool {
	_, err := s.meta(ctx, setupKey(hash))
	return err == nil
}

// HasUsers reports whether anyone has been set up.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var hasUsers bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&hasUsers)
	return hasUsers, err
}

// CompleteSetup uses a set-up token once: the first organisation and its
// system administrator, invited with a registration link. Every set-up
// token's row is locked first, so of two set-ups at once (on two
// instances) the second finds them gone.
func (s *Store) CompleteSetup(ctx context.Context, setupHash []byte, org cqrs.Organisation, admin cqrs.User, linkHash []byte, linkTTL time.Duration, events ...cqrs.AuditEvent) (cqrs.User, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT key FROM meta WHERE key LIKE 'setup.%' FOR UPDATE`)
		if err != nil {
			return err
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if !slices.Contains(keys, setupKey(setupHash)) {
			return cqrs.ErrNotFound
		}
		var hasUsers bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&hasUsers); err != nil {
			return err
		}
		if hasUsers {
			return cqrs.ErrConflict
		}
		now := s.now()
		if err := tx.QueryRow(ctx, `INSERT INTO organisations (name, ods_code) VALUES ($1, $2) RETURNING id`, org.Name, org.ODSCode).Scan(&org.ID); err != nil {
			return notFound(err)
		}
		admin.OrgID, admin.Role, admin.Status, admin.Created, admin.InviteExpires = org.ID, cqrs.RoleSystemAdmin, cqrs.StatusInvited, now, now.Add(linkTTL)
		if err := insertUser(ctx, tx, &admin); err != nil {
			return err
		}
		if err := putLink(ctx, tx, linkHash, cqrs.Link{UserID: admin.ID, Purpose: cqrs.LinkRegister, Created: now, Expires: now.Add(linkTTL)}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM meta WHERE key LIKE 'setup.%'`); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, admin, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: complete set-up: %w", err)
	}
	return admin, nil
}

// ChangePassword sets a signed-in user's new password, ends their other
// sessions and queues the notice, in one transaction.
func (s *Store) ChangePassword(ctx context.Context, userID uint64, newHash string, keepSession []byte, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(ctx, tx, userID); err != nil {
			return err
		}
		now := s.now()
		if err := keepInHistory(ctx, tx, u.ID, u.SetPassword(newHash, now)); err != nil {
			return err
		}
		if err := putUser(ctx, tx, u); err != nil {
			return err
		}
		if err := deleteUserSessions(ctx, tx, u.ID, keepSession); err != nil {
			return err
		}
		if err := notifyOwner(ctx, tx, u, notify, now); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: change password: %w", err)
	}
	return u, nil
}

// SendLink stores a new single-use link for the user and queues its email.
// A new registration link renews the invitation.
func (s *Store) SendLink(ctx context.Context, userID uint64, purpose cqrs.LinkPurpose, linkHash []byte, ttl time.Duration, email cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.now()
		var err error
		if u, err = lockUser(ctx, tx, userID); err != nil {
			return err
		}
		link, reinvited, err := u.NewLink(purpose, now, ttl)
		if err != nil {
			return err
		}
		if reinvited {
			if err := putUser(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := putLink(ctx, tx, linkHash, link); err != nil {
			return err
		}
		email.UserID, email.OrgID = u.ID, u.OrgID
		if err := enqueueEmail(ctx, tx, &email, now); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: send link: %w", err)
	}
	return u, nil
}

// RevokeInvitation withdraws an unregistered user's registration links.
func (s *Store) RevokeInvitation(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error) {
	return s.changeUser(ctx, "revoke invitation", userID, events, func(tx pgx.Tx, u *cqrs.User) error {
		if err := u.RevokeInvitation(); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM links WHERE user_id = $1 AND purpose = $2 AND used = '0001-01-01 00:00:00+00'`,
			int64(u.ID), string(cqrs.LinkRegister))
		return err
	})
}

// Unlock clears a lock and the failure count.
func (s *Store) Unlock(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error) {
	return s.changeUser(ctx, "unlock", userID, events, func(_ pgx.Tx, u *cqrs.User) error {
		u.Unlock()
		return nil
	})
}

// UnlinkSSOSubject forgets the user's single sign-on identity.
func (s *Store) UnlinkSSOSubject(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error) {
	return s.changeUser(ctx, "unlink sso", userID, events, func(_ pgx.Tx, u *cqrs.User) error {
		u.SSOSubject = ""
		return nil
	})
}

// LinkSSOSubject links a single sign-on identity to the user on its first
// use and tells the owner. A subject linked to another user, or a user
// linked to another subject, is ErrConflict.
func (s *Store) LinkSSOSubject(ctx context.Context, userID uint64, subject string, notify *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if u.SSOSubject == subject {
			return nil // already linked: nothing changes, nobody is told twice
		}
		if u.SSOSubject != "" {
			return cqrs.ErrConflict
		}
		u.SSOSubject = subject
		if err := putUser(ctx, tx, u); err != nil { // the unique index refuses a subject taken meanwhile
			return err
		}
		now := s.now()
		if err := notifyOwner(ctx, tx, u, notify, now); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: link sso: %w", err)
	}
	return u, nil
}

// UserBySSOSubject finds the user linked to a single sign-on identity.
func (s *Store) UserBySSOSubject(ctx context.Context, subject string) (cqrs.User, error) {
	u, err := getUser(ctx, s.pool, `sso_subject = $1`, subject)
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: user by sso subject: %w", err)
	}
	return u, nil
}

// changeUser runs change on the locked user, saves it and records events.
func (s *Store) changeUser(ctx context.Context, what string, userID uint64, events []cqrs.AuditEvent, change func(tx pgx.Tx, u *cqrs.User) error) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if err := change(tx, &u); err != nil {
			return err
		}
		if err := putUser(ctx, tx, u); err != nil {
			return err
		}
		return recordEvents(ctx, tx, events, u, s.now())
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return u, nil
}

// Organisations lists every organisation by name.
func (s *Store) Organisations(ctx context.Context) ([]cqrs.Organisation, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, ods_code FROM organisations ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: organisations: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (cqrs.Organisation, error) {
		var o cqrs.Organisation
		return o, row.Scan(&o.ID, &o.Name, &o.ODSCode)
	})
}

// UpdateOrganisation renames an organisation or changes its ODS code.
func (s *Store) UpdateOrganisation(ctx context.Context, o cqrs.Organisation) (cqrs.Organisation, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE organisations SET name = $2, ods_code = $3 WHERE id = $1`, int64(o.ID), o.Name, o.ODSCode)
	if err == nil && tag.RowsAffected() == 0 {
		err = cqrs.ErrNotFound
	}
	if err != nil {
		return cqrs.Organisation{}, fmt.Errorf("postgres: update organisation: %w", notFound(err))
	}
	return o, nil
}

// Messages returns the user's messages newest first, and how many are unread.
func (s *Store) Messages(ctx context.Context, userID uint64) ([]cqrs.Message, int, error) {
	rows, err := s.pool.Query(ctx, messagesQuery, int64(userID))
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: messages: %w", err)
	}
	return msgs, unreadIn(msgs), nil
}

const messagesQuery = `SELECT id, user_id, sender, subject, body, sent, read FROM messages WHERE user_id = $1 ORDER BY id DESC`

func unreadIn(msgs []cqrs.Message) int {
	unread := 0
	for _, m := range msgs {
		if !m.Read {
			unread++
		}
	}
	return unread
}

// Inbox reads the message centre in one round trip: the user's messages
// and the organisation in the page's header.
func (s *Store) Inbox(ctx context.Context, userID, orgID uint64) (cqrs.Inbox, error) {
	in := cqrs.Inbox{Organisation: cqrs.Organisation{ID: orgID}}
	var b pgx.Batch
	b.Queue(`SELECT name, ods_code FROM organisations WHERE id = $1`, int64(orgID)).QueryRow(func(row pgx.Row) error {
		return notFound(row.Scan(&in.Organisation.Name, &in.Organisation.ODSCode))
	})
	b.Queue(messagesQuery, int64(userID)).Query(func(rows pgx.Rows) (err error) {
		in.Messages, err = pgx.CollectRows(rows, scanMessage)
		return err
	})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return cqrs.Inbox{}, fmt.Errorf("postgres: inbox: %w", err)
	}
	in.Unread = unreadIn(in.Messages)
	return in, nil
}

func scanMessage(row pgx.CollectableRow) (cqrs.Message, error) {
	var m cqrs.Message
	err := row.Scan(&m.ID, &m.UserID, &m.From, &m.Subject, &m.Body, &m.Sent, &m.Read)
	m.Sent = m.Sent.UTC()
	return m, err
}

// HeaderInfo is what every signed-in page's header shows: the user's
// organisation and their unread count.
func (s *Store) HeaderInfo(ctx context.Context, userID, orgID uint64) (cqrs.Organisation, int, error) {
	o := cqrs.Organisation{ID: orgID}
	var unread int
	err := s.pool.QueryRow(ctx, `SELECT name, ods_code, (SELECT count(*) FROM messages WHERE user_id = $2 AND NOT read)
		FROM organisations WHERE id = $1`, int64(orgID), int64(userID)).Scan(&o.Name, &o.ODSCode, &unread)
	if err != nil {
		return cqrs.Organisation{}, 0, fmt.Errorf("postgres: header: %w", notFound(err))
	}
	return o, unread, nil
}

// OpenMessage returns one of the user's messages and marks it read.
// Another user's message is ErrNotFound.
func (s *Store) OpenMessage(ctx context.Context, userID, id uint64) (cqrs.Message, error) {
	rows, err := s.pool.Query(ctx, `UPDATE messages SET read = true WHERE user_id = $1 AND id = $2
		RETURNING id, user_id, sender, subject, body, sent, read`, int64(userID), int64(id))
	if err == nil {
		var m cqrs.Message
		if m, err = pgx.CollectExactlyOneRow(rows, scanMessage); err == nil {
			return m, nil
		}
	}
	return cqrs.Message{}, fmt.Errorf("postgres: open message: %w", notFound(err))
}

// DeleteMessage removes one of the user's messages.
func (s *Store) DeleteMessage(ctx context.Context, userID, id uint64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM messages WHERE user_id = $1 AND id = $2`, int64(userID), int64(id))
	if err == nil && tag.RowsAffected() == 0 {
		err = cqrs.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: delete message: %w", err)
	}
	return nil
}

// Broadcast leaves a message for every user of orgID (every user when 0)
// who is not disabled, and returns how many.
func (s *Store) Broadcast(ctx context.Context, orgID uint64, from, subject, body string) (int, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO messages (user_id, sender, subject, body, sent, read)
		SELECT id, $2, $3, $4, $5, false FROM users WHERE ($1 = 0 OR org_id = $1) AND status <> 'disabled' ORDER BY id`,
		int64(orgID), from, subject, body, s.now())
	if err != nil {
		return 0, fmt.Errorf("postgres: broadcast: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Email returns one outbox entry.
func (s *Store) Email(ctx context.Context, id uint64) (cqrs.Email, error) {
	e, err := scanEmail(s.pool.QueryRow(ctx, `SELECT `+emailColumns+` FROM outbox WHERE id = $1`, int64(id)))
	if err != nil {
		return cqrs.Email{}, fmt.Errorf("postgres: email %d: %w", id, err)
	}
	return e, nil
}

// LatestEmails returns, for each of the given users, their newest outbox entry.
func (s *Store) LatestEmails(ctx context.Context, userIDs []uint64) (map[uint64]cqrs.Email, error) {
	ids := make([]int64, len(userIDs))
	for i, id := range userIDs {
		ids[i] = int64(id)
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (user_id) `+emailColumns+` FROM outbox
		WHERE user_id = ANY($1) ORDER BY user_id, id DESC`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest emails: %w", err)
	}
	defer rows.Close()
	out := make(map[uint64]cqrs.Email, len(userIDs))
	for rows.Next() {
		e, err := scanEmail(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: latest emails: %w", err)
		}
		out[e.UserID] = e
	}
	return out, rows.Err()
}

// DueEmails lists queued emails whose time has come, without claiming them.
func (s *Store) DueEmails(ctx context.Context, limit int) ([]cqrs.Email, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+emailColumns+` FROM outbox WHERE status = $1 AND next_attempt <= $2 ORDER BY id LIMIT $3`,
		string(cqrs.EmailQueued), s.now(), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: due emails: %w", err)
	}
	defer rows.Close()
	var out []cqrs.Email
	for rows.Next() {
		e, err := scanEmail(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// MarkEmailAttemptFailed records a failed SMTP attempt and when to try
// next; final gives up.
func (s *Store) MarkEmailAttemptFailed(ctx context.Context, id uint64, errText string, next time.Time, final bool) error {
	status := cqrs.EmailQueued
	if final {
		status = cqrs.EmailFailed
	}
	return s.updateEmail(ctx, id, `attempts = attempts + 1, last_error = $2, next_attempt = $3, status = $4`, errText, next, string(status))
}

// MarkEmailDelivered records delivery to the local mailbox.
func (s *Store) MarkEmailDelivered(ctx context.Context, id uint64) error {
	return s.updateEmail(ctx, id, `status = $2, sent_at = $3`, string(cqrs.EmailLocal), s.now())
}

func (s *Store) updateEmail(ctx context.Context, id uint64, set string, args ...any) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET `+set+` WHERE id = $1`, append([]any{int64(id)}, args...)...)
	if err == nil && tag.RowsAffected() == 0 {
		err = cqrs.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: update email %d: %w", id, err)
	}
	return nil
}

// PutSSOPending records a sign-on request and drops ones that have expired.
func (s *Store) PutSSOPending(ctx context.Context, stateHash []byte, p cqrs.SSOPending) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sso_pending WHERE expires <= $1`, s.now()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO sso_pending (state_hash, nonce, verifier, next, expires, used) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (state_hash) DO UPDATE SET nonce = $2, verifier = $3, next = $4, expires = $5, used = $6`,
			stateHash, p.Nonce, p.Verifier, p.Next, p.Expires, p.Used)
		return err
	})
}

// TakeSSOPending uses a sign-on request once: whichever instance the
// provider's answer reaches, only the first use finds it.
func (s *Store) TakeSSOPending(ctx context.Context, stateHash []byte) (cqrs.SSOPending, error) {
	var p cqrs.SSOPending
	err := s.pool.QueryRow(ctx, `WITH old AS (SELECT * FROM sso_pending WHERE state_hash = $1 AND NOT used FOR UPDATE)
		UPDATE sso_pending SET used = true, nonce = '', verifier = '', next = '' FROM old WHERE sso_pending.state_hash = old.state_hash
		RETURNING old.nonce, old.verifier, old.next, old.expires`, stateHash).Scan(&p.Nonce, &p.Verifier, &p.Next, &p.Expires)
	if err != nil {
		return cqrs.SSOPending{}, fmt.Errorf("postgres: sso request: %w", notFound(err))
	}
	p.Expires = p.Expires.UTC()
	if !s.now().Before(p.Expires) {
		return cqrs.SSOPending{}, fmt.Errorf("postgres: sso request: %w", cqrs.ErrExpired)
	}
	return p, nil
}

// SSOStateUsed reports whether a sign-on request was used and has not yet expired.
func (s *Store) SSOStateUsed(ctx context.Context, stateHash []byte) (bool, error) {
	var used bool
	var expires time.Time
	err := s.pool.QueryRow(ctx, `SELECT used, expires FROM sso_pending WHERE state_hash = $1`, stateHash).Scan(&used, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: sso request: %w", err)
	}
	return used && s.now().Before(expires), nil
}

// CountHit counts one request under key in the window starting at window
// and returns the window's count: one atomic statement, so requests to
// several instances add up exactly. The first hit of a window also clears
// windows that began over an hour before it (the longest window is an hour).
func (s *Store) CountHit(ctx context.Context, key string, window time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `INSERT INTO rate_hits (key, window_start, hits) VALUES ($1, $2, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_hits.hits + 1 RETURNING hits`, key, window).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count hit: %w", err)
	}
	if n == 1 {
		if _, err := s.pool.Exec(ctx, `DELETE FROM rate_hits WHERE window_start < $1`, window.Add(-time.Hour)); err != nil {
			return 0, fmt.Errorf("postgres: count hit: %w", err)
		}
	}
	return n, nil
}
