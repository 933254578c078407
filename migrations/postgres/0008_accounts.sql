-- The account page (PostgreSQL). Keep in step with migrations/sqlite/0008_accounts.sql.
--
-- Passkeys and preferences belong to the user and live in the user's home tenant: they go
-- with the user. A default namespace is per tenant the user may act in: it hangs on the
-- user's access to that tenant and goes with it.

CREATE TABLE passkeys (
    tenant_id     TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    -- The WebAuthn credential id, base64url: unique across the instance, as discoverable
    -- sign-in finds the passkey (and so the user) by it.
    credential_id TEXT    NOT NULL UNIQUE,
    -- The WebAuthn user handle the authenticator keeps (a random UUID per user, not the id).
    user_handle   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    -- The credential as webauthn-rs keeps it (public key, signature counter), JSON.
    credential    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX passkeys_user_idx ON passkeys (tenant_id, user_id);

CREATE TABLE user_preferences (
    tenant_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    theme      TEXT    NOT NULL,
    time_zone  TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE user_default_namespaces (
    tenant_id      TEXT    NOT NULL,
    -- Always 'user': part of the key of tenant_access, which this row hangs on.
    principal_kind TEXT    NOT NULL DEFAULT 'user' CHECK (principal_kind = 'user'),
    user_id        TEXT    NOT NULL,
    namespace      TEXT    NOT NULL,
    updated_at     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, principal_kind, user_id)
        REFERENCES tenant_access (tenant_id, principal_kind, principal_id) ON DELETE CASCADE
);
