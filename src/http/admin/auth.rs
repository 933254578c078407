//! Authentication of admin API callers: `Authorization: Bearer <access token>` (a Tessera
//! access token for the audience `{issuer}/api`, not revoked, of an existing enabled user or
//! an existing service account), `Authorization: Bearer <API token>` (a service account's
//! `tsa_` token, as Kestra's CLI `--token`), or `Authorization: Basic` with a username and
//! password (for the CLI).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::problem::Problem;
use crate::admin::Actor;
use crate::http::{AppState, RequestMeta};
use crate::oauth::api_token;
use crate::oauth::client_auth::ClientCredentials;

pub use crate::admin::bearer::ADMIN_AUDIENCE_PATH;

/// A request extension that marks a request made in process by the local operator (the CLI
/// working directly on the database). Clients cannot set extensions, so this cannot be
/// forged over the network.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

/// The authenticated caller, extracted from the request.
pub struct Caller {
    pub actor: Actor,
    /// The request's id and client address, for the audit log (the field keeps the name the
    /// handlers pass on to [`super::Ctx::new`] and [`super::audit`]).
    pub request_id: RequestMeta,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    /// Authenticates the caller; a refusal (401) is recorded in the audit log as
    /// `admin.auth_failure`, in the instance scope (the tenant in the path is the caller's
    /// claim), with the scheme, the path and the reason, never the credential.
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Problem> {
        let request = RequestMeta::from_parts(&parts.headers, &parts.extensions);
        if parts.extensions.get::<Operator>().is_some() {
            return Ok(Caller { actor: Actor::operator(), request_id: request });
        }
        match authenticate(parts, s, &request).await {
            Ok(actor) => Ok(Caller { actor, request_id: request }),
            Err(problem) => {
                if problem.status == axum::http::StatusCode::UNAUTHORIZED {
                    audit_failure(s, parts, &request, &problem).await;
                }
                Err(problem)
            }
        }
    }
}

async fn authenticate(parts: &Parts, s: &AppState, request: &RequestMeta) -> Result<Actor, Problem> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(Problem::unauthorized("authenticate with a Bearer access token or Basic credentials"));
    };
    let value = value.to_str().map_err(|_| Problem::unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => bearer(s, token.trim()).await,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("basic") => basic(s, request, value).await,
        _ => Err(Problem::unauthorized("use the Bearer or Basic authorization scheme")),
    }
}

async fn audit_failure(s: &AppState, parts: &Parts, request: &RequestMeta, problem: &Problem) {
    let value = parts.headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or_default());
    let scheme = match value.and_then(|v| v.split_once(' ')).map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest)) {
        None if value.is_none() => "none",
        Some((scheme, token)) if scheme == "bearer" && api_token::looks_like(token.trim()) => "api_token",
        Some((scheme, _)) if scheme == "bearer" => "bearer",
        Some((scheme, _)) if scheme == "basic" => "basic",
        _ => "other",
    };
    // The username of Basic credentials, as a failed sign-in records it; never the password.
    let username = if scheme == "basic" {
        value
            .and_then(|v| ClientCredentials::parse_basic(v).ok().flatten())
            .map(|(u, _)| u.chars().take(200).collect::<String>())
    } else {
        None
    };
    // The full path: inside the nested admin router, `parts.uri` lacks the `/api/v1` prefix.
    let uri = parts.extensions.get::<axum::extract::OriginalUri>().map_or(&parts.uri, |o| &o.0);
    let path: String = uri.path().chars().take(200).collect();
    let summary = serde_json::json!({
        "scheme": scheme,
        "username": username,
        "method": parts.method.as_str(),
        "path": path,
        "reason": problem.detail,
    });
    let target = format!("endpoint:{path}");
    s.record_audit(request, crate::store::INSTANCE_SCOPE, "anonymous".into(), "admin.auth_failure", target, summary)
        .await;
}

async fn bearer(s: &AppState, token: &str) -> Result<Actor, Problem> {
    use crate::admin::bearer::{self, BearerError};
    bearer::authenticate(&s.provider, token).await.map(|caller| caller.actor).map_err(|e| match e {
        BearerError::Unauthorized(why) => Problem::unauthorized(why),
        BearerError::Forbidden(why) => Problem::forbidden(why),
        BearerError::Store(e) => e.into(),
        BearerError::Unavailable(why) => Problem::unavailable(why),
    })
}

/// Basic credentials: the same password check as the login page (throttled per username and
/// client address, Argon2id, rehashed), answered the same way for every kind of refusal.
async fn basic(s: &AppState, request: &RequestMeta, header_value: &str) -> Result<Actor, Problem> {
    let (username, password) = ClientCredentials::parse_basic(header_value)
        .ok()
        .flatten()
        .ok_or_else(|| Problem::unauthorized("malformed Basic credentials"))?;
    let checked = crate::http::password_signin::check(s, request, None, "admin-api", &username, &password).await;
    match checked {
        // A pending mandatory password change blocks this door as it blocks the login page:
        // the password an administrator asked to replace is not a credential any more.
        Ok(Some(u)) if u.password_change_required => {
            let actor = format!("user:{}", u.id);
            let summary = serde_json::json!({ "via": "admin-api", "reason": "password change required" });
            s.record_audit(request, &u.tenant_id, actor.clone(), "signin.refused", actor, summary).await;
            Err(Problem::forbidden(format!(
                "a password change is pending for this account: choose a new password by signing in at the login page (for example through the console at {}) before using Basic credentials",
                s.provider.settings.url("/console")
            )))
        }
        Ok(Some(u)) => Ok(Actor::user(u.id, u.username)),
        Ok(None) => Err(Problem::unauthorized("wrong username or password")),
        Err(e) if e.code == crate::oauth::ErrorCode::TemporarilyUnavailable => Err(Problem::unavailable(e)),
        Err(e) => Err(Problem::internal(e)),
    }
}
