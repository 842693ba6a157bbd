-- The first schema: users and organisations, single-use links, sessions,
-- messages, the outbox and the audit log. Kept to SQL that CockroachDB
-- also speaks. Times are never NULL: the zero time is 0001-01-01 UTC, as
-- in the domain types.

-- +goose Up
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE organisations (
    id       BIGSERIAL PRIMARY KEY,
    name     TEXT NOT NULL,
    ods_code TEXT NOT NULL
);
CREATE UNIQUE INDEX organisations_ods_code ON organisations (lower(ods_code));

CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    user_id          TEXT NOT NULL,
    first_name       TEXT NOT NULL,
    last_name        TEXT NOT NULL,
    email            TEXT NOT NULL,
    work_phone       TEXT NOT NULL,
    org_id           BIGINT NOT NULL REFERENCES organisations (id),
    role             TEXT NOT NULL,
    status           TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    password_changed TIMESTAMPTZ NOT NULL,
    failed_sign_ins  INTEGER NOT NULL,
    locked_at        TIMESTAMPTZ NOT NULL,
    last_sign_in     TIMESTAMPTZ NOT NULL,
    invite_expires   TIMESTAMPTZ NOT NULL,
    invite_revoked   BOOLEAN NOT NULL,
    sso_subject      TEXT,
    created          TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_user_id ON users (lower(user_id));
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE UNIQUE INDEX users_sso_subject ON users (sso_subject);

-- Previous password hashes, newest first, apart from the user row every
-- signed-in page reads.
CREATE TABLE password_history (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hashes  TEXT[] NOT NULL
);

-- Links and sessions are stored under the SHA-256 of their token.
CREATE TABLE links (
    hash    BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    used    TIMESTAMPTZ NOT NULL
);
CREATE INDEX links_user ON links (user_id);

CREATE TABLE sessions (
    hash      BYTEA PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created   TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE messages (
    id        BIGSERIAL PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sender    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    body      TEXT NOT NULL,
    sent      TIMESTAMPTZ NOT NULL,
    read      BOOLEAN NOT NULL
);
CREATE INDEX messages_user ON messages (user_id, id);

CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    user_id      BIGINT NOT NULL,
    org_id       BIGINT NOT NULL,
    to_name      TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    subject      TEXT NOT NULL,
    text_body    TEXT NOT NULL,
    html_body    TEXT NOT NULL,
    created      TIMESTAMPTZ NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    next_attempt TIMESTAMPTZ NOT NULL,
    last_error   TEXT NOT NULL,
    sent_at      TIMESTAMPTZ NOT NULL,
    secret       TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt);

-- Only ever appended to.
CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    time    TIMESTAMPTZ NOT NULL,
    type    TEXT NOT NULL,
    actor   TEXT NOT NULL,
    subject TEXT NOT NULL,
    org_id  BIGINT NOT NULL,
    ip      TEXT NOT NULL,
    method  TEXT NOT NULL,
    detail  TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit;
DROP TABLE outbox;
DROP TABLE messages;
DROP TABLE sessions;
DROP TABLE links;
DROP TABLE password_history;
DROP TABLE users;
DROP TABLE organisations;
DROP TABLE meta;
