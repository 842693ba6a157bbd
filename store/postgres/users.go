package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

const userColumns = `id, user_id, first_name, last_name, email, work_phone, org_id, role, status, password_hash,
	password_changed, failed_sign_ins, locked_at, last_sign_in, invite_expires, invite_revoked, COALESCE(sso_subject, ''), created`

func scanUser(row pgx.Row) (cqrs.User, error) {
	var u cqrs.User
	var role, status string
	err := row.Scan(&u.ID, &u.UserID, &u.FirstName, &u.LastName, &u.Email, &u.WorkPhone, &u.OrgID, &role, &status, &u.PasswordHash,
		&u.PasswordChanged, &u.FailedSignIns, &u.LockedAt, &u.LastSignIn, &u.InviteExpires, &u.InviteRevoked, &u.SSOSubject, &u.Created)
	if err != nil {
		return cqrs.User{}, notFound(err)
	}
	u.Role, u.Status = cqrs.Role(role), cqrs.Status(status)
	utc(&u.PasswordChanged, &u.LockedAt, &u.LastSignIn, &u.InviteExpires, &u.Created)
	return u, nil
}

// utc gives times back as the domain holds them: PostgreSQL answers in the
// session's zone.
func utc(ts ...*time.Time) {
	for _, t := range ts {
		*t = t.UTC()
	}
}

// queryer is a pool or a transaction.
type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getUser(ctx context.Context, q queryer, where string, arg any) (cqrs.User, error) {
	return scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
}

// lockUser reads a user for the rest of the transaction: other instances
// wait for it, so a count or a state is never decided on a stale copy.
func lockUser(ctx context.Context, tx pgx.Tx, id uint64) (cqrs.User, error) {
	return getUser(ctx, tx, `id = $1 FOR UPDATE`, int64(id))
}

func putUser(ctx context.Context, tx pgx.Tx, u cqrs.User) error {
	_, err := tx.Exec(ctx, `UPDATE users SET user_id = $2, first_name = $3, last_name = $4, email = $5, work_phone = $6,
		org_id = $7, role = $8, status = $9, password_hash = $10, password_changed = $11, failed_sign_ins = $12, locked_at = $13,
		last_sign_in = $14, invite_expires = $15, invite_revoked = $16, sso_subject = NULLIF($17, ''), created = $18 WHERE id = $1`,
		int64(u.ID), u.UserID, u.FirstName, u.LastName, u.Email, u.WorkPhone, int64(u.OrgID), string(u.Role), string(u.Status), u.PasswordHash,
		u.PasswordChanged, u.FailedSignIns, u.LockedAt, u.LastSignIn, u.InviteExpires, u.InviteRevoked, u.SSOSubject, u.Created)
	return notFound(err)
}

func insertUser(ctx context.Context, tx pgx.Tx, u *cqrs.User) error {
	err := tx.QueryRow(ctx, `INSERT INTO users (user_id, first_name, last_name, email, work_phone, org_id, role, status,
		password_hash, password_changed, failed_sign_ins, locked_at, last_sign_in, invite_expires, invite_revoked, sso_subject, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULLIF($16, ''), $17) RETURNING id`,
		u.UserID, u.FirstName, u.LastName, u.Email, u.WorkPhone, int64(u.OrgID), string(u.Role), string(u.Status),
		u.PasswordHash, u.PasswordChanged, u.FailedSignIns, u.LockedAt, u.LastSignIn, u.InviteExpires, u.InviteRevoked, u.SSOSubject, u.Created).Scan(&u.ID)
	return notFound(err)
}

// User returns the user with the record ID.
func (s *Store) User(ctx context.Context, id uint64) (cqrs.User, error) {
	u, err := getUser(ctx, s.pool, `id = $1`, int64(id))
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: user %d: %w", id, err)
	}
	return u, nil
}

// UserByUserID finds a user by User ID, ignoring case.
func (s *Store) UserByUserID(ctx context.Context, userID string) (cqrs.User, error) {
	u, err := getUser(ctx, s.pool, `lower(user_id) = lower($1)`, userID)
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: user by User ID: %w", err)
	}
	return u, nil
}

// UserByEmail finds a user by email, ignoring case.
func (s *Store) UserByEmail(ctx context.Context, email string) (cqrs.User, error) {
	u, err := getUser(ctx, s.pool, `lower(email) = lower($1)`, email)
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: user by email: %w", err)
	}
	return u, nil
}

// CreateOrganisation adds an organisation; its ODS code is unique ignoring case.
func (s *Store) CreateOrganisation(ctx context.Context, o cqrs.Organisation) (cqrs.Organisation, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO organisations (name, ods_code) VALUES ($1, $2) RETURNING id`, o.Name, o.ODSCode).Scan(&o.ID)
	if err != nil {
		return cqrs.Organisation{}, fmt.Errorf("postgres: create organisation: %w", notFound(err))
	}
	return o, nil
}

// Organisation returns the organisation with the ID.
func (s *Store) Organisation(ctx context.Context, id uint64) (cqrs.Organisation, error) {
	o := cqrs.Organisation{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT name, ods_code FROM organisations WHERE id = $1`, int64(id)).Scan(&o.Name, &o.ODSCode)
	if err != nil {
		return cqrs.Organisation{}, fmt.Errorf("postgres: organisation %d: %w", id, notFound(err))
	}
	return o, nil
}

// CreateUser adds an invited user with their registration link and, when
// given, its email, all in one transaction.
func (s *Store) CreateUser(ctx context.Context, u cqrs.User, linkHash []byte, linkTTL time.Duration, email *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.now()
		u.Status, u.Created, u.InviteExpires = cqrs.StatusInvited, now, now.Add(linkTTL)
		if err := insertUser(ctx, tx, &u); err != nil {
			return err
		}
		if err := putLink(ctx, tx, linkHash, cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkRegister, Created: now, Expires: now.Add(linkTTL)}); err != nil {
			return err
		}
		if email != nil {
			email.UserID, email.OrgID = u.ID, u.OrgID
			if err := enqueueEmail(ctx, tx, email, now); err != nil {
				return err
			}
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	return u, nil
}

// UpdateUser saves an administrator's edit: names, phone, email, role and
// organisation; EditUser with no session kept and no notice.
func (s *Store) UpdateUser(ctx context.Context, edited cqrs.User, events ...cqrs.AuditEvent) (cqrs.User, error) {
	return s.EditUser(ctx, edited, nil, nil, events...)
}

// EditUser saves an administrator's edit. In the same transaction, a
// change of role or organisation ends the user's sessions except
// keepSession (the editor's own, which the caller rotates), and a change
// of email queues notifyOld (when not nil) to the previous address.
func (s *Store) EditUser(ctx context.Context, edited cqrs.User, keepSession []byte, notifyOld *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(ctx, tx, edited.ID); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1)`, int64(edited.OrgID)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("organisation %d: %w", edited.OrgID, cqrs.ErrNotFound)
		}
		before := u
		edit := u.Edit(edited)
		if err := putUser(ctx, tx, u); err != nil {
			return err
		}
		if edit.EndSessions {
			if err := deleteUserSessions(ctx, tx, u.ID, keepSession); err != nil {
				return err
			}
		}
		now := s.now()
		if notifyOld != nil && edit.EmailChanged {
			if err := notifyOwner(ctx, tx, before, notifyOld, now); err != nil {
				return err
			}
		}
		return recordEvents(ctx, tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: update user: %w", err)
	}
	return u, nil
}

// SetStatus enables or disables an account; disabling ends its sessions.
func (s *Store) SetStatus(ctx context.Context, id uint64, status cqrs.Status, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = lockUser(ctx, tx, id); err != nil {
			return err
		}
		endSessions := u.SetStatus(status)
		if err := putUser(ctx, tx, u); err != nil {
			return err
		}
		if endSessions {
			if err := deleteUserSessions(ctx, tx, u.ID, nil); err != nil {
				return err
			}
		}
		return recordEvents(ctx, tx, events, u, s.now())
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("postgres: set status: %w", err)
	}
	return u, nil
}

// ListUsers returns one page of matching users in User ID order, and how
// many match.
func (s *Store) ListUsers(ctx context.Context, f cqrs.UserFilter) ([]cqrs.User, int, error) {
	if f.Limit <= 0 {
		f.Limit = 25
	}
	q := strings.ToLower(strings.TrimSpace(f.Query))
	where := `($1 = 0 OR org_id = $1) AND ($2 = '' OR strpos(lower(user_id || ' ' || first_name || ' ' || last_name || ' ' || email), $2) > 0) AND (` + stateSQL + ` = $3 OR $3 = '')`
	args := []any{int64(f.OrgID), q, f.State}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: list users: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE `+where+` ORDER BY lower(user_id) OFFSET $4 LIMIT $5`,
		append(args, f.Offset, f.Limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: list users: %w", err)
	}
	defer rows.Close()
	var page []cqrs.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("postgres: list users: %w", err)
		}
		page = append(page, u)
	}
	return page, total, rows.Err()
}

// stateSQL is cqrs.User.State in SQL.
const stateSQL = `(CASE WHEN status = 'disabled' THEN 'disabled' WHEN locked_at > '0001-01-01 00:00:00+00' THEN 'locked'
	WHEN status = 'invited' THEN 'invited' ELSE 'active' END)`
