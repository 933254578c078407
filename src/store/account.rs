//! What the account page keeps about a user: passkeys and preferences.

/// A passkey (WebAuthn credential) of a user, a row of the user's home tenant.
#[derive(Clone)]
pub struct PasskeyRecord {
    pub tenant_id: String,
    pub id: String,
    pub user_id: String,
    /// The WebAuthn credential id, base64url (unpadded); unique across the instance.
    pub credential_id: String,
    /// The WebAuthn user handle stored on the authenticator: a random UUID per user, the same
    /// for all of a user's passkeys.
    pub user_handle: String,
    /// The name the user gave it ("Laptop", "Phone").
    pub name: String,
    /// The credential as webauthn-rs keeps it (public key, signature counter), JSON. Public
    /// material only: nothing here lets anyone sign in.
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// A user's display preferences, a row of the user's home tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    /// `system`, `light` or `dark`.
    pub theme: String,
    /// An IANA time zone name such as `Europe/Paris`, or `UTC`.
    pub time_zone: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Self { theme: "system".into(), time_zone: "UTC".into() }
    }
}
