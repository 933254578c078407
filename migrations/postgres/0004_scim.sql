-- SCIM 2.0 provisioning (PostgreSQL). Keep in step with migrations/sqlite/0004_scim.sql.
--
-- What SCIM knows about users and groups beyond the access model: the provisioning client's
-- `externalId` (unique per tenant) and when the resource was created and last changed through
-- SCIM. Users are instance-wide identities, so a user's SCIM record is per tenant: it hangs
-- on the user's access to that tenant and goes with it (revoked access, deleted user, deleted
-- tenant); a group's goes with the group.

CREATE TABLE scim_users (
    tenant_id      TEXT    NOT NULL,
    -- Always 'user': part of the key of tenant_access, which this row hangs on.
    principal_kind TEXT    NOT NULL DEFAULT 'user' CHECK (principal_kind = 'user'),
    user_id        TEXT    NOT NULL,
    external_id    TEXT,
    -- The parts of the name and the email's type, which the users table does not hold (it
    -- keeps the formatted name and one email).
    given_name     TEXT,
    family_name    TEXT,
    email_type     TEXT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    UNIQUE (tenant_id, external_id),
    FOREIGN KEY (tenant_id, principal_kind, user_id)
        REFERENCES tenant_access (tenant_id, principal_kind, principal_id) ON DELETE CASCADE
);

CREATE TABLE scim_groups (
    tenant_id   TEXT    NOT NULL,
    group_id    TEXT    NOT NULL,
    external_id TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, group_id),
    UNIQUE (tenant_id, external_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);
