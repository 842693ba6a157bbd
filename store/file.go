package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// ErrCorrupt means the database file exists but is not a whole bbolt
// database; Open has left it untouched.
var ErrCorrupt = errors.New("store: database file is damaged")

// corrupt is the refusal a person reads at start-up: what is wrong, that
// nothing was changed, and how to get going again.
func corrupt(path string, why error) error {
	return fmt.Errorf("%w: %s is not a usable CQRS database (%v). It has not been changed. "+
		"To recover: stop CQRS, move this file aside (keep it for investigation), copy your latest backup of the database to %s, "+
		"and start CQRS again; or start with --data pointing at another file to begin afresh", ErrCorrupt, path, why, path)
}

// createIfMissing makes a new, initialised database at path when there is no
// file there. It is built under a temporary name and linked into place, so
// the path never holds a half-made file: an empty file at path can then only
// be damage, never our own interrupted start.
func createIfMissing(path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // exists (or cannot be seen: bolt.Open reports it)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	db, err := bolt.Open(name, 0o600, nil)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	// Link, unlike rename, never replaces a file another process made meanwhile.
	if err := os.Link(name, path); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
			return nil
		}
		if err := os.Rename(name, path); err != nil { // file systems without hard links
			return fmt.Errorf("store: create %s: %w", path, err)
		}
	}
	return nil
}

// bbolt's on-disk meta page: a 16-byte page header, then magic, version,
// page size, flags, the root bucket (root page, sequence), the freelist
// page, the high-water page ID, the transaction ID and an FNV-64a checksum
// of everything before it.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSumOffset  = 4*4 + 16 + 8 + 8 + 8
	metaSize       = metaSumOffset + 8
	minPageSize    = 1024
	maxPageSize    = 1 << 24
)

type fileMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

func parseMeta(b []byte) (fileMeta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return fileMeta{}, errors.New("meta page cut short")
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.NativeEndian // bbolt writes its meta page in the machine's order
	if le.Uint32(m[0:]) != boltMagic {
		return fileMeta{}, errors.New("not a bbolt file")
	}
	if le.Uint32(m[4:]) != boltVersion {
		return fileMeta{}, errors.New("unknown bbolt version")
	}
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	if h.Sum64() != le.Uint64(m[metaSumOffset:]) {
		return fileMeta{}, errors.New("meta page checksum mismatch")
	}
	fm := fileMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if fm.pageSize < minPageSize || fm.pageSize > maxPageSize || fm.pageSize&(fm.pageSize-1) != 0 {
		return fileMeta{}, errors.New("impossible page size")
	}
	return fm, nil
}

// checkFile reads the two meta pages of an existing file without opening
// it as a database, and refuses what bbolt would mistreat: an empty file
// (bbolt would write a new database into it), no valid meta page, or a
// file shorter than the pages its newest meta page says exist (bbolt
// would fault reading past the end through its memory map).
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return nil // permissions and the like: bolt.Open reports them
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil
	}
	size := info.Size()
	if size == 0 {
		return errors.New("the file is empty")
	}
	head := make([]byte, 4096)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading it failed: %v", err)
	}
	head = head[:n]
	var metas []fileMeta
	first, err0 := parseMeta(head)
	if err0 == nil {
		metas = append(metas, first)
	}
	// The second meta page sits one page in; its size comes from the first
	// meta when valid, else every size bbolt could have used is tried.
	sizes := []int64{}
	if err0 == nil {
		sizes = append(sizes, int64(first.pageSize))
	} else {
		for ps := int64(minPageSize); ps <= 64*1024; ps *= 2 {
			sizes = append(sizes, ps)
		}
	}
	for _, ps := range sizes {
		buf := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(buf, ps); err != nil {
			continue
		}
		if m, err := parseMeta(buf); err == nil && int64(m.pageSize) == ps {
			metas = append(metas, m)
			break
		}
	}
	if len(metas) == 0 {
		if allZero(head) {
			return errors.New("its first page is all zero bytes")
		}
		return fmt.Errorf("no valid bbolt meta page: %v", err0)
	}
	newest := metas[0]
	for _, m := range metas[1:] {
		if m.txid > newest.txid {
			newest = m
		}
	}
	if need := int64(newest.pgid) * int64(newest.pageSize); size < need {
		return fmt.Errorf("the file is %d bytes but its data runs to %d bytes: it was cut short", size, need)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
