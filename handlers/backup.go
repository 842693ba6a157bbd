package handlers

import (
	"context"
	"crypto/subtle"
	"io"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Backuper writes a consistent copy of the whole database: a capability of
// an engine that makes its own backups (bbolt), not of every engine.
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// sendBackup sends a consistent copy of the database, without working
// links (the store cuts them out of stored emails).
func (a *app) sendBackup(c *fiber.Ctx) error {
	if a.backup == nil {
		return refuse(fiber.StatusNotFound, "This database is not backed up here",
			"Back it up with the database's own tools (for PostgreSQL, pg_dump).")
	}
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="cqrs-backup-`+a.cfg.Now().Format("20060102-150405")+`.db"`)
	_, err := a.backup.Backup(c.UserContext(), c.Response().BodyWriter())
	return err
}

// adminBackup is the system administrator's download.
func (a *app) adminBackup(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	if a.backup != nil {
		if err := a.audit(c, cqrs.AuditEvent{Type: cqrs.AuditBackupDownloaded, Subject: u.UserID, Detail: "database backup at " + a.cfg.Now().Format(time.RFC3339)}); err != nil {
			return err
		}
	}
	return a.sendBackup(c)
}

// instanceBackup serves the backup subcommand of a second process on this
// computer, authorised by the token from the instance file.
func (a *app) instanceBackup(c *fiber.Ctx) error {
	const prefix = "Bearer "
	h := c.Get(fiber.HeaderAuthorization)
	if a.cfg.InstanceToken == "" || !strings.HasPrefix(h, prefix) ||
		subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(a.cfg.InstanceToken)) != 1 {
		return refuse(fiber.StatusForbidden, "You cannot do that")
	}
	return a.sendBackup(c)
}
