//! `/token`, `/introspect` and `/revoke`: form posts authenticated by the client.
//!
//! Audited (never with a token's or a secret's text): every token issued (`token.issue`),
//! every refused request at the three endpoints (`token.failure`), and every revocation
//! request a client made (`token.revoke`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use serde_json::json;

use super::errors::OAuthErrorResponse;
use super::form::Form;
use super::{AppState, RequestMeta};
use crate::crypto::{Secret, b64url_decode, now};
use crate::oauth::OAuthError;
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::grants::{self, TokenRequest, TokenResponse};
use crate::oauth::introspect::{self, IntrospectRequest};
use crate::oauth::revoke::{self, RevokeRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/token", post(token))
        .route("/introspect", post(introspect_handler))
        .route("/revoke", post(revoke_handler))
        .route("/binding-epochs", axum::routing::get(epochs_handler))
}

fn credentials(headers: &HeaderMap, f: &Form) -> Result<ClientCredentials, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(v) => ClientCredentials::parse_basic(v.to_str().map_err(|_| OAuthError::invalid_client())?)?,
        None => None,
    };
    Ok(ClientCredentials {
        basic,
        client_id: f.get("client_id"),
        client_secret: f.get("client_secret").map(Secret::new),
        client_assertion_type: f.get("client_assertion_type"),
        client_assertion: f.get("client_assertion").map(Secret::new),
    })
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// What the audit log may say about a request, gathered as it is parsed: the grant type and
/// the client id it claims (not authenticated yet).
#[derive(Default)]
struct Seen {
    grant_type: Option<String>,
    client_id: Option<String>,
}

impl Seen {
    fn new(f: &Form) -> Self {
        Seen { grant_type: f.get("grant_type"), client_id: f.get("client_id") }
    }

    /// The client the credentials name: Basic, else `client_id`, else the `sub` of a client
    /// assertion.
    fn credentials(&mut self, creds: &ClientCredentials) {
        if let Some((id, _)) = &creds.basic {
            self.client_id = Some(id.clone());
        } else if self.client_id.is_none()
            && let Some(assertion) = &creds.client_assertion
        {
            self.client_id = claim_of(assertion.expose(), "sub");
        }
    }
}

/// One string claim of a JWT's payload, read without checking the signature: for the audit
/// log only, of tokens this server just issued or assertions it just authenticated (or, for
/// a refused request, named as claimed).
fn claim_of(jwt: &str, name: &str) -> Option<String> {
    let payload = b64url_decode(jwt.split('.').nth(1)?)?;
    let v: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    v.get(name)?.as_str().map(str::to_string)
}

/// At most `max` characters of a value a client sent.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The tenant of a client, for the audit log: through the provider's client cache;
/// [`INSTANCE_SCOPE`](crate::store::INSTANCE_SCOPE) for an unknown client.
async fn client_tenant(s: &AppState, client_id: Option<&str>) -> String {
    let client = match client_id {
        Some(id) => s.provider.client(id).await.ok().flatten(),
        None => None,
    };
    client.map_or_else(|| crate::store::INSTANCE_SCOPE.to_string(), |c| c.tenant_id.clone())
}

/// `token.failure`: which endpoint refused what, for which (claimed) client, with the OAuth
/// error code and description (never the token or the secret).
async fn audit_failure(s: &AppState, meta: &RequestMeta, endpoint: &str, seen: &Seen, e: &OAuthError) {
    let client_id = seen.client_id.as_deref().map(|id| clip(id, 200));
    let known = match &client_id {
        // With the database unreachable, another lookup would wait out the pool's timeout a
        // second time before the answer: the cache or nothing.
        Some(id) if e.code == crate::oauth::ErrorCode::TemporarilyUnavailable => s.provider.cached_client(id),
        Some(id) => s.provider.client(id).await.ok().flatten(),
        None => None,
    };
    let (tenant, actor) = match &known {
        Some(c) => (c.tenant_id.clone(), format!("client:{}", c.client_id)),
        None => (crate::store::INSTANCE_SCOPE.to_string(), "anonymous".to_string()),
    };
    let target = client_id.as_ref().map_or_else(|| format!("endpoint:{endpoint}"), |id| format!("client:{id}"));
    let summary = json!({
        "endpoint": endpoint,
        "grant_type": seen.grant_type.as_deref().map(|g| clip(g, 200)),
        "client_id": client_id,
        "error": e.code.as_str(),
        "error_description": clip(&e.description, 300),
    });
    // Refusals are tallied per endpoint, client, error and address: a flood of bad requests
    // is counted without writing a row each.
    let key = format!(
        "token.failure|{tenant}|{endpoint}|{}|{}|{}",
        client_id.as_deref().unwrap_or(""),
        e.code.as_str(),
        meta.client_addr.as_deref().unwrap_or("")
    );
    s.tally_audit(key, meta, AppState::audit_entry(meta, &tenant, actor, "token.failure", target, summary));
}

/// `token.issue`: the grant, the client, the subject and tenant of the access token, its
/// audience, scope and `jti`, and which other tokens came with it (never their text).
async fn audit_issue(s: &AppState, meta: &RequestMeta, seen: &Seen, res: &TokenResponse) {
    #[derive(serde::Deserialize)]
    struct Issued {
        sub: String,
        tnt: String,
        client_id: String,
        pk: String,
        #[serde(default)]
        aud: serde_json::Value,
        #[serde(default)]
        scope: Option<String>,
        jti: String,
    }
    let issued: Option<Issued> = res
        .access_token
        .split('.')
        .nth(1)
        .and_then(b64url_decode)
        .and_then(|payload| serde_json::from_slice(&payload).ok());
    let Some(c) = issued else {
        // Not a JWT of ours (never happens): still recorded, with what the request said.
        let tenant = client_tenant(s, seen.client_id.as_deref()).await;
        let client = seen.client_id.clone().unwrap_or_default();
        let summary = json!({ "grant_type": seen.grant_type, "client_id": client });
        s.record_audit(meta, &tenant, format!("client:{client}"), "token.issue", format!("client:{client}"), summary)
            .await;
        return;
    };
    let kind = match c.pk.as_str() {
        "u" => "user",
        "sa" => "service_account",
        _ => "client",
    };
    let summary = json!({
        "grant_type": seen.grant_type,
        "client_id": c.client_id,
        "subject": c.sub,
        "principal_kind": kind,
        "audience": c.aud,
        "scope": c.scope,
        "jti": c.jti,
        "refresh_token": res.refresh_token.is_some(),
        "id_token": res.id_token.is_some(),
    });
    let target = format!("{kind}:{}", c.sub);
    let actor = format!("client:{}", c.client_id);
    // Machine grants (client_credentials, token exchange) issue at high rates: tallied per
    // client, subject, grant and audience. Tokens for people are recorded one by one.
    let grant = seen.grant_type.as_deref().unwrap_or("");
    if matches!(grant, "client_credentials" | crate::oauth::grants::token_exchange::GRANT_TYPE) {
        let key = format!("token.issue|{}|{}|{target}|{grant}|{}", c.tnt, c.client_id, c.aud);
        s.tally_audit(key, meta, AppState::audit_entry(meta, &c.tnt, actor, "token.issue", target, summary));
    } else {
        s.record_audit(meta, &c.tnt, actor, "token.issue", target, summary).await;
    }
}

async fn token(
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthErrorResponse> {
    let mut seen = Seen::default();
    match issue(&s, &headers, &body, &mut seen).await {
        Ok(res) => {
            s.provider.metrics.token_issued(seen.grant_type.as_deref().unwrap_or(""));
            audit_issue(&s, &meta, &seen, &res).await;
            Ok(no_store(Json(res).into_response()))
        }
        Err(e) => {
            audit_failure(&s, &meta, "/token", &seen, &e).await;
            Err(e.into())
        }
    }
}

async fn issue(s: &AppState, headers: &HeaderMap, body: &[u8], seen: &mut Seen) -> Result<TokenResponse, OAuthError> {
    let f = Form::parse(headers, body)?;
    *seen = Seen::new(&f);
    let credentials = credentials(headers, &f)?;
    seen.credentials(&credentials);
    let req = TokenRequest {
        grant_type: f.get("grant_type"),
        code: f.get("code"),
        redirect_uri: f.get("redirect_uri"),
        code_verifier: f.get("code_verifier"),
        refresh_token: f.get("refresh_token"),
        scope: f.get("scope"),
        resource: f.all("resource"),
        credentials,
        subject_token: f.get("subject_token").map(Secret::new),
        subject_token_type: f.get("subject_token_type"),
        actor_token: f.get("actor_token").map(Secret::new),
        actor_token_type: f.get("actor_token_type"),
        requested_token_type: f.get("requested_token_type"),
        audience: f.all("audience"),
    };
    grants::token(&s.provider, &req, now()).await
}

/// Successful introspections are not audited (reads, and frequent); refused ones are.
async fn introspect_handler(
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthErrorResponse> {
    let mut seen = Seen::default();
    let result = async {
        let f = Form::parse(&headers, &body)?;
        seen = Seen::new(&f);
        let credentials = credentials(&headers, &f)?;
        seen.credentials(&credentials);
        let req = IntrospectRequest { token: f.get("token"), token_type_hint: f.get("token_type_hint"), credentials };
        introspect::introspect(&s.provider, &req, now()).await
    }
    .await;
    match result {
        Ok(v) => Ok(no_store(Json(v).into_response())),
        Err(e) => {
            audit_failure(&s, &meta, "/introspect", &seen, &e).await;
            Err(e.into())
        }
    }
}

/// How a token presented for revocation looks (its text is never recorded): RFC 7009 answers
/// the same whether it was revoked, unknown or another client's, and so does the audit log.
fn presented_kind(token: Option<&str>) -> &'static str {
    match token {
        None => "none",
        Some(t) if crate::oauth::tokens::refresh_token_grant(t).is_some() => "refresh_token",
        Some(t) if t.split('.').count() == 3 => "jwt",
        Some(_) => "other",
    }
}

async fn revoke_handler(
    State(s): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthErrorResponse> {
    let mut seen = Seen::default();
    let mut presented = "none";
    let result = async {
        let f = Form::parse(&headers, &body)?;
        seen = Seen::new(&f);
        let credentials = credentials(&headers, &f)?;
        seen.credentials(&credentials);
        let req = RevokeRequest { token: f.get("token"), token_type_hint: f.get("token_type_hint"), credentials };
        presented = presented_kind(req.token.as_deref());
        revoke::revoke(&s.provider, &req, now()).await.map(|()| req.token_type_hint)
    }
    .await;
    match result {
        Ok(hint) => {
            let client_id = seen.client_id.clone().unwrap_or_default();
            let tenant = client_tenant(&s, Some(&client_id)).await;
            let summary = json!({
                "client_id": client_id,
                "token_type_hint": hint.as_deref().map(|h| clip(h, 100)),
                "presented": presented,
            });
            let actor = format!("client:{client_id}");
            s.record_audit(&meta, &tenant, actor.clone(), "token.revoke", actor, summary).await;
            Ok(no_store(StatusCode::OK.into_response()))
        }
        Err(e) => {
            audit_failure(&s, &meta, "/revoke", &seen, &e).await;
            Err(e.into())
        }
    }
}

/// Which principals' bindings changed since a time (client-authenticated with Basic).
async fn epochs_handler(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, OAuthErrorResponse> {
    let f = Form::parse_pairs(q.unwrap_or_default().as_bytes())?;
    let creds = credentials(&headers, &Form::default())?;
    let v = crate::oauth::epochs::changed_since(&s.provider, &creds, f.get("since").as_deref()).await?;
    Ok(no_store(Json(v).into_response()))
}
