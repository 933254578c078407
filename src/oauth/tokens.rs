//! Minting tokens: RFC 9068 access tokens, OIDC ID tokens, and refresh tokens whose family
//! (one per grant) lives in the short-lived state store and rotates on every use.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{OAuthError, OAuthResult, Provider};
use crate::crypto::{b64url, ct_eq, hash_secret, random_token};
use crate::keys::{Alg, Typ};
use crate::store::{Client, User};

/// Claims of an access token (RFC 9068 section 2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The tenant the principal acts in.
    pub tnt: String,
    /// Principal kind: `u` (user), `sa` (service account) or `c` (a bare client).
    pub pk: String,
    /// Administrator role: `i` (Instance Admin) or `t` (Tenant Admin of `tnt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adm: Option<String>,
    /// The principal's binding epoch in `tnt` at issuance.
    #[serde(default)]
    pub ep: i64,
    /// The effective role bindings in `tnt` (see `docs/CLAIMS.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rb: Option<crate::rbac::RoleBindingsClaim>,
    /// The grant (one authorization) the token comes from, so revoking the grant revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// RFC 8693 section 4.1: the party acting for the subject (`sub`, `pk`, and the `act` of
    /// a token exchanged before, nested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }
}

/// What a token says about the principal's rights: the `adm`, `ep` and `rb` claims.
#[derive(Debug, Clone, Default)]
pub struct Authz {
    pub adm: Option<String>,
    pub ep: i64,
    pub rb: Option<crate::rbac::RoleBindingsClaim>,
}

impl Provider {
    /// The access-model claims of a principal in a tenant, read from the stores: Instance or
    /// Tenant Admin, the binding epoch, and the encoded effective bindings.
    pub async fn authz(&self, tenant_id: &str, kind: crate::store::MemberKind, id: &str) -> OAuthResult<Authz> {
        let (access, ep) = self.access_of(tenant_id, kind, id).await?;
        Ok(Authz::of(&access, ep))
    }

    /// A principal's effective access in a tenant, from the stores, and its binding epoch.
    pub async fn access_of(
        &self,
        tenant_id: &str,
        kind: crate::store::MemberKind,
        id: &str,
    ) -> OAuthResult<(crate::rbac::EffectiveAccess, i64)> {
        use crate::rbac::EffectiveAccess;
        let s = &self.stores;
        let ep = s.epochs.epoch_of(tenant_id, kind, id).await?;
        if s.instance_admins.is_instance_admin(kind, id).await? {
            return Ok((EffectiveAccess::new(tenant_id, true, false, []), ep));
        }
        Ok((crate::admin::bound_access(s, tenant_id, kind, id).await?, ep))
    }
}

impl Authz {
    /// The claims of an access: the admin role as `adm`, else the encoded bindings.
    pub fn of(access: &crate::rbac::EffectiveAccess, ep: i64) -> Authz {
        if access.is_instance_admin() {
            Authz { adm: Some("i".into()), ep, rb: None }
        } else if access.is_tenant_admin() {
            Authz { adm: Some("t".into()), ep, rb: None }
        } else {
            Authz { adm: None, ep, rb: Some(crate::rbac::RoleBindingsClaim::encode(access)) }
        }
    }
}

/// The principal a token is about.
#[derive(Clone, Copy)]
pub enum Who<'a> {
    User(&'a User),
    /// A service account, by id (in the subject's tenant).
    ServiceAccount(&'a str),
    /// The client itself (client_credentials of an ordinary client).
    Client,
}

/// Who and what a token is issued for.
pub struct Subject<'a> {
    /// The `client_id` claim: the client that obtained the token.
    pub client_id: &'a str,
    pub tenant_id: &'a str,
    pub alg: Alg,
    pub who: Who<'a>,
    pub scopes: &'a [String],
    pub audience: &'a str,
    pub auth_time: Option<i64>,
    pub grant_id: Option<&'a str>,
    /// The access-model claims; `None` for a bare client.
    pub authz: Option<&'a Authz>,
    /// The `act` claim (token exchange with an actor).
    pub act: Option<&'a serde_json::Value>,
    /// The token must not outlive this (a token exchanged for another never outlives it).
    pub not_after: Option<i64>,
}

impl<'a> Subject<'a> {
    /// A token a client obtains, for itself or for `who`, in the client's tenant with the
    /// client's algorithm; the other fields at their defaults.
    pub fn for_client(p: &Provider, client: &'a Client, who: Who<'a>, scopes: &'a [String], audience: &'a str) -> Self {
        Subject {
            client_id: &client.client_id,
            tenant_id: &client.tenant_id,
            alg: p.access_alg(client),
            who,
            scopes,
            audience,
            auth_time: None,
            grant_id: None,
            authz: None,
            act: None,
            not_after: None,
        }
    }
}

/// Issues an access token; returns the token and its claims.
pub fn access_token(p: &Provider, s: &Subject<'_>, now: i64) -> OAuthResult<(String, AccessClaims)> {
    let (sub, pk) = match s.who {
        Who::User(u) => (u.id.clone(), "u"),
        Who::ServiceAccount(id) => (id.to_string(), "sa"),
        Who::Client => (s.client_id.to_string(), "c"),
    };
    let mut exp = now + p.settings.access_token_ttl.as_secs() as i64;
    if let Some(cap) = s.not_after {
        exp = exp.min(cap);
    }
    let claims = AccessClaims {
        iss: p.settings.issuer.clone(),
        sub,
        aud: s.audience.to_string(),
        exp,
        iat: now,
        jti: random_token(16),
        client_id: s.client_id.to_string(),
        scope: (!s.scopes.is_empty()).then(|| s.scopes.join(" ")),
        auth_time: s.auth_time,
        tnt: s.tenant_id.to_string(),
        pk: pk.into(),
        adm: s.authz.and_then(|a| a.adm.clone()),
        ep: s.authz.map(|a| a.ep).unwrap_or(0),
        rb: s.authz.and_then(|a| a.rb.clone()),
        gid: s.grant_id.map(str::to_string),
        act: s.act.cloned(),
    };
    let token = p.keys.current().sign_at(now, s.alg, Typ::AccessToken, &claims).map_err(OAuthError::server_error)?;
    Ok((token, claims))
}

#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    amr: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(flatten)]
    profile: serde_json::Map<String, serde_json::Value>,
}

/// What an ID token says about the authentication event.
pub struct AuthEvent<'a> {
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    pub amr: &'a [String],
    pub sid: Option<&'a str>,
}

/// Issues an OIDC ID token for `user`, bound to `access_token` by `at_hash`.
pub fn id_token(
    p: &Provider,
    client: &Client,
    user: &User,
    scopes: &[String],
    ev: &AuthEvent<'_>,
    access_token: &str,
    now: i64,
) -> OAuthResult<String> {
    let alg = p.id_alg(client);
    let claims = IdClaims {
        iss: &p.settings.issuer,
        sub: &user.id,
        aud: &client.client_id,
        azp: &client.client_id,
        exp: now + p.settings.id_token_ttl.as_secs() as i64,
        iat: now,
        auth_time: ev.auth_time,
        nonce: ev.nonce,
        at_hash: Some(half_hash(alg, access_token)),
        amr: ev.amr,
        sid: ev.sid,
        profile: profile_claims(user, scopes),
    };
    p.keys.current().sign_at(now, alg, Typ::Jwt, &claims).map_err(OAuthError::server_error)
}

/// `at_hash`: the left half of the hash of the token, with the hash of the JWS algorithm
/// (SHA-256 for ES256 and RS256, SHA-512 for Ed25519 as the OIDC errata specify).
pub fn half_hash(alg: Alg, token: &str) -> String {
    use aws_lc_rs::digest;
    let d = match alg {
        Alg::EdDSA => digest::digest(&digest::SHA512, token.as_bytes()),
        _ => digest::digest(&digest::SHA256, token.as_bytes()),
    };
    let bytes = d.as_ref();
    b64url(&bytes[..bytes.len() / 2])
}

/// Standard claims of a user allowed by the scopes (OIDC Core section 5.4).
pub fn profile_claims(user: &User, scopes: &[String]) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    let has = |s: &str| scopes.iter().any(|x| x == s);
    if has("profile") {
        m.insert("preferred_username".into(), user.username.clone().into());
        if let Some(n) = &user.name {
            m.insert("name".into(), n.clone().into());
        }
    }
    if has("email")
        && let Some(e) = &user.email
    {
        m.insert("email".into(), e.clone().into());
        m.insert("email_verified".into(), user.email_verified.into());
    }
    m
}

/// One grant: what a user authorized a client to do, shared by every refresh token of it.
/// Stored under `grant:{id}` with the hash of the refresh token that is currently valid and,
/// for a short grace after a rotation, the hash of the one it replaced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    pub current: String,
    /// The hash of the token the last rotation replaced, and when the first rotation away from
    /// it happened (unix seconds): within `tokens.refresh_token_reuse_grace_secs` of that, the
    /// previous token is a retry (an answer lost to a crash or a dropped connection), not a
    /// replay. Absent in records written before the grace existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousToken>,
    /// When the grant started (unix milliseconds): a password change after it ends it.
    #[serde(default)]
    pub started_ms: i64,
    pub client_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub audience: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: Option<String>,
    /// When the current refresh token expires (unix seconds).
    pub expires_at: i64,
}

/// The token a rotation replaced (see [`GrantRecord::previous`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviousToken {
    pub hash: String,
    pub rotated_at: i64,
}

/// Which refresh token of a grant was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// The current one.
    Current,
    /// The one the last rotation replaced, within the grace.
    Previous,
    /// Any other: an older token, one replaced longer ago than the grace, or a forgery.
    Stale,
}

impl GrantRecord {
    /// Which of this grant's tokens `token` is, compared in constant time.
    pub fn presented(&self, token: &str, now: i64, grace_secs: u64) -> Presented {
        let hash = hash_secret(token);
        if ct_eq(hash.as_bytes(), self.current.as_bytes()) {
            return Presented::Current;
        }
        match &self.previous {
            Some(prev) if ct_eq(hash.as_bytes(), prev.hash.as_bytes()) && now < prev.rotated_at + grace_secs as i64 => {
                Presented::Previous
            }
            _ => Presented::Stale,
        }
    }
}

pub fn grant_key(grant_id: &str) -> String {
    format!("grant:{grant_id}")
}

/// A refresh token is `{grant id}.{secret}`: the grant id finds the family.
pub fn new_refresh_token(grant_id: &str) -> String {
    format!("{grant_id}.{}", random_token(32))
}

/// The grant id inside a refresh token, if it has the right shape.
pub fn refresh_token_grant(token: &str) -> Option<&str> {
    let (gid, secret) = token.split_once('.')?;
    (gid.len() == 22 && secret.len() == 43 && !secret.contains('.')).then_some(gid)
}

/// Starts a grant and returns its first refresh token.
pub async fn start_grant(p: &Provider, grant_id: &str, mut record: GrantRecord, now: i64) -> OAuthResult<String> {
    let token = new_refresh_token(grant_id);
    record.current = hash_secret(&token);
    record.started_ms = crate::crypto::now_ms();
    record.expires_at = now + p.settings.refresh_token_ttl.as_secs() as i64;
    let value = serde_json::to_vec(&record).map_err(OAuthError::server_error)?;
    p.kv.put(&grant_key(grant_id), &value, p.settings.refresh_token_ttl).await?;
    Ok(token)
}

/// Revokes a whole grant: its refresh tokens stop working, and access tokens carrying its id
/// are refused at introspection and userinfo until they expire.
pub async fn revoke_grant(p: &Provider, grant_id: &str) -> OAuthResult<()> {
    let ttl = p.settings.refresh_token_ttl.max(p.settings.access_token_ttl) + Duration::from_secs(60);
    p.kv.revoke_grant(grant_id, ttl).await?;
    p.kv.delete(&grant_key(grant_id)).await?;
    tracing::info!(grant = %short(grant_id), "grant revoked");
    Ok(())
}

/// Marks one access token as revoked until it would have expired.
pub async fn revoke_access_token(p: &Provider, jti: &str, exp: i64, now: i64) -> OAuthResult<()> {
    let ttl = Duration::from_secs((exp - now).max(1) as u64 + 60);
    p.kv.put(&format!("revoked-jti:{jti}"), b"1", ttl).await?;
    Ok(())
}

/// Whether an access token was revoked, alone or with its grant.
pub async fn is_access_token_revoked(p: &Provider, claims: &AccessClaims) -> OAuthResult<bool> {
    if p.kv.get(&format!("revoked-jti:{}", claims.jti)).await?.is_some() {
        return Ok(true);
    }
    if let Some(gid) = &claims.gid {
        return Ok(p.kv.is_grant_revoked(gid).await?);
    }
    Ok(false)
}

/// A prefix of an identifier, for logs.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(6)]
}
