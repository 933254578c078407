//! A verified access token: its claims, and the authorization decisions its role bindings allow.

use std::sync::Arc;

use serde::Deserialize;

use crate::bindings::{Bindings, is_valid_namespace};
use crate::permission::{Action, Permission, bit};

/// Who the token is for (the `pk` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrincipalKind {
    /// `u`: a user.
    User,
    /// `sa`: a service account.
    ServiceAccount,
    /// `c`: a bare OAuth client (no bindings).
    Client,
    /// A value this crate does not know.
    Unknown,
}

impl PrincipalKind {
    fn from_claim(pk: &str) -> Self {
        match pk {
            "u" => PrincipalKind::User,
            "sa" => PrincipalKind::ServiceAccount,
            "c" => PrincipalKind::Client,
            _ => PrincipalKind::Unknown,
        }
    }

    /// The `pk` claim value (`u`, `sa`, `c`; `?` for an unknown kind).
    pub const fn as_claim(self) -> &'static str {
        match self {
            PrincipalKind::User => "u",
            PrincipalKind::ServiceAccount => "sa",
            PrincipalKind::Client => "c",
            PrincipalKind::Unknown => "?",
        }
    }

    /// The kind named by the `kind` field of Tessera's `GET /binding-epochs` answer (`user`,
    /// `service_account`), to match its changes with tokens in a [`MinEpoch`](crate::MinEpoch)
    /// callback.
    pub fn from_epoch_kind(kind: &str) -> Option<Self> {
        match kind {
            "user" => Some(PrincipalKind::User),
            "service_account" => Some(PrincipalKind::ServiceAccount),
            _ => None,
        }
    }
}

/// An administrator role (the `adm` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminRole {
    /// `i`: Instance Admin, every permission in every tenant.
    Instance,
    /// `t`: Tenant Admin, every permission in the token's tenant.
    Tenant,
}

/// The `aud` claim: one audience or several.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims as they arrive; required claims are not `Option`.
#[derive(Deserialize)]
pub(crate) struct RawClaims {
    pub(crate) iss: String,
    sub: String,
    pub(crate) aud: Audience,
    pub(crate) exp: i64,
    #[serde(default)]
    pub(crate) nbf: Option<i64>,
    iat: i64,
    jti: String,
    client_id: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    auth_time: Option<i64>,
    tnt: String,
    pk: String,
    #[serde(default)]
    adm: Option<String>,
    #[serde(default)]
    ep: i64,
    #[serde(default)]
    rb: Option<serde_json::Value>,
}

#[derive(Debug)]
struct Inner {
    sub: String,
    tenant: String,
    principal_kind: PrincipalKind,
    admin_role: Option<AdminRole>,
    epoch: i64,
    scope: String,
    client_id: String,
    audiences: Vec<String>,
    expires_at: i64,
    not_before: Option<i64>,
    issued_at: i64,
    auth_time: Option<i64>,
    jti: String,
    bindings: Bindings,
}

/// A verified Tessera access token. Only [`Verifier::verify`](crate::Verifier::verify) makes
/// one, so holding one means the signature, type, issuer, audience and lifetime were checked.
/// Cloning is cheap.
///
/// Authorization ([`AccessToken::allows_in_tenant`], always for the request's tenant) follows
/// `docs/CLAIMS.md` ("Deciding allows"): an Instance Admin may do everything in every tenant,
/// a Tenant Admin everything in the token's tenant; a token of another tenant is allowed nothing; a token whose bindings did not fit (`rb.ref`) and a
/// token with an unknown `rb` version allow nothing; otherwise a permission is allowed when the
/// tenant-wide set grants it, or (for a namespace) when a namespace covering it on `.`
/// boundaries does. Namespaces that are not valid Tessera namespaces are never allowed.
#[derive(Debug, Clone)]
pub struct AccessToken(Arc<Inner>);

impl AccessToken {
    /// Builds the token from verified claims; `None` when the `rb` claim is malformed.
    pub(crate) fn from_claims(raw: RawClaims) -> Option<AccessToken> {
        let bindings = Bindings::decode(raw.rb.as_ref()).ok()?;
        let admin_role = match raw.adm.as_deref() {
            Some("i") => Some(AdminRole::Instance),
            Some("t") => Some(AdminRole::Tenant),
            // An unknown role grants nothing.
            _ => None,
        };
        let audiences = match raw.aud {
            Audience::One(aud) => vec![aud],
            Audience::Many(list) => list,
        };
        Some(AccessToken(Arc::new(Inner {
            sub: raw.sub,
            tenant: raw.tnt,
            principal_kind: PrincipalKind::from_claim(&raw.pk),
            admin_role,
            epoch: raw.ep,
            scope: raw.scope.unwrap_or_default(),
            client_id: raw.client_id,
            audiences,
            expires_at: raw.exp,
            not_before: raw.nbf,
            issued_at: raw.iat,
            auth_time: raw.auth_time,
            jti: raw.jti,
            bindings,
        })))
    }

    /// The principal's id (`sub`): a user id, service-account id, or client id.
    pub fn sub(&self) -> &str {
        &self.0.sub
    }

    /// The tenant the token acts in (`tnt`).
    pub fn tenant(&self) -> &str {
        &self.0.tenant
    }

    /// The principal kind (`pk`).
    pub fn principal_kind(&self) -> PrincipalKind {
        self.0.principal_kind
    }

    /// The administrator role (`adm`), if any.
    pub fn admin_role(&self) -> Option<AdminRole> {
        self.0.admin_role
    }

    /// The principal's binding epoch in the tenant when the token was issued (`ep`).
    pub fn epoch(&self) -> i64 {
        self.0.epoch
    }

    /// The OAuth scopes (`scope`, split on spaces).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` is one of the token's scopes.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The OAuth client that obtained the token (`client_id`).
    pub fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// The audiences (`aud`).
    pub fn audiences(&self) -> &[String] {
        &self.0.audiences
    }

    /// Expiry, unix seconds (`exp`).
    pub fn expires_at(&self) -> i64 {
        self.0.expires_at
    }

    /// Start of validity, unix seconds (`nbf`), if the token has one.
    pub fn not_before(&self) -> Option<i64> {
        self.0.not_before
    }

    /// Issue time, unix seconds (`iat`).
    pub fn issued_at(&self) -> i64 {
        self.0.issued_at
    }

    /// When the user authenticated, unix seconds (`auth_time`; user tokens).
    pub fn auth_time(&self) -> Option<i64> {
        self.0.auth_time
    }

    /// The unique token id (`jti`), for revocation lists.
    pub fn jti(&self) -> &str {
        &self.0.jti
    }

    /// Whether the token does not carry its bindings (`rb.ref`): ask Tessera (RFC 7662
    /// introspection answers them) or deny. Then [`AccessToken::allows_in_tenant`] returns `false`.
    /// Always `false` for administrators, whose role decides without bindings.
    pub fn needs_introspection(&self) -> bool {
        self.0.admin_role.is_none() && self.0.bindings == Bindings::Reference
    }

    /// Whether the token allows `action` on `permission` in `tenant` (the tenant of the
    /// request, from its path or host: never the token's own `tnt`), for resources in
    /// `namespace` (or below it), or with `None` on a tenant-level resource (users, groups,
    /// roles, bindings, settings, …) of `permission`.
    ///
    /// An Instance Admin is allowed in every tenant; every other token only in its own tenant
    /// (`tnt`), and there by its admin role or its bindings: tenant-wide grants count, and (with
    /// a namespace) grants on `namespace` and on each namespace above it. There is no variant
    /// without the tenant: a token of tenant `globex` must not pass a check made for `acme`.
    pub fn allows_in_tenant(
        &self,
        tenant: &str,
        permission: Permission,
        action: Action,
        namespace: Option<&str>,
    ) -> bool {
        if self.0.admin_role == Some(AdminRole::Instance) {
            return namespace.is_none_or(is_valid_namespace);
        }
        tenant == self.0.tenant && self.decide(permission, action, namespace)
    }

    fn decide(&self, permission: Permission, action: Action, namespace: Option<&str>) -> bool {
        if namespace.is_some_and(|ns| !is_valid_namespace(ns)) {
            return false;
        }
        if self.0.admin_role.is_some() {
            return true;
        }
        self.0.bindings.allows(bit(permission, action), namespace)
    }
}
