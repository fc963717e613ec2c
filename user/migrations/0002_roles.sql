-- The roles a user holds ('admin' is the only one): granted and revoked by an operator with
-- `user admin grant|revoke <login>`, never through the API. Access tokens carry them from the
-- user's next login or refresh.
ALTER TABLE users ADD COLUMN roles text[] NOT NULL DEFAULT '{}'
    CONSTRAINT users_known_roles CHECK (roles <@ ARRAY['admin']::text[]);
