//! Token exchange (RFC 8693): a service account's API token, a Tessera access token or a
//! workload's JWT from a trusted external issuer becomes a short-lived Tessera access token
//! carrying the principal's role bindings.
//!
//! | `subject_token_type` | subject |
//! |---|---|
//! | `urn:tessera:params:oauth:token-type:api-token` | the service account of the API token |
//! | `urn:ietf:params:oauth:token-type:access_token` | the user or service account of a Tessera access token (never widened: the new token's bindings are within the old one's, and it expires no later) |
//! | `urn:ietf:params:oauth:token-type:jwt`, `…:id_token` | the service account a workload-identity trust maps the external token to |
//!
//! Client authentication is optional: the subject token is itself the credential (RFC 8693
//! section 2.1 leaves this to the server). A client that authenticates must be allowed the
//! grant, belongs to the subject's tenant, and its `client_id` goes into the token;
//! otherwise the service account is its own client.
//!
//! Errors follow RFC 8693 section 2.2.2: a missing, malformed, unknown, expired, revoked or
//! otherwise unacceptable `subject_token` or `actor_token` is `invalid_request`; an audience
//! or resource the principal may not have tokens for is `invalid_target`; a permission scope
//! the principal does not hold is `invalid_scope`.

use serde_json::{Value, json};

use super::{TokenRequest, TokenResponse};
use crate::keys::Typ;
use crate::oauth::foreign_jwt::{self, JwtError};
use crate::oauth::tokens::{self, AccessClaims, Subject, Who};
use crate::oauth::{ErrorCode, OAuthError, OAuthResult, Provider, api_token, downscope, parse_scope};
use crate::rbac::{Action, EffectiveAccess, Permission};
use crate::store::{Client, MemberKind, WorkloadTrust};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// The principal a subject or actor token stands for.
struct Principal {
    tenant_id: String,
    kind: MemberKind,
    id: String,
    /// What the presented token itself allows, when it is narrower than the principal
    /// (a down-scoped access token); `None`: everything the principal holds.
    limit: Option<EffectiveAccess>,
    /// The `client_id` the token was issued to (access tokens).
    client_id: Option<String>,
    /// The token's expiry, which the new token must not pass (access tokens).
    not_after: Option<i64>,
    /// The `act` of the presented token, kept in the new token's `act` chain.
    act: Option<Value>,
    /// The permission scopes of a narrowed access token: the new token keeps them unless it
    /// asks for narrower ones, so it stays narrowed wherever it is used.
    scopes: Vec<String>,
    /// The audience of a presented access token: it may only be redirected elsewhere by an
    /// authenticated client it was issued for (no confused deputy).
    audience: Option<String>,
    /// The grant of a presented access token, so revoking the grant revokes the new token.
    grant_id: Option<String>,
}

fn invalid_subject(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_request(why)
}

pub(super) async fn exchange(
    p: &Provider,
    client: Option<&Client>,
    req: &TokenRequest,
    now: i64,
) -> OAuthResult<TokenResponse> {
    let subject_token = req.subject_token.as_ref().ok_or_else(|| invalid_subject("subject_token is missing"))?;
    let subject_type =
        req.subject_token_type.as_deref().ok_or_else(|| invalid_subject("subject_token_type is missing"))?;
    if let Some(t) = req.requested_token_type.as_deref()
        && t != ACCESS_TOKEN_TYPE
        && t != JWT_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}: Tessera issues access tokens"
        )));
    }
    match (&req.actor_token, &req.actor_token_type) {
        (Some(_), None) => return Err(OAuthError::invalid_request("actor_token_type is missing")),
        (None, Some(_)) => return Err(OAuthError::invalid_request("actor_token_type without actor_token")),
        _ => {}
    }

    if client.is_some_and(Client::is_public) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use token exchange: send no client credentials, or a confidential client's",
        ));
    }
    let subject = resolve(p, subject_token.expose(), subject_type, now, "subject_token").await?;
    if let Some(c) = client
        && c.tenant_id != subject.tenant_id
    {
        return Err(invalid_subject("subject_token is not of this client's tenant"));
    }
    let tenant = subject.tenant_id.clone();

    // The principal must still exist and may still act in the tenant.
    let user = match subject.kind {
        MemberKind::User => match p.active_user(&tenant, &subject.id).await? {
            Some(u) => Some(u),
            None => return Err(invalid_subject("the subject no longer exists, is disabled or lost access")),
        },
        MemberKind::ServiceAccount => {
            if p.stores.service_accounts.get_service_account(&tenant, &subject.id).await?.is_none() {
                return Err(invalid_subject("the subject's service account no longer exists"));
            }
            None
        }
    };

    let audience = audience(p, client, &subject, req).await?;

    // Bindings: what the principal holds now, within what the presented token allowed, within
    // the permission scopes asked for.
    let asked = parse_scope(req.scope.as_deref())?;
    // No scope asked: a narrowed subject token's own permission scopes.
    let scopes = if asked.is_empty() { subject.scopes.clone() } else { asked };
    if let Some(s) = scopes.iter().find(|s| !downscope::is_permission_scope(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{s}': token exchange takes permission scopes (PERMISSION:ACTION[:NAMESPACE])"
        )));
    }
    let (held, ep) = p.access_of(&tenant, subject.kind, &subject.id).await?;
    let held = match &subject.limit {
        Some(limit) => held.within(limit),
        None => held,
    };
    // The issued scope names exactly what the bindings allow (an asked scope that was narrowed
    // to the namespaces where it is held is issued as those).
    let downscope::Narrowed { authz, scopes } = downscope::narrow(&held, ep, &scopes)?;

    let act = match (&req.actor_token, &req.actor_token_type) {
        (Some(token), Some(kind)) => Some(actor(p, token.expose(), kind, &tenant, &subject, now).await?),
        _ => subject.act.clone(),
    };

    let client_id = match (client, &subject.client_id) {
        (Some(c), _) => c.client_id.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => subject.id.clone(),
    };
    let who = match &user {
        Some(u) => Who::User(u),
        None => Who::ServiceAccount(&subject.id),
    };
    let alg = client.map_or(p.settings.default_access_alg, |c| p.access_alg(c));
    let token_subject = Subject {
        client_id: &client_id,
        tenant_id: &tenant,
        alg,
        who,
        scopes: &scopes,
        audience: &audience,
        auth_time: None,
        grant_id: subject.grant_id.as_deref(),
        authz: Some(&authz),
        act: act.as_ref(),
        not_after: subject.not_after,
    };
    let (access_token, claims) = tokens::access_token(p, &token_subject, now)?;
    let mut res = TokenResponse::bearer(p, access_token, &scopes);
    res.expires_in = (claims.exp - now).max(0) as u64;
    res.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(res)
}

/// The principal behind a subject or actor token.
async fn resolve(p: &Provider, token: &str, kind: &str, now: i64, param: &str) -> OAuthResult<Principal> {
    match kind {
        api_token::TOKEN_TYPE => from_api_token(p, token, now, param).await,
        ACCESS_TOKEN_TYPE => from_access_token(p, token, param).await,
        JWT_TYPE | ID_TOKEN_TYPE => from_workload(p, token, now, param).await,
        _ => Err(OAuthError::invalid_request(format!(
            "{param}_type is not supported: use {}, {ACCESS_TOKEN_TYPE} or {JWT_TYPE}",
            api_token::TOKEN_TYPE
        ))),
    }
}

async fn from_api_token(p: &Provider, token: &str, now: i64, param: &str) -> OAuthResult<Principal> {
    let t = match api_token::check(p, token, now).await {
        Ok(t) => t,
        Err(api_token::Refused::Malformed) => {
            return Err(invalid_subject(format!("{param} is not a well-formed API token (prefix or checksum)")));
        }
        Err(api_token::Refused::Unusable) => {
            return Err(invalid_subject(format!("{param} is unknown, expired or revoked")));
        }
        Err(api_token::Refused::Store(e)) => return Err(e.into()),
    };
    Ok(Principal {
        tenant_id: t.tenant_id,
        kind: MemberKind::ServiceAccount,
        id: t.service_account_id,
        limit: None,
        client_id: None,
        not_after: None,
        act: None,
        scopes: Vec::new(),
        audience: None,
        grant_id: None,
    })
}

async fn from_access_token(p: &Provider, token: &str, param: &str) -> OAuthResult<Principal> {
    let claims: AccessClaims = p
        .keys
        .current()
        .verify(token, Typ::AccessToken, &p.settings.issuer)
        .map_err(|_| invalid_subject(format!("{param} is not a valid Tessera access token")))?;
    if tokens::is_access_token_revoked(p, &claims).await? {
        return Err(invalid_subject(format!("{param} has been revoked")));
    }
    let kind = match claims.pk.as_str() {
        "u" => MemberKind::User,
        "sa" => MemberKind::ServiceAccount,
        _ => return Err(invalid_subject(format!("{param} is a client's own token: it has no principal to exchange"))),
    };
    let limit = match (&claims.adm, &claims.rb) {
        (Some(_), _) => None,
        (None, Some(rb)) => {
            let grants = rb.decode().ok_or_else(|| {
                invalid_subject(format!("{param} carries too many bindings to be exchanged: ask with an API token"))
            })?;
            Some(EffectiveAccess::new(claims.tnt.clone(), false, false, grants))
        }
        (None, None) => Some(EffectiveAccess::new(claims.tnt.clone(), false, false, [])),
    };
    let scopes = claims.scopes().filter(|s| downscope::is_permission_scope(s)).map(str::to_string).collect();
    Ok(Principal {
        tenant_id: claims.tnt,
        kind,
        id: claims.sub,
        limit,
        client_id: Some(claims.client_id),
        not_after: Some(claims.exp),
        act: claims.act,
        scopes,
        audience: Some(claims.aud),
        grant_id: claims.gid,
    })
}

/// Workload identity: the external token must be signed by a trusted issuer's key, for the
/// trust's audience, unexpired, with claims matching exactly one service account's rules.
async fn from_workload(p: &Provider, token: &str, now: i64, param: &str) -> OAuthResult<Principal> {
    let issuer = foreign_jwt::unverified_issuer(token)
        .ok_or_else(|| invalid_subject(format!("{param} is not a JWT with an iss claim")))?;
    let trusts = p.stores.credentials.workload_trusts_of_issuer(&issuer).await?;
    if trusts.is_empty() {
        return Err(invalid_subject(format!("{param} comes from an issuer no tenant trusts")));
    }
    let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
    let mut matching: Vec<&WorkloadTrust> = Vec::new();
    let mut last_error = JwtError::UnknownKey;
    let mut unreachable_keys = false;
    // Trusts of one issuer normally share its keys; a trust may name its own jwks_uri.
    let mut verified: Vec<(Option<String>, foreign_jwt::Claims)> = Vec::new();
    for trust in &trusts {
        let claims = match verified.iter().find(|(uri, _)| *uri == trust.jwks_uri) {
            Some((_, c)) => c.clone(),
            None => {
                let keys = match p.remote_jwks.keys(&issuer, trust.jwks_uri.as_deref(), kid.as_deref()).await {
                    Ok(keys) => keys,
                    // One trust's unreachable keys must not stop the others.
                    Err(e) => {
                        tracing::warn!(error = %e, issuer = %issuer, "fetching a trusted issuer's keys failed");
                        unreachable_keys = true;
                        continue;
                    }
                };
                match keys.verify_signature(token) {
                    Ok(c) => {
                        verified.push((trust.jwks_uri.clone(), c.clone()));
                        c
                    }
                    Err(e) => {
                        last_error = e;
                        continue;
                    }
                }
            }
        };
        claims.check_times(now).map_err(|e| invalid_subject(format!("{param}: {e}")))?;
        if claims.str("iss") != Some(issuer.as_str()) {
            continue;
        }
        if claims.has_audience(&trust.audience) && rules_match(trust, &claims) {
            matching.push(trust);
        }
    }
    if verified.is_empty() {
        if unreachable_keys {
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the issuer's keys could not be fetched; try again",
            ));
        }
        return Err(invalid_subject(format!("{param}: {last_error}")));
    }
    let accounts: std::collections::BTreeSet<(&str, &str)> =
        matching.iter().map(|t| (t.tenant_id.as_str(), t.service_account_id.as_str())).collect();
    match accounts.len() {
        0 => Err(invalid_subject(format!(
            "{param} matches no workload identity of its issuer (audience or claims differ)"
        ))),
        1 => {
            let (tenant, account) = accounts.into_iter().next().unwrap_or_default();
            Ok(Principal {
                tenant_id: tenant.to_string(),
                kind: MemberKind::ServiceAccount,
                id: account.to_string(),
                limit: None,
                client_id: None,
                not_after: None,
                act: None,
                scopes: Vec::new(),
                audience: None,
                grant_id: None,
            })
        }
        _ => Err(invalid_subject(format!(
            "{param} matches workload identities of several service accounts: make their rules exclusive"
        ))),
    }
}

/// Whether every claim rule of the trust matches (`*` in a pattern matches any run of
/// characters; everything else literally).
fn rules_match(trust: &WorkloadTrust, claims: &foreign_jwt::Claims) -> bool {
    trust.claims.iter().all(|(name, pattern)| claims.text(name).is_some_and(|v| glob(pattern, &v)))
}

pub fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() || !value.ends_with(last) {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// The audience of the new token: the one `audience` or `resource` asked for (at most one in
/// all), else the default. It must be allowed to the principal (a service account's audiences,
/// else Tessera's admin API; for a user, the audiences of the client the token was issued to)
/// and, when a client authenticates, to that client too. A presented access token keeps its
/// audience unless a confidential client it was issued for (its `aud` is the client's id or
/// one of the client's audiences) redirects it: a service that received a token cannot turn
/// it into a token for another service on its own.
async fn audience(
    p: &Provider,
    client: Option<&Client>,
    subject: &Principal,
    req: &TokenRequest,
) -> OAuthResult<String> {
    let mut asked: Vec<String> = req.audience.clone();
    asked.extend(req.resource.iter().cloned());
    asked.dedup();
    if asked.len() > 1 {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, "ask for one audience per token"));
    }
    let refused = || OAuthError::new(ErrorCode::InvalidTarget, "the principal may not have tokens for that audience");
    if let Some(current) = &subject.audience {
        let redirector = client.is_some_and(|c| {
            c.client_id == *current
                || c.allowed_audiences.contains(current)
                || c.default_audience.as_ref() == Some(current)
        });
        if !redirector {
            return match asked.first() {
                None => Ok(current.clone()),
                Some(a) if a == current => Ok(current.clone()),
                Some(_) => Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "an access token keeps its audience unless a client it was issued for exchanges it",
                )),
            };
        }
    }
    let admin_api = p.settings.url(crate::http::admin::ADMIN_AUDIENCE_PATH);
    let mut allowed: Vec<String> = match subject.kind {
        MemberKind::ServiceAccount => {
            let account = p.stores.service_accounts.get_service_account(&subject.tenant_id, &subject.id).await?;
            let list = account.map(|a| a.audiences).unwrap_or_default();
            if list.is_empty() { vec![admin_api] } else { list }
        }
        MemberKind::User => match subject.client_id.as_deref() {
            Some(id) => match p.client(id).await? {
                Some(c) => c.default_audience.iter().chain(c.allowed_audiences.iter()).cloned().collect(),
                None => vec![],
            },
            None => vec![],
        },
    };
    if let Some(c) = client {
        // Both must allow it; the client's default comes first.
        let of_client: Vec<&String> = c.default_audience.iter().chain(c.allowed_audiences.iter()).collect();
        allowed.retain(|a| of_client.contains(&a));
        allowed.sort_by_key(|a| c.default_audience.as_ref() != Some(a));
    }
    match asked.first() {
        None => allowed.first().cloned().ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidTarget, "no audience is allowed to both the client and the principal")
        }),
        Some(a) if allowed.contains(a) => Ok(a.clone()),
        Some(_) => Err(refused()),
    }
}

/// The `act` claim for an actor token: the actor must hold IMPERSONATE:CREATE in the
/// subject's tenant (by its bindings now, and within its token if that is narrowed).
async fn actor(
    p: &Provider,
    token: &str,
    kind: &str,
    tenant: &str,
    subject: &Principal,
    now: i64,
) -> OAuthResult<Value> {
    let actor = resolve(p, token, kind, now, "actor_token").await?;
    if actor.kind == subject.kind && actor.id == subject.id {
        return Err(OAuthError::invalid_request("actor_token names the subject itself"));
    }
    let (held, _) = p.access_of(tenant, actor.kind, &actor.id).await?;
    let may_here = held.is_instance_admin() || actor.tenant_id == tenant;
    let by_bindings = held.allows(Permission::Impersonate, Action::Create, None);
    let by_token = actor.limit.as_ref().is_none_or(|l| l.allows(Permission::Impersonate, Action::Create, None));
    let exists = match actor.kind {
        MemberKind::User => p.active_user(tenant, &actor.id).await?.is_some() || held.is_instance_admin(),
        MemberKind::ServiceAccount => true,
    };
    if !(may_here && by_bindings && by_token && exists) {
        return Err(OAuthError::invalid_request(
            "actor_token's principal does not hold IMPERSONATE:CREATE in the subject's tenant",
        ));
    }
    let pk = match actor.kind {
        MemberKind::User => "u",
        MemberKind::ServiceAccount => "sa",
    };
    let mut act = json!({ "sub": actor.id, "pk": pk });
    if let Some(prev) = subject.act.clone() {
        act["act"] = prev;
    }
    Ok(act)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_patterns() {
        assert!(glob("repo:acme/app:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main"));
        assert!(!glob("repo:acme/app", "repo:acme/app2"));
        assert!(glob("repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main"));
        assert!(!glob("repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/dev"));
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXcYb"));
        assert!(!glob("ab*ba", "aba"));
    }
}
