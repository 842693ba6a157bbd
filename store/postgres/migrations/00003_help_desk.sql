-- The site's own help desk, set by the system administrator (no row: the
-- national CQRS help desk).

-- +goose Up
CREATE TABLE help_desk (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    email    TEXT NOT NULL,
    phone    TEXT NOT NULL,
    hours    TEXT NOT NULL
);

-- +goose Down
DROP TABLE help_desk;
