-- The NHSmail simulator's second step after the password: '' (none),
-- 'authenticator' or 'text'.

-- +goose Up
ALTER TABLE nhsmail_accounts ADD COLUMN mfa_method TEXT NOT NULL DEFAULT ''
    CHECK (mfa_method IN ('', 'authenticator', 'text'));

-- +goose Down
ALTER TABLE nhsmail_accounts DROP COLUMN mfa_method;
