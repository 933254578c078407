//! End to end, in a real browser: the built `tessera` binary, headless Chromium driven through
//! ChromeDriver (fantoccini), and the independent `openidconnect` crate as the relying party.
//!
//! Each backend runs the same story:
//! - `prompt=none` in a fresh browser comes back to the client with `login_required`;
//! - a confidential client (first-party, `client_secret_basic`) signs alice in through the login
//!   page; the code is exchanged with PKCE, the ID token is validated by `openidconnect` against
//!   the JWKS (signature, nonce, `at_hash`), userinfo answers, the refresh token rotates,
//!   introspection says active, revocation of the refresh token ends the grant;
//! - a second authorization in the same browser needs no password (single sign-on);
//! - RP-initiated logout, after which `prompt=none` says `login_required` again;
//! - a public client (no secret, PKCE, consent page) runs the whole flow too, then signs on
//!   again without password or consent.
//!
//! Needs Debian's `chromium` and `chromium-driver`; the PostgreSQL + Redis run needs both
//! servers (`TESSERA_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`,
//! trust auth; `TESSERA_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`). A missing piece is
//! a failure that says how to install or start it, never a skip.

#[path = "common/browser.rs"]
mod browser;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use browser::{
    ChromeDriver, RedisPrefix, RpServer, STEP, TempDatabase, Tessera, eventually, random_hex, require_browser, rp_http,
};
use fantoccini::Locator;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IntrospectionUrl, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    SubjectIdentifier, TokenIntrospectionResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use url::Url;

const USERNAME: &str = "alice";
const PASSWORD: &str = "Correct-Horse-Battery-Staple-7";
const EMAIL: &str = "alice@example.test";
const FULL_NAME: &str = "Alice Liddell";

/// One browser and one server at a time: two cores cannot run both backends side by side
/// without turning every wait into a race against the clock.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_oidc_sqlite_memory() {
    let _one_at_a_time = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let database_url = format!("sqlite://{}/t.db", dir.path().display());
    let env = vec![
        ("TESSERA__DATABASE__URL".to_string(), database_url),
        ("TESSERA__STATE__BACKEND".to_string(), "memory".to_string()),
    ];
    run_story("sqlite+memory", dir.path(), env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_oidc_postgres_redis() {
    let _one_at_a_time = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let redis_url = std::env::var("TESSERA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis_prefix = format!("tessera-browser-test:{}:", random_hex(8));
    let redis = RedisPrefix::check(&redis_url, &redis_prefix).await;
    let database = TempDatabase::create().await;
    let env = vec![
        ("TESSERA__DATABASE__URL".to_string(), database.url.clone()),
        ("TESSERA__STATE__BACKEND".to_string(), "redis".to_string()),
        ("TESSERA__STATE__REDIS_URL".to_string(), redis_url.clone()),
        ("TESSERA__STATE__REDIS_PREFIX".to_string(), redis_prefix.clone()),
    ];
    run_story("postgres+redis", dir.path(), env).await;
    // Also done on drop when the story panics; here so that a cleanup failure is visible.
    redis.cleanup().await;
    database.drop_now().await;
}

// ---------------------------------------------------------------------------------------------
// The story
// ---------------------------------------------------------------------------------------------

async fn run_story(backend: &str, dir: &Path, backend_env: Vec<(String, String)>) {
    let started = Instant::now();
    require_browser();

    let rp = RpServer::start().await;
    let callback = format!("http://127.0.0.1:{}/callback", rp.port);
    let logged_out = format!("http://127.0.0.1:{}/logged-out", rp.port);

    let server = Tessera::start(dir, backend_env).await;
    let user = server.cli(&[
        "users",
        "create",
        "--username",
        USERNAME,
        "--password",
        PASSWORD,
        "--email",
        EMAIL,
        "--name",
        FULL_NAME,
    ]);
    let user_id = user["id"].as_str().expect("users create prints the id").to_string();
    let confidential = server.cli(&[
        "clients",
        "create",
        "--name",
        "Confidential App",
        "--redirect-uri",
        &callback,
        "--post-logout-redirect-uri",
        &logged_out,
        "--first-party",
    ]);
    let public = server.cli(&[
        "clients",
        "create",
        "--name",
        "Public App",
        "--redirect-uri",
        &callback,
        "--post-logout-redirect-uri",
        &logged_out,
        "--public",
    ]);
    assert_eq!(confidential["token_endpoint_auth_method"], "client_secret_basic", "{confidential}");
    assert_eq!(public["token_endpoint_auth_method"], "none", "{public}");
    assert!(public.get("client_secret").is_none(), "a public client has no secret: {public}");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let metadata = Metadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &rp_http(&http))
        .await
        .unwrap_or_else(|e| panic!("openidconnect discovery of {} failed: {e:?}", server.issuer));
    assert!(!metadata.jwks().keys().is_empty(), "the JWKS has keys");

    let conf_app = App::new("confidential", &metadata, &confidential, &callback, &["profile", "email"]);
    let public_app = App::new("public", &metadata, &public, &callback, &["profile", "email", "offline_access"]);

    let driver = ChromeDriver::start(dir).await;
    let browser = driver.browser(dir).await;
    let h = Harness {
        browser: &browser,
        http: http.clone(),
        issuer: server.issuer.clone(),
        metadata: &metadata,
        callback: callback.clone(),
        logged_out: logged_out.clone(),
        user_id: user_id.clone(),
    };

    // 1. A fresh browser has no session: prompt=none cannot sign anyone in.
    let flow = h.begin(&conf_app, true).await;
    let params = h.expect_callback(&flow).await;
    assert_eq!(params.get("error").map(String::as_str), Some("login_required"), "{params:?}");
    assert!(!params.contains_key("code"), "{params:?}");

    // 2. The confidential client: login page, code, tokens.
    let flow = h.begin(&conf_app, false).await;
    h.expect_page(Page::Login).await;
    h.sign_in(USERNAME, PASSWORD).await;
    let params = h.expect_callback(&flow).await;
    let tokens = h.redeem(&conf_app, &params, flow).await;
    h.token_lifecycle(&conf_app, &tokens).await;

    // 3. Single sign-on: a second authorization needs no password.
    let flow = h.begin(&conf_app, false).await;
    let params = h.expect_callback(&flow).await;
    let sso_tokens = h.redeem(&conf_app, &params, flow).await;
    // prompt=none with a live session answers with a code as well.
    let flow = h.begin(&conf_app, true).await;
    let params = h.expect_callback(&flow).await;
    h.redeem(&conf_app, &params, flow).await;

    // 4. RP-initiated logout with id_token_hint, then prompt=none fails again.
    let id_token = sso_tokens.id_token().expect("ID token").to_string();
    h.logout(&metadata, &conf_app, &id_token).await;
    let flow = h.begin(&conf_app, true).await;
    let params = h.expect_callback(&flow).await;
    assert_eq!(params.get("error").map(String::as_str), Some("login_required"), "after logout: {params:?}");

    // 5. The public client: login page, consent page, code with PKCE and no secret.
    let flow = h.begin(&public_app, false).await;
    h.expect_page(Page::Login).await;
    let page = browser.source().await.expect("page source");
    assert!(page.contains("Public App"), "the login page names the client");
    h.sign_in(USERNAME, PASSWORD).await;
    h.expect_page(Page::Consent).await;
    h.click(Locator::XPath("//button[@name='decision' and @value='allow']"), "the Allow button").await;
    let params = h.expect_callback(&flow).await;
    let tokens = h.redeem(&public_app, &params, flow).await;
    h.token_lifecycle(&public_app, &tokens).await;

    // 6. Single sign-on for the public client: no password, and consent is remembered.
    let flow = h.begin(&public_app, false).await;
    let params = h.expect_callback(&flow).await;
    h.redeem(&public_app, &params, flow).await;

    // The relying party's own listener saw the browser arrive.
    let seen = rp.seen();
    assert!(seen.iter().filter(|p| p.starts_with("/callback?")).count() >= 7, "RP saw {seen:?}");
    assert!(seen.iter().any(|p| p.starts_with("/logged-out")), "RP saw {seen:?}");

    browser.close().await.expect("close the browser");
    eprintln!("browser OIDC story on {backend} passed in {:.1} s", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// Relying party (openidconnect)
// ---------------------------------------------------------------------------------------------

/// The discovery fields `CoreProviderMetadata` does not carry.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ExtraMetadata {
    end_session_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
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

type Rp = CoreClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

struct App {
    label: &'static str,
    client_id: String,
    secret: Option<String>,
    scopes: Vec<&'static str>,
    oidc: Rp,
}

impl App {
    fn new(
        label: &'static str,
        metadata: &Metadata,
        created: &serde_json::Value,
        callback: &str,
        scopes: &[&'static str],
    ) -> Self {
        let client_id = created["client_id"].as_str().expect("clients create prints client_id").to_string();
        let secret = created.get("client_secret").and_then(|s| s.as_str()).map(str::to_string);
        let oidc = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(client_id.clone()),
            secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(callback.to_string()).unwrap())
        .set_introspection_url(
            IntrospectionUrl::new(metadata.additional_metadata().introspection_endpoint.clone()).unwrap(),
        );
        Self { label, client_id, secret, scopes: scopes.to_vec(), oidc }
    }
}

/// An authorization in progress: what the relying party keeps until the browser comes back.
struct Flow {
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

#[derive(Debug, PartialEq)]
enum Page {
    Login,
    Consent,
    Callback,
    LoggedOut,
}

struct Harness<'a> {
    browser: &'a fantoccini::Client,
    http: reqwest::Client,
    issuer: String,
    metadata: &'a Metadata,
    callback: String,
    logged_out: String,
    user_id: String,
}

impl Harness<'_> {
    /// Builds an authorization URL (PKCE S256, nonce, state) and sends the browser there.
    async fn begin(&self, app: &App, prompt_none: bool) -> Flow {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = app
            .oidc
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in &app.scopes {
            request = request.add_scope(Scope::new(s.to_string()));
        }
        if prompt_none {
            request = request.add_prompt(CoreAuthPrompt::None);
        }
        let (url, state, nonce) = request.url();
        self.browser.goto(url.as_str()).await.unwrap_or_else(|e| panic!("browser cannot open {url}: {e}"));
        Flow { state, nonce, verifier }
    }

    fn classify(&self, url: &str) -> Option<Page> {
        let on_issuer = |path: &str| {
            url.strip_prefix(&self.issuer).is_some_and(|rest| rest == path || rest.starts_with(&format!("{path}?")))
        };
        if url.starts_with(&self.callback) {
            Some(Page::Callback)
        } else if url.starts_with(&self.logged_out) {
            Some(Page::LoggedOut)
        } else if on_issuer("/login") {
            Some(Page::Login)
        } else if on_issuer("/consent") {
            Some(Page::Consent)
        } else {
            None
        }
    }

    /// Waits until the browser shows `expected`; fails at once on another known page or on one
    /// of Tessera's error pages, and after [`STEP`] on anything else.
    async fn expect_page(&self, expected: Page) -> Url {
        let deadline = Instant::now() + STEP;
        loop {
            if let Ok(url) = self.browser.current_url().await {
                match self.classify(url.as_str()) {
                    Some(page) if page == expected => return url,
                    Some(page) => {
                        let text = self.page_text().await;
                        panic!("expected the {expected:?} page, the browser is on the {page:?} page {url}:\n{text}");
                    }
                    None => {
                        let title = self.browser.title().await.unwrap_or_default();
                        if ["refused", "expired", "failed", "Not found"].iter().any(|w| title.contains(w)) {
                            let text = self.page_text().await;
                            panic!("expected the {expected:?} page, Tessera shows an error at {url}:\n{text}");
                        }
                    }
                }
                if Instant::now() > deadline {
                    let text = self.page_text().await;
                    panic!("the browser did not reach the {expected:?} page in {STEP:?}; it is at {url}:\n{text}");
                }
            } else if Instant::now() > deadline {
                panic!("the browser did not answer for {STEP:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn page_text(&self) -> String {
        match self.browser.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => self.browser.source().await.unwrap_or_default(),
        }
    }

    /// Waits for the redirect back to the client, checks `state` and `iss` (RFC 9207), and
    /// returns the query parameters.
    async fn expect_callback(&self, flow: &Flow) -> HashMap<String, String> {
        let url = self.expect_page(Page::Callback).await;
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(params.get("state"), Some(flow.state.secret()), "state must come back unchanged: {url}");
        assert_eq!(params.get("iss"), Some(&self.issuer), "iss must name the issuer (RFC 9207): {url}");
        let body = self.page_text().await;
        assert_eq!(body.trim(), "ok", "the relying party's page is shown");
        params
    }

    async fn find(&self, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + STEP;
        loop {
            match self.browser.find(locator).await {
                Ok(e) => return e,
                Err(e) if Instant::now() > deadline => {
                    let text = self.page_text().await;
                    panic!("cannot find {what}: {e}\npage:\n{text}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The input a `<label>` with this text points to.
    async fn labelled(&self, label: &str) -> fantoccini::elements::Element {
        let xpath = format!("//label[normalize-space(.)='{label}']");
        let label_el = self.find(Locator::XPath(&xpath), &format!("the label '{label}'")).await;
        let target = label_el.attr("for").await.expect("label attribute").expect("the label has a for attribute");
        self.find(Locator::Id(&target), &format!("the field labelled '{label}'")).await
    }

    /// Clicks a button that submits a form, and waits until the browser has left the page
    /// (a marker set on the old document is gone), so the next check sees the new page.
    async fn click(&self, locator: Locator<'_>, what: &str) {
        let button = self.find(locator, what).await;
        self.browser.execute("window.__tesseraOldPage = true; return true;", vec![]).await.expect("mark the page");
        button.click().await.unwrap_or_else(|e| panic!("cannot click {what}: {e}"));
        eventually(&format!("the page after clicking {what}"), || async {
            match self.browser.execute("return window.__tesseraOldPage === true;", vec![]).await {
                Ok(serde_json::Value::Bool(false)) => Ok(()),
                Ok(v) => Err(format!("still on the old page ({v})")),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    }

    async fn sign_in(&self, username: &str, password: &str) {
        let user = self.labelled("Username").await;
        user.clear().await.expect("clear the username field");
        user.send_keys(username).await.expect("type the username");
        self.labelled("Password").await.send_keys(password).await.expect("type the password");
        self.click(Locator::XPath("//button[@type='submit' and normalize-space(.)='Sign in']"), "the Sign in button")
            .await;
    }

    /// Exchanges the code; openidconnect validates the ID token (signature against the JWKS,
    /// issuer, audience, expiry, nonce) and `at_hash` is checked against the access token.
    async fn redeem(&self, app: &App, params: &HashMap<String, String>, flow: Flow) -> CoreTokenResponse {
        let code = params.get("code").unwrap_or_else(|| panic!("{}: no code in {params:?}", app.label));
        let tokens = app
            .oidc
            .exchange_code(AuthorizationCode::new(code.clone()))
            .expect("the token endpoint is known")
            .set_pkce_verifier(flow.verifier)
            .request_async(&rp_http(&self.http))
            .await
            .unwrap_or_else(|e| panic!("{}: code exchange failed: {}", app.label, describe(&e)));
        let subject = self.check_id_token(app, &tokens, Some(&flow.nonce));
        assert_eq!(subject.as_str(), self.user_id, "the ID token names alice");
        tokens
    }

    /// Validates the ID token of a token response and returns its subject.
    fn check_id_token(&self, app: &App, tokens: &CoreTokenResponse, nonce: Option<&Nonce>) -> SubjectIdentifier {
        let id_token = tokens.id_token().unwrap_or_else(|| panic!("{}: no ID token", app.label));
        let verifier = app.oidc.id_token_verifier();
        let claims = match nonce {
            Some(n) => id_token.claims(&verifier, n),
            // A refreshed ID token carries no nonce (OIDC Core section 12.2).
            None => id_token.claims(&verifier, |n: Option<&Nonce>| match n {
                None => Ok(()),
                Some(_) => Err("a refreshed ID token must not carry a nonce".to_string()),
            }),
        }
        .unwrap_or_else(|e| panic!("{}: the ID token does not validate: {e:?}", app.label));
        let expected =
            claims.access_token_hash().unwrap_or_else(|| panic!("{}: the ID token has no at_hash", app.label));
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().expect("signing algorithm"),
            id_token.signing_key(&verifier).expect("signing key"),
        )
        .expect("at_hash of the access token");
        assert_eq!(&actual, expected, "{}: at_hash does not match the access token", app.label);
        assert_eq!(claims.issuer().as_str(), self.issuer);
        assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some(USERNAME));
        assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
        claims.subject().clone()
    }

    /// Userinfo, refresh with rotation, introspection, revocation.
    async fn token_lifecycle(&self, app: &App, tokens: &CoreTokenResponse) {
        let http = rp_http(&self.http);
        let label = app.label;
        let subject = SubjectIdentifier::new(self.user_id.clone());

        let info: CoreUserInfoClaims = app
            .oidc
            .user_info(tokens.access_token().clone(), Some(subject.clone()))
            .expect("the userinfo endpoint is known")
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{label}: userinfo failed: {e:?}"));
        assert_eq!(info.preferred_username().map(|u| u.as_str()), Some(USERNAME));
        assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));
        assert_eq!(info.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some(FULL_NAME));

        let first_refresh = tokens.refresh_token().unwrap_or_else(|| panic!("{label}: no refresh token")).clone();
        let refreshed = app
            .oidc
            .exchange_refresh_token(&first_refresh)
            .expect("the token endpoint is known")
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{label}: refresh failed: {}", describe(&e)));
        let second_refresh =
            refreshed.refresh_token().unwrap_or_else(|| panic!("{label}: the refresh gave no new refresh token"));
        assert_ne!(first_refresh.secret(), second_refresh.secret(), "{label}: the refresh token must rotate");
        assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());
        if refreshed.id_token().is_some() {
            let sub = self.check_id_token(app, &refreshed, None);
            assert_eq!(sub, subject);
        }

        // RFC 7662 through openidconnect: the new access token is active, and only the newest
        // refresh token is.
        let intro = self.introspect(app, refreshed.access_token(), "access_token").await;
        assert!(intro.active(), "{label}: the new access token is active: {intro:?}");
        assert_eq!(intro.client_id().map(|c| c.as_str()), Some(app.client_id.as_str()));
        assert_eq!(intro.sub(), Some(self.user_id.as_str()));
        assert_eq!(intro.iss(), Some(self.issuer.as_str()));
        assert!(intro.scopes().is_some_and(|s| s.iter().any(|s| s.as_str() == "openid")), "{intro:?}");
        let as_token = |r: &RefreshToken| AccessToken::new(r.secret().clone());
        let intro = self.introspect(app, &as_token(second_refresh), "refresh_token").await;
        assert!(intro.active(), "{label}: the current refresh token is active: {intro:?}");
        let intro = self.introspect(app, &as_token(&first_refresh), "refresh_token").await;
        assert!(!intro.active(), "{label}: a rotated refresh token is inactive: {intro:?}");

        // RFC 7009 by hand: oauth2 5 refuses a revocation endpoint that is not https.
        self.revoke(app, second_refresh.secret(), "refresh_token").await;
        let err = app
            .oidc
            .exchange_refresh_token(second_refresh)
            .expect("the token endpoint is known")
            .request_async(&http)
            .await
            .err()
            .unwrap_or_else(|| panic!("{label}: a revoked refresh token still refreshes"));
        match &err {
            RequestTokenError::ServerResponse(r) => {
                assert_eq!(*r.error(), CoreErrorResponseType::InvalidGrant, "{label}: {}", describe(&err));
            }
            other => panic!("{label}: expected invalid_grant, got {}", describe(other)),
        }
        let intro = self.introspect(app, refreshed.access_token(), "access_token").await;
        assert!(!intro.active(), "{label}: revoking the grant deactivates its access token: {intro:?}");
        let intro = self.introspect(app, &as_token(second_refresh), "refresh_token").await;
        assert!(!intro.active(), "{label}: the revoked refresh token is inactive: {intro:?}");
        let after: Result<CoreUserInfoClaims, _> = app
            .oidc
            .user_info(refreshed.access_token().clone(), Some(subject))
            .expect("the userinfo endpoint is known")
            .request_async(&http)
            .await;
        assert!(after.is_err(), "{label}: userinfo refuses an access token of a revoked grant");
    }

    async fn introspect(
        &self,
        app: &App,
        token: &AccessToken,
        hint: &'static str,
    ) -> openidconnect::core::CoreTokenIntrospectionResponse {
        app.oidc
            .introspect(token)
            .set_token_type_hint(hint)
            .request_async(&rp_http(&self.http))
            .await
            .unwrap_or_else(|e| panic!("{}: introspection failed: {}", app.label, describe(&e)))
    }

    async fn revoke(&self, app: &App, token: &str, hint: &str) {
        let url = &self.metadata.additional_metadata().revocation_endpoint;
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let mut request = self.http.post(url);
        match &app.secret {
            // RFC 6749 section 2.3.1: both parts form-urlencoded (random ids and secrets are
            // URL-safe already).
            Some(secret) => request = request.basic_auth(&app.client_id, Some(secret)),
            None => form.push(("client_id", &app.client_id)),
        }
        let response = request.form(&form).send().await.expect("revocation request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, reqwest::StatusCode::OK, "{}: revocation answered {status}: {body}", app.label);
    }

    /// RP-initiated logout with `id_token_hint`: no confirmation page, back to the registered
    /// post-logout URI with `state`.
    async fn logout(&self, metadata: &Metadata, app: &App, id_token: &str) {
        let state = random_hex(12);
        let mut url = Url::parse(&metadata.additional_metadata().end_session_endpoint).expect("end_session_endpoint");
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", &self.logged_out)
            .append_pair("client_id", &app.client_id)
            .append_pair("state", &state);
        self.browser.goto(url.as_str()).await.expect("open the logout URL");
        let back = self.expect_page(Page::LoggedOut).await;
        let params: HashMap<String, String> = back.query_pairs().into_owned().collect();
        assert_eq!(params.get("state"), Some(&state), "logout returns state: {back}");
    }
}

fn describe<E: std::error::Error, T: openidconnect::ErrorResponse + 'static>(e: &RequestTokenError<E, T>) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => format!("server said {r:?}"),
        RequestTokenError::Request(r) => format!("request failed: {r}"),
        RequestTokenError::Parse(p, body) => {
            format!("cannot parse the answer ({p}): {}", String::from_utf8_lossy(body))
        }
        RequestTokenError::Other(o) => o.clone(),
    }
}
