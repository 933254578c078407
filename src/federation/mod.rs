//! OpenID Connect federation: Tessera as a relying party of an upstream provider (Okta,
//! Entra ID, Google, Keycloak, another Tessera), with the `openidconnect` crate.
//!
//! [`start`] builds the upstream authorization request (authorization code, PKCE S256, `state`,
//! `nonce`) and remembers it in the state store, bound to the browser by a cookie; [`finish`]
//! takes it back exactly once at the callback, exchanges the code, validates the ID token
//! (signature against the upstream JWKS, issuer, audience, expiry, nonce), reads userinfo, and
//! maps the claims. [`provision`] turns the identity into a Tessera user (links, just-in-time
//! creation, profile updates, group mappings); [`logout_redirect`] ends the upstream session.

mod provision;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata,
    RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use provision::{Provisioned, link_after_proof, provision, sync_groups};

use crate::crypto::{ct_eq, hash_secret, now, random_token};
use crate::keys::{Alg, Typ};
use crate::oauth::Provider;
use crate::sealing::SealingKey;
use crate::store::{Connection, UpstreamAuthMethod};

/// Where upstream providers send the browser back (register `{issuer}` + this there).
pub const CALLBACK_PATH: &str = "/login/federated/callback";
/// Where an upstream sends the browser after ending its session (register it as a
/// post-logout redirect URI there).
pub const LOGGED_OUT_PATH: &str = "/login/federated/logged-out";
/// The cookie that binds an upstream round trip to the browser that started it.
pub const FLOW_COOKIE: &str = "tessera_fed";
/// How long discovery documents and keys are kept before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest upstream error text shown on the page.
const MAX_ERROR_TEXT: usize = 300;

/// The discovery fields `CoreProviderMetadata` does not carry.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub type UpstreamMetadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Why a federated sign-in stopped. Each says what the person sees; details for operators
/// go to the log, never to the page.
#[derive(Debug, thiserror::Error)]
pub enum FedError {
    #[error("This sign-in is unknown or has expired. Go back to the application and start again.")]
    UnknownState,
    #[error("This sign-in was started in another browser. Go back to the application and start again.")]
    OtherBrowser,
    #[error("{0} refused the sign-in: {1}")]
    Upstream(String, String),
    #[error("{0} could not be reached. Try again in a moment.")]
    Unreachable(String),
    #[error("{0} answered something Tessera cannot accept, so the sign-in was stopped.")]
    BadResponse(String),
    #[error("{0}")]
    Refused(String),
    #[error("This identity provider is not available for this sign-in.")]
    UnknownConnection,
    #[error("The sign-in service is unavailable. Try again in a moment.")]
    Unavailable,
}

impl FedError {
    /// The status of the page: 400 for a broken round trip, 403 for a refusal, 502 for an
    /// upstream that failed, 503 for Tessera's own state being unreachable.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownState | Self::OtherBrowser | Self::UnknownConnection => 400,
            Self::Upstream(..) | Self::Refused(_) => 403,
            Self::Unreachable(_) | Self::BadResponse(_) => 502,
            Self::Unavailable => 503,
        }
    }
}

impl From<crate::kv::KvError> for FedError {
    fn from(e: crate::kv::KvError) -> Self {
        tracing::warn!(error = %e, "federation: state store");
        Self::Unavailable
    }
}

impl From<crate::store::StoreError> for FedError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::warn!(error = %e, "federation: store");
        Self::Unavailable
    }
}

/// The relying party's shared parts: an HTTP client that follows no redirects, the
/// discovery cache, and the key that seals client secrets.
#[derive(Default)]
pub struct Upstreams {
    /// Where requests to upstreams may go (see [`crate::outbound`]).
    policy: crate::outbound::Policy,
    http: OnceLock<reqwest::Client>,
    metadata: RwLock<HashMap<String, (Instant, Arc<UpstreamMetadata>)>>,
    sealing: OnceLock<Arc<SealingKey>>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, OutboundError>> + Send>>;

/// Why a request to an upstream did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("{0} may not be fetched (only https, or http on loopback, to permitted addresses)")]
    Refused(String),
}

impl Upstreams {
    /// Upstreams reached under `policy`.
    pub fn new(policy: crate::outbound::Policy) -> Self {
        Self { policy, ..Default::default() }
    }

    /// Sets the sealing key (the server does at start, from the configured file). Without
    /// one, a random key for the life of the process is used (tests, a single node).
    pub fn set_sealing_key(&self, key: Arc<SealingKey>) {
        let _ = self.sealing.set(key);
    }

    pub fn sealing(&self) -> &SealingKey {
        self.sealing.get_or_init(|| Arc::new(SealingKey::ephemeral()))
    }

    fn client(&self) -> reqwest::Client {
        self.http.get_or_init(|| crate::outbound::client(self.policy, HTTP_TIMEOUT)).clone()
    }

    /// reqwest 0.13 as oauth2's asynchronous HTTP client; URLs that may not be fetched
    /// (private addresses, plain http off loopback) are refused before any connection.
    fn http(&self) -> impl Fn(HttpRequest) -> BoxFuture + Clone {
        let client = self.client();
        let policy = self.policy;
        move |request: HttpRequest| {
            let client = client.clone();
            Box::pin(async move {
                // Endpoints come from the upstream's discovery document: an address in them is
                // checked here, a name by the client's resolver.
                let url = request.uri().to_string();
                if !policy.fetchable(&url) {
                    return Err(OutboundError::Refused(url));
                }
                let request = reqwest::Request::try_from(request)?;
                let response = client.execute(request).await?;
                let mut out = HttpResponse::new(Vec::new());
                *out.status_mut() = response.status();
                *out.headers_mut() = response.headers().clone();
                *out.body_mut() = response.bytes().await?.to_vec();
                Ok(out)
            }) as BoxFuture
        }
    }

    /// The upstream's discovery document and keys, cached for [`METADATA_TTL`]; `fresh`
    /// fetches them again (a key the cache does not know).
    pub async fn metadata(&self, conn: &Connection, fresh: bool) -> Result<Arc<UpstreamMetadata>, FedError> {
        if !fresh
            && let Some((at, m)) = self.metadata.read().expect("metadata cache").get(&conn.issuer)
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        if !self.policy.fetchable(&conn.issuer) {
            tracing::warn!(connection = %conn.id, "federation: issuer URL may not be fetched");
            return Err(FedError::Unreachable(conn.name.clone()));
        }
        let issuer = IssuerUrl::new(conn.issuer.clone()).map_err(|_| FedError::BadResponse(conn.name.clone()))?;
        let http = self.http();
        let m = UpstreamMetadata::discover_async(issuer, &http).await.map_err(|e| {
            tracing::warn!(connection = %conn.id, error = %e, "federation: discovery failed");
            match e {
                openidconnect::DiscoveryError::Request(_) => FedError::Unreachable(conn.name.clone()),
                _ => FedError::BadResponse(conn.name.clone()),
            }
        })?;
        let m = Arc::new(m);
        self.metadata.write().expect("metadata cache").insert(conn.issuer.clone(), (Instant::now(), m.clone()));
        Ok(m)
    }

    /// Forgets a connection's cached metadata (after it was changed).
    pub fn forget(&self, issuer: &str) {
        self.metadata.write().expect("metadata cache").remove(issuer);
    }
}

/// The additional data of the sealed client secret: the row it belongs to.
pub fn secret_context(tenant_id: &str, id: &str) -> String {
    format!("idp:{tenant_id}/{id}")
}

/// An upstream round trip in progress, kept in the state store under the SHA-256 of `state`.
#[derive(Serialize, Deserialize)]
struct Flow {
    request_id: String,
    tenant_id: String,
    connection_id: String,
    verifier: String,
    nonce: String,
    /// SHA-256 of the browser-binding cookie.
    browser: String,
}

fn flow_key(state: &str) -> String {
    format!("fedflow:{}", hash_secret(state))
}

/// Where to send the browser, and the browser-binding cookie to set.
pub struct Started {
    pub redirect: String,
    pub cookie: String,
}

/// Starts a sign-in at the connection for the pending authorization request `request_id`.
pub async fn start(
    p: &Provider,
    conn: &Connection,
    request_id: &str,
    login_hint: Option<&str>,
) -> Result<Started, FedError> {
    let meta = p.federation.metadata(conn, false).await?;
    let client = CoreClient::from_provider_metadata((*meta).clone(), ClientId::new(conn.client_id.clone()), None)
        .set_redirect_uri(redirect_url(p)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut auth = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for s in conn.settings.scopes.iter().filter(|s| s.as_str() != "openid") {
        auth = auth.add_scope(Scope::new(s.clone()));
    }
    if let Some(h) = login_hint.filter(|h| !h.is_empty() && h.len() <= 256) {
        auth = auth.add_extra_param("login_hint", h.to_string());
    }
    let (url, state, nonce) = auth.url();
    let cookie = random_token(24);
    let flow = Flow {
        request_id: request_id.to_string(),
        tenant_id: conn.tenant_id.clone(),
        connection_id: conn.id.clone(),
        verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        browser: hash_secret(&cookie),
    };
    let value = serde_json::to_vec(&flow).map_err(|_| FedError::Unavailable)?;
    p.kv.put(&flow_key(state.secret()), &value, p.settings.login_request_ttl).await?;
    Ok(Started { redirect: url.to_string(), cookie })
}

fn redirect_url(p: &Provider) -> Result<RedirectUrl, FedError> {
    RedirectUrl::new(p.settings.url(CALLBACK_PATH)).map_err(|_| FedError::Unavailable)
}

/// What the upstream sent back to the callback.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: the issuer of the authorization response, when the upstream sends it.
    pub iss: Option<String>,
}

/// Who the person is at the upstream, after mapping.
#[derive(Debug, Clone, Default)]
pub struct UpstreamIdentity {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// A completed upstream round trip.
pub struct Finished {
    pub request_id: String,
    pub connection: Connection,
    pub identity: UpstreamIdentity,
    /// The upstream ID token, kept with the session for the upstream logout's hint.
    pub id_token: String,
}

/// Finishes the round trip the callback's `state` names: exactly once, in the browser that
/// started it.
pub async fn finish(p: &Provider, params: &CallbackParams, cookie: Option<&str>) -> Result<Finished, FedError> {
    let state = params.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 256).ok_or(FedError::UnknownState)?;
    let raw = p.kv.take(&flow_key(state)).await?.ok_or(FedError::UnknownState)?;
    let flow: Flow = serde_json::from_slice(&raw).map_err(|_| FedError::UnknownState)?;
    let bound = cookie.is_some_and(|c| ct_eq(hash_secret(c).as_bytes(), flow.browser.as_bytes()));
    if !bound {
        return Err(FedError::OtherBrowser);
    }
    let conn = match p.stores.federation.get_connection(&flow.tenant_id, &flow.connection_id).await? {
        Some(c) if c.enabled => c,
        _ => return Err(FedError::UnknownConnection),
    };
    if let Some(e) = params.error.as_deref() {
        let text = match params.error_description.as_deref() {
            Some(d) if !d.is_empty() => format!("{} ({})", clip(e), clip(d)),
            _ => clip(e),
        };
        tracing::info!(connection = %conn.id, error = %clip(e), "federation: the upstream answered an error");
        return Err(FedError::Upstream(conn.name.clone(), text));
    }
    if let Some(iss) = params.iss.as_deref()
        && iss != conn.issuer
    {
        tracing::warn!(connection = %conn.id, "federation: authorization response from another issuer (RFC 9207)");
        return Err(FedError::BadResponse(conn.name.clone()));
    }
    let code =
        params.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| FedError::BadResponse(conn.name.clone()))?;
    let (identity, id_token) = redeem(p, &conn, code, &flow).await?;
    Ok(Finished { request_id: flow.request_id, connection: conn, identity, id_token })
}

fn clip(s: &str) -> String {
    let printable: String = s.chars().filter(|c| !c.is_control()).take(MAX_ERROR_TEXT).collect();
    printable
}

/// Exchanges the code and validates what comes back; on an unknown signing key, fetches the
/// upstream's keys once more (it may have rotated) before refusing.
async fn redeem(
    p: &Provider,
    conn: &Connection,
    code: &str,
    flow: &Flow,
) -> Result<(UpstreamIdentity, String), FedError> {
    let bad = || FedError::BadResponse(conn.name.clone());
    let meta = p.federation.metadata(conn, false).await?;
    let secret = match &conn.client_secret_sealed {
        Some(sealed) if conn.settings.auth_method != UpstreamAuthMethod::PrivateKeyJwt => {
            let plain =
                p.federation.sealing().open(sealed, &secret_context(&conn.tenant_id, &conn.id)).map_err(|e| {
                    tracing::error!(connection = %conn.id, error = %e, "federation: cannot open the client secret");
                    FedError::Unavailable
                })?;
            Some(ClientSecret::new(String::from_utf8(plain).map_err(|_| FedError::Unavailable)?))
        }
        _ => None,
    };
    let auth_type = match conn.settings.auth_method {
        UpstreamAuthMethod::ClientSecretPost => AuthType::RequestBody,
        _ => AuthType::BasicAuth,
    };
    let client = CoreClient::from_provider_metadata((*meta).clone(), ClientId::new(conn.client_id.clone()), secret)
        .set_redirect_uri(redirect_url(p)?)
        .set_auth_type(auth_type);
    let mut request = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|_| bad())?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()));
    if conn.settings.auth_method == UpstreamAuthMethod::PrivateKeyJwt {
        let audience = meta.token_endpoint().map(|u| u.url().as_str().to_string()).ok_or_else(bad)?;
        request = request
            .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            .add_extra_param("client_assertion", client_assertion(p, &conn.client_id, &audience)?);
    }
    let http = p.federation.http();
    let response = request.request_async(&http).await.map_err(|e| {
        match &e {
            RequestTokenError::ServerResponse(r) => {
                tracing::warn!(connection = %conn.id, error = %r.error(), "federation: the token endpoint refused the code")
            }
            other => tracing::warn!(connection = %conn.id, error = %other, "federation: token request failed"),
        }
        match e {
            // Its discovery document named a token endpoint Tessera may not call.
            RequestTokenError::Request(OutboundError::Refused(_)) => bad(),
            RequestTokenError::Request(_) => FedError::Unreachable(conn.name.clone()),
            _ => bad(),
        }
    })?;
    let id_token = response.id_token().ok_or_else(|| {
        tracing::warn!(connection = %conn.id, "federation: no ID token in the token response");
        bad()
    })?;
    let nonce = Nonce::new(flow.nonce.clone());
    let verified = {
        let verifier = client.id_token_verifier();
        id_token.claims(&verifier, &nonce).map(|c| c.subject().to_string())
    };
    let subject = match verified {
        Ok(s) => s,
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(first)) => {
            // The upstream may have rotated its keys since they were cached.
            let fresh = p.federation.metadata(conn, true).await?;
            let client =
                CoreClient::from_provider_metadata((*fresh).clone(), ClientId::new(conn.client_id.clone()), None);
            let verifier = client.id_token_verifier();
            match id_token.claims(&verifier, &nonce) {
                Ok(c) => c.subject().to_string(),
                Err(e) => {
                    tracing::warn!(connection = %conn.id, error = %e, first = %first, "federation: ID token signature refused");
                    return Err(bad());
                }
            }
        }
        Err(e) => {
            tracing::warn!(connection = %conn.id, error = %e, "federation: ID token refused");
            return Err(bad());
        }
    };
    let raw = id_token.to_string();
    let mut claims = payload_claims(&raw).ok_or_else(bad)?;
    if let Some(url) = meta.userinfo_endpoint() {
        let info = userinfo(p, url.url().as_str(), response.access_token().secret()).await.map_err(|e| {
            tracing::warn!(connection = %conn.id, error = %e, "federation: userinfo failed");
            FedError::BadResponse(conn.name.clone())
        })?;
        // OIDC Core 5.3.2: the userinfo `sub` must be the ID token's.
        if info.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
            tracing::warn!(connection = %conn.id, "federation: userinfo is about another subject");
            return Err(bad());
        }
        for (k, v) in info {
            claims.entry(k).or_insert(v);
        }
    }
    let identity = map_claims(conn, &claims).ok_or_else(|| {
        tracing::warn!(connection = %conn.id, claim = %conn.settings.claims.subject, "federation: no subject claim");
        bad()
    })?;
    Ok((identity, raw))
}

/// The claims of a JWT whose signature was verified already.
fn payload_claims(jwt: &str) -> Option<Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&crate::crypto::b64url_decode(payload)?).ok()
}

async fn userinfo(p: &Provider, url: &str, access_token: &str) -> Result<Map<String, Value>, String> {
    if !p.settings.outbound.fetchable(url) {
        return Err("userinfo URL may not be fetched".into());
    }
    let res = p.federation.client().get(url).bearer_auth(access_token).send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("status {}", res.status()));
    }
    let is_json = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err("userinfo is not JSON (signed userinfo is not supported)".into());
    }
    res.json::<Map<String, Value>>().await.map_err(|e| e.to_string())
}

/// A `private_key_jwt` client assertion (RFC 7523), signed with Tessera's RS256 key: the
/// upstream registers Tessera's JWKS URL for this client.
fn client_assertion(p: &Provider, client_id: &str, audience: &str) -> Result<String, FedError> {
    let t = now();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": random_token(16),
        "iat": t,
        "exp": t + 60,
    });
    p.keys.current().sign_at(t, Alg::RS256, Typ::Jwt, &claims).map_err(|e| {
        tracing::error!(error = %e, "federation: cannot sign the client assertion");
        FedError::Unavailable
    })
}

fn text_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    match claims.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Maps the upstream claims by the connection's rules; `None` without a subject.
pub fn map_claims(conn: &Connection, claims: &Map<String, Value>) -> Option<UpstreamIdentity> {
    let m = &conn.settings.claims;
    let subject = text_claim(claims, &m.subject)?;
    let email = text_claim(claims, &m.email).map(|e| e.to_lowercase());
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let groups = match claims.get(&m.groups) {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    Some(UpstreamIdentity {
        subject,
        username: text_claim(claims, &m.username),
        email,
        email_verified,
        name: text_claim(claims, &m.name),
        groups,
    })
}

/// The domain of an email address, lower-cased.
pub fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// Whether the connection takes this email: any, when it lists no domain.
pub fn domain_allowed(conn: &Connection, email: Option<&str>) -> bool {
    if conn.settings.email_domains.is_empty() {
        return true;
    }
    email.and_then(email_domain).is_some_and(|d| conn.settings.email_domains.iter().any(|a| a.eq_ignore_ascii_case(&d)))
}

/// The connections offered to a sign-in into `tenant_id`: the tenant's and the instance's,
/// enabled ones only.
pub async fn offered(p: &Provider, tenant_id: &str) -> Result<Vec<Connection>, FedError> {
    let mut out = p.stores.federation.list_connections(tenant_id).await?;
    if tenant_id != crate::store::INSTANCE_SCOPE {
        out.extend(p.stores.federation.list_connections(crate::store::INSTANCE_SCOPE).await?);
    }
    out.retain(|c| c.enabled);
    Ok(out)
}

/// Finds an offered connection by `idp_hint` (its id, or `{tenant}/{id}` for an
/// instance-wide one).
pub fn by_hint<'a>(offered: &'a [Connection], hint: &str) -> Option<&'a Connection> {
    offered.iter().find(|c| c.id == hint || format!("{}/{}", c.tenant_id, c.id) == hint)
}

/// Home-realm discovery: the offered connection that claims the email's domain.
pub fn by_email<'a>(offered: &'a [Connection], email: &str) -> Option<&'a Connection> {
    let domain = email_domain(email)?;
    offered.iter().find(|c| c.settings.email_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)))
}

/// What a session signed in through a connection keeps, to end the upstream session later.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamSession {
    pub tenant_id: String,
    pub connection_id: String,
    /// The upstream ID token (the logout's `id_token_hint`), sealed: the state store never
    /// holds it in clear.
    id_token_sealed: String,
}

/// What the sealed ID token of a session belongs to.
const ID_TOKEN_CONTEXT: &str = "upstream-id-token";

impl UpstreamSession {
    pub fn new(p: &Provider, tenant_id: &str, connection_id: &str, id_token: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_string(),
            connection_id: connection_id.to_string(),
            id_token_sealed: p.federation.sealing().seal(id_token.as_bytes(), ID_TOKEN_CONTEXT),
        }
    }

    fn id_token(&self, p: &Provider) -> Option<String> {
        let plain = p.federation.sealing().open(&self.id_token_sealed, ID_TOKEN_CONTEXT).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// A pending return from the upstream's logout: where to go afterwards.
#[derive(Serialize, Deserialize)]
struct PendingReturn {
    redirect: Option<String>,
}

/// The upstream end-session URL to visit when ending a session that came through a
/// connection (RP-Initiated Logout at the upstream), or `None` when the connection does not
/// ask for it or the upstream has no end-session endpoint. The upstream sends the browser
/// back to [`LOGGED_OUT_PATH`], which goes on to `then` (or the signed-out page).
pub async fn logout_redirect(p: &Provider, up: &UpstreamSession, then: Option<String>) -> Option<String> {
    let conn = p.stores.federation.get_connection(&up.tenant_id, &up.connection_id).await.ok()??;
    if !conn.settings.end_session {
        return None;
    }
    let meta = p.federation.metadata(&conn, false).await.ok()?;
    let endpoint = meta.additional_metadata().end_session_endpoint.clone()?;
    if !p.settings.outbound.fetchable(&endpoint) {
        return None;
    }
    let id_token = up.id_token(p)?;
    let state = random_token(24);
    let value = serde_json::to_vec(&PendingReturn { redirect: then }).ok()?;
    p.kv.put(&format!("fedlogout:{}", hash_secret(&state)), &value, p.settings.login_request_ttl).await.ok()?;
    let back = p.settings.url(LOGGED_OUT_PATH);
    Some(crate::oauth::authorize::append_query(
        &endpoint,
        &[
            ("id_token_hint", id_token.as_str()),
            ("client_id", conn.client_id.as_str()),
            ("post_logout_redirect_uri", back.as_str()),
            ("state", state.as_str()),
        ],
    ))
}

/// Where to go once the upstream has ended its session: `Some(None)` for the signed-out
/// page, `None` when the state is unknown (the page says so too).
pub async fn logged_out(p: &Provider, state: Option<&str>) -> Option<Option<String>> {
    let state = state.filter(|s| !s.is_empty() && s.len() <= 256)?;
    let raw = p.kv.take(&format!("fedlogout:{}", hash_secret(state))).await.ok()??;
    let pending: PendingReturn = serde_json::from_slice(&raw).ok()?;
    Some(pending.redirect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ConnectionSettings, INSTANCE_SCOPE};

    fn conn(domains: &[&str]) -> Connection {
        Connection {
            tenant_id: "acme".into(),
            id: "okta".into(),
            name: "Okta".into(),
            issuer: "https://acme.okta.example".into(),
            client_id: "c".into(),
            client_secret_sealed: None,
            settings: ConnectionSettings {
                email_domains: domains.iter().map(|d| d.to_string()).collect(),
                ..Default::default()
            },
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn claims_are_mapped_by_the_connection_rules() {
        let mut c = conn(&[]);
        let claims: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "sub": "00u1", "oid": "object-1", "preferred_username": "alice", "email": "Alice@Example.COM",
            "email_verified": "true", "name": "Alice", "groups": ["eng", 7, "ops"]
        }))
        .unwrap();
        let id = map_claims(&c, &claims).unwrap();
        assert_eq!(id.subject, "00u1");
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert!(id.email_verified);
        assert_eq!(id.groups, vec!["eng", "ops"]);
        c.settings.claims.subject = "oid".into();
        c.settings.claims.groups = "missing".into();
        let id = map_claims(&c, &claims).unwrap();
        assert_eq!(id.subject, "object-1");
        assert!(id.groups.is_empty());
        c.settings.claims.subject = "nope".into();
        assert!(map_claims(&c, &claims).is_none());
    }

    #[test]
    fn email_domains_route_and_restrict() {
        let c = conn(&["example.com"]);
        assert!(domain_allowed(&c, Some("bob@EXAMPLE.com")));
        assert!(!domain_allowed(&c, Some("bob@example.com.evil.test")));
        assert!(!domain_allowed(&c, Some("bob@sub.example.com")));
        assert!(!domain_allowed(&c, None));
        assert!(domain_allowed(&conn(&[]), None));
        let all = vec![conn(&["example.com"])];
        assert!(by_email(&all, "x@example.com").is_some());
        assert!(by_email(&all, "x@other.com").is_none());
        assert!(by_email(&all, "example.com").is_none());
        let mut inst = conn(&[]);
        inst.tenant_id = INSTANCE_SCOPE.into();
        let all = vec![inst];
        assert!(by_hint(&all, "okta").is_some());
        assert!(by_hint(&all, "*/okta").is_some());
        assert!(by_hint(&all, "other").is_none());
    }

    #[test]
    fn upstream_error_text_is_clipped_and_printable() {
        let long = "x".repeat(1000) + "\u{7}";
        assert_eq!(clip(&long).len(), MAX_ERROR_TEXT);
        assert_eq!(clip("a\nb"), "ab");
    }
}
