//! The authorization endpoint (RFC 6749 section 4.1, OIDC Core section 3.1.2): validate the
//! request, decide between sign-in, consent and an immediate answer, and issue the code.
//!
//! Until the client and its redirect URI are proven, errors are shown on a page and never
//! redirected (RFC 6749 section 4.1.2.1); after that they go back to the client with `state`
//! and `iss` (RFC 9207).

use serde::{Deserialize, Serialize};

use super::session::Session;
use super::{ErrorCode, OAuthError, OAuthResult, Provider, parse_scope, resolve_audience};
use crate::crypto::{ct_eq, hash_secret, random_token};
use crate::store::Client;

/// The request parameters as received (query string or form).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    /// Sign in straight through this identity provider (a connection id), skipping the
    /// login page (as Keycloak's `kc_idp_hint`).
    #[serde(default)]
    pub idp_hint: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    #[serde(default)]
    pub resource: Vec<String>,
}

/// A validated request, kept server-side while the person signs in or consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    pub client_id: String,
    pub tenant_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub prompt_none: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_hint: Option<String>,
    pub audience: String,
    /// Anti-CSRF token of the login and consent forms of this request.
    pub csrf: String,
    /// The SHA-256 of the pre-session cookie ([`BROWSER_COOKIE`]) of the browser that sent
    /// the request: only that browser can sign in, consent or change a password for it (an
    /// attacker who started a request of their own cannot have a victim's browser finish it).
    /// Empty for a request that no browser started (then nobody can finish it).
    #[serde(default)]
    pub browser: String,
    pub created_at: i64,
}

/// The pre-session cookie: set at `/authorize`, it binds the pending request to the browser.
pub const BROWSER_COOKIE: &str = "tessera_signin";

impl PendingRequest {
    /// Binds the request to the browser whose pre-session cookie has this value.
    pub fn bind_to_browser(&mut self, cookie_value: &str) {
        self.browser = hash_secret(cookie_value);
    }

    /// Whether `cookie_value` (the request's pre-session cookie, if any) is the one of the
    /// browser that started this request.
    pub fn started_by(&self, cookie_value: Option<&str>) -> bool {
        match cookie_value {
            Some(v) if !v.is_empty() && !self.browser.is_empty() => {
                ct_eq(self.browser.as_bytes(), hash_secret(v).as_bytes())
            }
            _ => false,
        }
    }
}

/// Where the flow goes next.
#[derive(Debug)]
pub enum Step {
    /// Send the browser here (the client's redirect URI with a code or an error).
    Redirect(String),
    /// Show the login page for this pending request id.
    Login(String),
    /// Show the consent page for this pending request id.
    Consent(String),
    /// An error shown on Tessera's own page: the client could not be trusted with it.
    ErrorPage(OAuthError),
}

/// Validates the request. `Err(Step::ErrorPage|Redirect)` when it is refused.
pub async fn validate(p: &Provider, params: &AuthorizeParams, now: i64) -> Result<PendingRequest, Step> {
    let page = |d: &'static str| Step::ErrorPage(OAuthError::invalid_request(d));
    let client_id =
        params.client_id.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| page("client_id is missing"))?;
    let client = match p.client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(page("unknown client")),
        Err(e) => return Err(Step::ErrorPage(e)),
    };
    let redirect_uri = params.redirect_uri.as_deref().ok_or_else(|| page("redirect_uri is missing"))?;
    // Exact string comparison: no prefix, no normalisation (RFC 9700 section 2.1).
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(page("redirect_uri is not registered for this client"));
    }
    let state = params.state.clone();
    let back = |e: OAuthError| Step::Redirect(error_redirect(p, redirect_uri, state.as_deref(), &e));

    if params.request.is_some() {
        return Err(back(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported")));
    }
    if params.request_uri.is_some() {
        return Err(back(OAuthError::new(ErrorCode::RequestUriNotSupported, "request_uri is not supported")));
    }
    if let Some(mode) = params.response_mode.as_deref()
        && mode != "query"
    {
        return Err(back(OAuthError::invalid_request("only response_mode=query is supported")));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(back(OAuthError::invalid_request("response_type is missing"))),
        Some(_) => {
            return Err(back(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )));
        }
    }
    if !client.allows_grant("authorization_code") {
        return Err(back(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        )));
    }
    let scopes = parse_scope(params.scope.as_deref()).map_err(&back)?;
    if let Some(s) = scopes.iter().find(|s| !client.scopes.iter().any(|c| c == *s)) {
        return Err(back(OAuthError::invalid_scope(format!("scope '{s}' is not allowed for this client"))));
    }
    // PKCE (RFC 7636): S256 only; required for public clients.
    let code_challenge = match (params.code_challenge.as_deref(), params.code_challenge_method.as_deref()) {
        (None, None) if client.is_public() => {
            return Err(back(OAuthError::invalid_request(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )));
        }
        (None, None) => None,
        (None, Some(_)) => return Err(back(OAuthError::invalid_request("code_challenge is missing"))),
        (Some(_), m) if m != Some("S256") => {
            return Err(back(OAuthError::invalid_request("code_challenge_method must be S256")));
        }
        (Some(c), _) => {
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(back(OAuthError::invalid_request(
                    "code_challenge must be the base64url SHA-256 of the verifier",
                )));
            }
            Some(c.to_string())
        }
    };
    let mut prompts = params.prompt.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>();
    prompts.dedup();
    for pr in &prompts {
        if !matches!(*pr, "none" | "login" | "consent" | "select_account") {
            return Err(back(OAuthError::invalid_request(format!("unsupported prompt value '{pr}'"))));
        }
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(back(OAuthError::invalid_request("prompt=none cannot be combined with other values")));
    }
    let max_age = match params.max_age.as_deref() {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| back(OAuthError::invalid_request("max_age must be a non-negative integer")))?,
        ),
    };
    let audience = resolve_audience(&client, &params.resource).map_err(&back)?;
    if params.nonce.as_deref().is_some_and(|n| n.len() > 512) || params.state.as_deref().is_some_and(|s| s.len() > 2048)
    {
        return Err(back(OAuthError::invalid_request("state or nonce is too long")));
    }
    Ok(PendingRequest {
        client_id: client.client_id.clone(),
        tenant_id: client.tenant_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scopes,
        state: params.state.clone(),
        nonce: params.nonce.clone(),
        code_challenge,
        // OIDC Core 3.1.2.1: `max_age=0` is `prompt=login` (a sign-in within the same second
        // would otherwise pass `now - auth_time > 0`).
        prompt_login: prompts.contains(&"login") || prompts.contains(&"select_account") || max_age == Some(0),
        prompt_consent: prompts.contains(&"consent"),
        prompt_none,
        max_age,
        login_hint: params.login_hint.clone(),
        idp_hint: params.idp_hint.clone().filter(|h| !h.is_empty() && h.len() <= 128),
        audience,
        csrf: random_token(24),
        browser: String::new(),
        created_at: now,
    })
}

/// Decides the next step for a validated request, given the current session (if any).
/// `fresh` is true when the person has just signed in for this very request.
pub async fn decide(p: &Provider, req: PendingRequest, session: Option<&Session>, fresh: bool, now: i64) -> Step {
    match decide_inner(p, req, session, fresh, now).await {
        Ok(step) => step,
        Err(step) => step,
    }
}

async fn decide_inner(
    p: &Provider,
    req: PendingRequest,
    session: Option<&Session>,
    fresh: bool,
    now: i64,
) -> Result<Step, Step> {
    let back = |e: OAuthError| Step::Redirect(error_redirect(p, &req.redirect_uri, req.state.as_deref(), &e));
    let needs_login = match session {
        None => true,
        Some(s) => {
            let too_old = req.max_age.is_some_and(|m| now - s.auth_time > m);
            !fresh && (req.prompt_login || too_old)
        }
    };
    if needs_login {
        if req.prompt_none {
            return Err(back(OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in")));
        }
        return Ok(Step::Login(save_pending(p, &req).await.map_err(back)?));
    }
    let session = session.expect("a session exists when no login is needed");
    if !p.user_may_use(&req.tenant_id, &session.user_id).await.map_err(&back)? {
        return Err(back(OAuthError::new(
            ErrorCode::AccessDenied,
            "this account has no access to the application's tenant",
        )));
    }
    let client = match p.client(&req.client_id).await {
        Ok(Some(c)) => c,
        _ => return Err(Step::ErrorPage(OAuthError::invalid_request("unknown client"))),
    };
    if needs_consent(p, &client, &req, session).await.map_err(&back)? {
        if req.prompt_none {
            return Err(back(OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented to this client")));
        }
        return Ok(Step::Consent(save_pending(p, &req).await.map_err(back)?));
    }
    issue_code(p, &req, session, now).await.map(Step::Redirect).map_err(back)
}

/// Consent is asked when the client is not first-party or asks for `offline_access`, unless
/// the user already granted every requested scope; `prompt=consent` always asks.
async fn needs_consent(p: &Provider, client: &Client, req: &PendingRequest, session: &Session) -> OAuthResult<bool> {
    if req.prompt_consent {
        return Ok(true);
    }
    let sensitive = !client.first_party || req.scopes.iter().any(|s| s == "offline_access");
    if !sensitive {
        return Ok(false);
    }
    let granted = p.stores.consents.granted_scopes(&req.tenant_id, &session.user_id, &client.client_id).await?;
    Ok(!req.scopes.iter().all(|s| granted.contains(s)))
}

fn pending_key(id: &str) -> String {
    format!("authreq:{id}")
}

async fn save_pending(p: &Provider, req: &PendingRequest) -> OAuthResult<String> {
    let id = random_token(24);
    let value = serde_json::to_vec(req).map_err(OAuthError::server_error)?;
    p.kv.put(&pending_key(&id), &value, p.settings.login_request_ttl).await?;
    Ok(id)
}

/// Loads a pending request; `None` if unknown or expired.
pub async fn load_pending(p: &Provider, id: &str) -> OAuthResult<Option<PendingRequest>> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(p.kv.get(&pending_key(id)).await?.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// What a form post of a pending request proved.
#[derive(Debug)]
pub enum Checked {
    /// The request, its anti-CSRF token and the browser's pre-session cookie all match.
    Ok(Box<PendingRequest>),
    /// Unknown or expired request, or a wrong anti-CSRF token.
    Expired,
    /// The request was started by another browser (or this one lost its pre-session cookie).
    OtherBrowser,
}

/// Loads a pending request for a form post and checks its anti-CSRF token and that the
/// browser posting it (its pre-session cookie `browser`) is the one that started it.
pub async fn load_pending_checked(p: &Provider, id: &str, csrf: &str, browser: Option<&str>) -> OAuthResult<Checked> {
    Ok(match load_pending(p, id).await?.filter(|r| ct_eq(r.csrf.as_bytes(), csrf.as_bytes())) {
        None => Checked::Expired,
        Some(r) if !r.started_by(browser) => Checked::OtherBrowser,
        Some(r) => Checked::Ok(Box::new(r)),
    })
}

pub async fn drop_pending(p: &Provider, id: &str) -> OAuthResult<()> {
    p.kv.delete(&pending_key(id)).await?;
    Ok(())
}

/// What an authorization code stands for, stored under the SHA-256 of the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub tenant_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub audience: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: String,
    pub grant_id: String,
    /// When the session that issued it started (unix ms): a password change since then makes
    /// the code worthless.
    #[serde(default)]
    pub session_started_ms: i64,
}

pub fn code_key(code: &str) -> String {
    format!("code:{}", hash_secret(code))
}

pub fn used_code_key(code: &str) -> String {
    format!("code-used:{}", hash_secret(code))
}

/// Issues a single-use code and returns the redirect to the client.
pub async fn issue_code(p: &Provider, req: &PendingRequest, session: &Session, _now: i64) -> OAuthResult<String> {
    if !p.user_may_use(&req.tenant_id, &session.user_id).await? {
        return Err(OAuthError::new(ErrorCode::AccessDenied, "this account has no access to the application's tenant"));
    }
    let code = random_token(32);
    let rec = CodeRecord {
        client_id: req.client_id.clone(),
        tenant_id: req.tenant_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        user_id: session.user_id.clone(),
        scopes: req.scopes.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        audience: req.audience.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        sid: session.sid.clone(),
        grant_id: random_token(16),
        session_started_ms: session.started_ms,
    };
    let value = serde_json::to_vec(&rec).map_err(OAuthError::server_error)?;
    p.kv.put(&code_key(&code), &value, p.settings.code_ttl).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", &p.settings.issuer));
    Ok(append_query(&req.redirect_uri, &params))
}

/// The redirect that carries an error back to the client (with `state` and `iss`).
pub fn error_redirect(p: &Provider, redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> String {
    let mut params = vec![("error", e.code.as_str()), ("error_description", &*e.description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", &p.settings.issuer));
    append_query(redirect_uri, &params)
}

/// Appends parameters to a URI that may already have a query.
pub fn append_query(uri: &str, params: &[(&str, &str)]) -> String {
    let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{encoded}")
}
