-- Recent login attempts per login name (lower-cased), whether or not a user has that login, so
-- that the limit never tells which logins exist. A successful login deletes its row; rows quiet
-- for 15 minutes are deleted by the service's retention sweep.
CREATE TABLE login_attempts (
    login_key       text PRIMARY KEY,
    attempts        integer NOT NULL,
    last_attempt_at timestamptz NOT NULL DEFAULT now(),
    blocked_until   timestamptz
);
CREATE INDEX login_attempts_last_idx ON login_attempts (last_attempt_at);

-- The retention sweep deletes sessions by age and by revocation time.
CREATE INDEX sessions_created_idx ON sessions (created_at);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
