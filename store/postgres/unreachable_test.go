package postgres_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

// Unreachable tells the database being away from the database refusing:
// only the first is "try again in a moment".
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = pgx.Connect(context.Background(), "postgres://nobody@"+closed+"/none?sslmode=disable&connect_timeout=2")
	if err == nil || !postgres.Unreachable(err) {
		t.Errorf("a refused connection (%v): Unreachable false", err)
	}

	s := openStore(t, storetest.PostgresDSN(t), nil)
	org := cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"}
	if _, err := s.CreateOrganisation(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateOrganisation(t.Context(), org)
	if !errors.Is(err, cqrs.ErrConflict) || postgres.Unreachable(err) {
		t.Errorf("a duplicate organisation (%v): Unreachable true or not a conflict", err)
	}
	if postgres.Unreachable(nil) || postgres.Unreachable(cqrs.ErrNotFound) {
		t.Error("no error, or not found: Unreachable true")
	}
}
