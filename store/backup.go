package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole database to w while the app
// keeps running: bbolt's hot backup, one read transaction.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// BackupSize is the size the next backup will have, for Content-Length.
func (s *Store) BackupSize() int64 {
	var n int64
	s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// Verify checks that the file at path is a whole database of this
// application, without changing it: bbolt opens it read-only and runs its
// consistency check, then the schema is read. A file another process holds
// is ErrLocked.
func Verify(path string) (schema uint64, err error) {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if errors.Is(err, bolt.ErrTimeout) {
		return 0, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return 0, fmt.Errorf("%s is not a CQRS database: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("consistency check failed: %w", first)
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return errors.New("it has no CQRS data (no meta bucket)")
		}
		v := meta.Get(keySchema)
		if len(v) != 8 {
			return errors.New("it has no schema version")
		}
		schema = binary.BigEndian.Uint64(v)
		if schema > SchemaVersion {
			return fmt.Errorf("its schema %d is newer than this binary's %d", schema, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return schema, nil
}

// BackupFile copies the database at path when no process has it open:
// read-only, so the file is not touched. A file in use is ErrLocked.
func BackupFile(path string, w io.Writer) (int64, error) {
	if _, err := Verify(path); err != nil {
		return 0, err
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if errors.Is(err, bolt.ErrTimeout) {
		return 0, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.View(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
