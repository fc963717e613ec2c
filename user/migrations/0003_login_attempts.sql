-- Recent login attempts per login name (lower-cased), whether or not a user has that login, so
-- that the limit never tells which logins exist. A successful login deletes its row; rows quiet
-- for 15 minutes are deleted by the service's retention sweep. `refused`: whether the last
-- attempt met a wait (and was not counted).
CREATE TABLE login_attempts (
    login_key       text PRIMARY KEY,
    attempts        integer NOT NULL,
    last_attempt_at timestamptz NOT NULL DEFAULT now(),
    blocked_until   timestamptz,
    refused         boolean NOT NULL DEFAULT false
);
CREATE INDEX login_attempts_last_idx ON login_attempts (last_attempt_at);

-- The client addresses a user logged in from successfully (as the gateway saw them), for 30
-- days: a login waiting out failed guesses from elsewhere still opens from these, so guessing
-- cannot lock its owner out.
CREATE TABLE login_addresses (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address         text NOT NULL,
    last_success_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, address)
);
CREATE INDEX login_addresses_last_idx ON login_addresses (last_success_at);

-- The retention sweep deletes sessions by age and by revocation time, tokens by expiry.
CREATE INDEX sessions_created_idx ON sessions (created_at);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
