//! The protocol endpoints in process, on SQLite + memory and on PostgreSQL + Redis: the happy
//! paths, and each refusal the RFCs prescribe with its error code and status.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::spki::{spki_der, spki_pem};
use common::*;
use serde_json::Value;
use tessera::store::DEFAULT_TENANT;

async fn discovery_and_jwks(b: Backend) {
    let app = TestApp::new(b).await;
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK);
        let doc = body_json(res).await;
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(doc["token_endpoint"], format!("{ISSUER}/token"));
        assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert!(doc["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&"RS256".into()));
    }
    let res = app.get("/jwks.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CACHE_CONTROL].to_str().unwrap().contains("max-age="));
    let jwks = body_json(res).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for k in keys {
        assert!(k.get("d").is_none() && k.get("p").is_none(), "no private parts: {k}");
        assert!(k["kid"].is_string() && k["alg"].is_string());
    }
}

async fn code_flow_tokens_userinfo_refresh(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    let alice = app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid profile email").await;
    let (status, tok) = app.exchange("web", &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    let at = tok["access_token"].as_str().unwrap();
    let (h, c) = jwt_parts(at);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "ES256");
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], alice.id.as_str());
    assert_eq!(c["aud"], "https://api.test");
    assert_eq!(c["client_id"], "web");
    assert!(c["jti"].is_string() && c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
    let (h, id) = jwt_parts(tok["id_token"].as_str().unwrap());
    assert_eq!(h["alg"], "RS256");
    assert_eq!(id["aud"], "web");
    assert_eq!(id["nonce"], "n0nce");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert!(id["auth_time"].is_i64() && id["at_hash"].is_string());

    let res = app
        .send(
            Request::get("/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {at}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let info = body_json(res).await;
    assert_eq!(info["sub"], alice.id.as_str());
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["preferred_username"], "alice");

    let rt = tok["refresh_token"].as_str().unwrap();
    let res = app
        .post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", rt)], Some(("web", "s3cret-web")))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let refreshed = body_json(res).await;
    assert_ne!(refreshed["refresh_token"], tok["refresh_token"], "rotated");
    assert!(app.introspect("web", refreshed["access_token"].as_str().unwrap()).await["active"] == true);
}

async fn wrong_client_secret_is_401_with_challenge(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("svc", false, |_| {}).await;
    for creds in [("svc", "wrong"), ("nobody", "s3cret-svc")] {
        let res = app.post_form("/token", &[("grant_type", "client_credentials")], Some(creds)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic"));
        assert_eq!(body_json(res).await["error"], "invalid_client");
    }
    // Secret in the body of a client registered for Basic: refused too.
    let res = app
        .post_form(
            "/token",
            &[("grant_type", "client_credentials"), ("client_id", "svc"), ("client_secret", "s3cret-svc")],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn client_credentials_issues_an_rfc9068_token(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("svc", false, |c| c.access_token_alg = "EdDSA".into()).await;
    let res = app.post_form("/token", &[("grant_type", "client_credentials")], Some(("svc", "s3cret-svc"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let tok = body_json(res).await;
    assert!(tok.get("refresh_token").is_none() && tok.get("id_token").is_none());
    assert_eq!(tok["scope"], "flows:read");
    let (h, c) = jwt_parts(tok["access_token"].as_str().unwrap());
    assert_eq!((h["typ"].as_str(), h["alg"].as_str()), (Some("at+jwt"), Some("EdDSA")));
    assert_eq!(c["sub"], "svc");
    assert_eq!((c["tnt"].as_str(), c["pk"].as_str()), (Some("default"), Some("c")));
    assert!(c.get("rb").is_none() && c.get("adm").is_none(), "a bare client carries no bindings");
    // RFC 8707 resource narrows the audience; an unknown one is invalid_target.
    let res = app
        .post_form(
            "/token",
            &[("grant_type", "client_credentials"), ("resource", "https://other-api.test")],
            Some(("svc", "s3cret-svc")),
        )
        .await;
    assert_eq!(jwt_parts(body_json(res).await["access_token"].as_str().unwrap()).1["aud"], "https://other-api.test");
    let res = app
        .post_form(
            "/token",
            &[("grant_type", "client_credentials"), ("resource", "https://evil.test")],
            Some(("svc", "s3cret-svc")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(res).await["error"], "invalid_target");
    let res = app
        .post_form("/token", &[("grant_type", "client_credentials"), ("scope", "admin")], Some(("svc", "s3cret-svc")))
        .await;
    assert_eq!(body_json(res).await["error"], "invalid_scope");
}

async fn unregistered_or_altered_redirect_uri_is_an_error_page(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    for uri in [
        "https://evil.test/callback",
        "https://app.test/callback/",
        "https://app.test/callback?x=1",
        "HTTPS://app.test/callback",
    ] {
        let q = form(&[("client_id", "web"), ("redirect_uri", uri), ("response_type", "code"), ("scope", "openid")]);
        let res = app.get(&format!("/authorize?{q}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(res.headers().get(header::LOCATION).is_none(), "never redirect to {uri}");
        assert!(body_text(res).await.contains("redirect_uri is not registered"));
    }
    let res =
        app.get("/authorize?client_id=nope&redirect_uri=https%3A%2F%2Fapp.test%2Fcallback&response_type=code").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(header::LOCATION).is_none());
}

async fn errors_after_redirect_validation_go_back_with_state_and_iss(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.client("spa", true, |_| {}).await;
    let cases = [
        ("web", vec![("response_type", "token")], "unsupported_response_type"),
        ("web", vec![("response_type", "code"), ("scope", "openid admin")], "invalid_scope"),
        (
            "web",
            vec![("response_type", "code"), ("code_challenge", "abc"), ("code_challenge_method", "plain")],
            "invalid_request",
        ),
        ("spa", vec![("response_type", "code"), ("scope", "openid")], "invalid_request"), // public client without PKCE
        ("web", vec![("response_type", "code"), ("prompt", "none")], "login_required"),
        ("web", vec![("response_type", "code"), ("prompt", "none login")], "invalid_request"),
    ];
    for (client, extra, expected) in cases {
        let mut params = vec![("client_id", client), ("redirect_uri", REDIRECT), ("state", "xyz")];
        params.extend(extra);
        let res = app.get(&format!("/authorize?{}", form(&params))).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let loc = location(&res);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(query_param(&loc, "error").as_deref(), Some(expected), "{loc}");
        assert_eq!(query_param(&loc, "state").as_deref(), Some("xyz"));
        assert_eq!(query_param(&loc, "iss").as_deref(), Some(ISSUER));
    }
}

async fn reused_code_is_refused_and_revokes_its_tokens(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let (status, tok) = app.exchange("web", &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(app.introspect("web", at).await["active"], true);
    let (status, err) = app.exchange("web", &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(app.introspect("web", at).await["active"], false, "access token from the reused code is revoked");
    let rt = tok["refresh_token"].as_str().unwrap();
    let res = app
        .post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", rt)], Some(("web", "s3cret-web")))
        .await;
    assert_eq!(body_json(res).await["error"], "invalid_grant");
}

async fn pkce_is_enforced(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.client("spa", true, |_| {}).await;
    app.user("alice").await;
    // Mismatch.
    let (code, _) = app.code_for("web", "alice", "openid").await;
    let (status, err) = app.exchange("web", &code, &pkce().0).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    // Missing verifier for a public client.
    let (code, verifier) = app.code_for("spa", "alice", "openid").await;
    let res = app
        .post_form(
            "/token",
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("client_id", "spa")],
            None,
        )
        .await;
    assert_eq!(body_json(res).await["error"], "invalid_grant");
    // The public client with the right verifier (a fresh code: the last one was consumed).
    let _ = verifier;
    let (code, verifier) = app.code_for("spa", "alice", "openid").await;
    let res = app
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", "spa"),
                ("code_verifier", &verifier),
            ],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn redirect_uri_must_match_at_the_token_endpoint(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |c| c.redirect_uris.push("https://app.test/other".into())).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let res = app
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.test/other"),
                ("code_verifier", &verifier),
            ],
            Some(("web", "s3cret-web")),
        )
        .await;
    assert_eq!(body_json(res).await["error"], "invalid_grant");
}

async fn expired_code_is_invalid_grant(b: Backend) {
    let app = TestApp::with_config(b, |c| c.tokens.authorization_code_lifetime_secs = 1).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, err) = app.exchange("web", &code, &verifier).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

/// Starts a grant for alice at `web` and returns its first refresh token.
async fn refresh_grant(app: &TestApp) -> String {
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let (_, tok) = app.exchange("web", &code, &verifier).await;
    tok["refresh_token"].as_str().unwrap().to_string()
}

async fn refresh_with(app: &TestApp, rt: &str) -> (StatusCode, serde_json::Value) {
    let res = app
        .post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", rt)], Some(("web", "s3cret-web")))
        .await;
    (res.status(), body_json(res).await)
}

fn refresh_token_of(body: &serde_json::Value) -> String {
    body["refresh_token"].as_str().unwrap_or_else(|| panic!("no refresh token: {body}")).to_string()
}

async fn reused_refresh_token_revokes_the_grant(b: Backend) {
    let app = TestApp::new(b).await;
    let rt1 = refresh_grant(&app).await;
    let (s, t2) = refresh_with(&app, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    let (s, t3) = refresh_with(&app, &refresh_token_of(&t2)).await;
    assert_eq!(s, StatusCode::OK, "{t3}");
    // rt1 was replaced two rotations ago: no grace covers it.
    let (s, e) = refresh_with(&app, &rt1).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (s, e) = refresh_with(&app, &refresh_token_of(&t3)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "whole grant revoked");
    assert_eq!(app.introspect("web", t3["access_token"].as_str().unwrap()).await["active"], false);
}

/// A client whose refresh answer was lost retries with the token it holds: within the grace,
/// it gets new tokens; the lost token is then stale, and presenting it revokes the grant.
async fn refresh_retry_within_the_grace_rotates_again(b: Backend) {
    let app = TestApp::new(b).await;
    let rt1 = refresh_grant(&app).await;
    let (s, lost) = refresh_with(&app, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{lost}");
    let (s, retry) = refresh_with(&app, &rt1).await;
    assert_eq!(s, StatusCode::OK, "the retry within the grace: {retry}");
    let rt3 = refresh_token_of(&retry);
    assert_ne!(rt3, refresh_token_of(&lost));
    assert_eq!(app.introspect("web", &rt3).await["active"], true);
    assert_eq!(app.introspect("web", &rt1).await["active"], false, "only the current token introspects active");
    // The retried token goes on rotating normally.
    let (s, next) = refresh_with(&app, &rt3).await;
    assert_eq!(s, StatusCode::OK, "{next}");
    // The lost answer's token was never used by the client: whoever presents it is a thief.
    let (s, e) = refresh_with(&app, &refresh_token_of(&lost)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (s, e) = refresh_with(&app, &refresh_token_of(&next)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "whole grant revoked");
    assert_eq!(app.introspect("web", next["access_token"].as_str().unwrap()).await["active"], false);
}

/// Two refreshes with one token at the same moment (two threads of one client) both succeed:
/// the second sees the first's rotation and takes the grace.
async fn concurrent_refreshes_with_one_token_both_succeed(b: Backend) {
    let app = TestApp::new(b).await;
    let rt1 = refresh_grant(&app).await;
    let ((s1, b1), (s2, b2)) = tokio::join!(refresh_with(&app, &rt1), refresh_with(&app, &rt1));
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{b1} {b2}");
    assert_ne!(refresh_token_of(&b1), refresh_token_of(&b2));
}

async fn strict_reuse_detection_without_a_grace(b: Backend) {
    let app = TestApp::with_config(b, |c| c.tokens.refresh_token_reuse_grace_secs = 0).await;
    let rt1 = refresh_grant(&app).await;
    let (s, t2) = refresh_with(&app, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    let (s, e) = refresh_with(&app, &rt1).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (s, e) = refresh_with(&app, &refresh_token_of(&t2)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "whole grant revoked");
}

async fn the_previous_refresh_token_after_the_grace_revokes_the_grant(b: Backend) {
    let app = TestApp::with_config(b, |c| c.tokens.refresh_token_reuse_grace_secs = 1).await;
    let rt1 = refresh_grant(&app).await;
    let (s, t2) = refresh_with(&app, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, e) = refresh_with(&app, &rt1).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (s, e) = refresh_with(&app, &refresh_token_of(&t2)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "whole grant revoked");
}

async fn malformed_bodies_are_invalid_request(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("svc", false, |_| {}).await;
    let send = |ct: &'static str, body: &'static [u8]| {
        let app = &app;
        async move {
            let req = Request::post("/token")
                .header(header::CONTENT_TYPE, ct)
                .header(header::AUTHORIZATION, basic_header("svc", "s3cret-svc"))
                .body(Body::from(body))
                .unwrap();
            let res = app.send(req).await;
            (res.status(), body_json(res).await)
        }
    };
    for (ct, body) in [
        ("application/json", &b"{\"grant_type\":\"client_credentials\"}"[..]),
        ("application/x-www-form-urlencoded", &b"grant_type=client_credentials&grant_type=client_credentials"[..]),
        ("application/x-www-form-urlencoded", &b"grant_type=\xff\xfe"[..]),
        ("application/x-www-form-urlencoded", &b""[..]),
    ] {
        let (status, e) = send(ct, body).await;
        assert_eq!((status, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{ct} {body:?}");
    }
    // NUL never reaches a store (PostgreSQL would refuse it with an internal error).
    let (status, e) = send("application/x-www-form-urlencoded", b"grant_type=client_credentials&client_id=a%00b").await;
    assert_eq!((status, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let (status, e) = send("application/x-www-form-urlencoded", b"grant_type=password&username=a&password=b").await;
    assert_eq!((status, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));
    let (_, e) = send("application/x-www-form-urlencoded", b"grant_type=urn%3Aexample%3Anope").await;
    assert_eq!(e["error"], "unsupported_grant_type");
}

async fn forged_tokens_are_refused_at_userinfo(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let (_, tok) = app.exchange("web", &code, &verifier).await;
    let at = tok["access_token"].as_str().unwrap();
    let (header_json, claims) = jwt_parts(at);
    let b64 = |v: &Value| tessera::crypto::b64url(v.to_string().as_bytes());
    // alg: none, no signature.
    let none = format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "at+jwt"})), b64(&claims));
    // HS256 keyed with a public key (the classic key-confusion attack): every published key,
    // under its own kid, keyed with its PEM and with its DER SubjectPublicKeyInfo.
    let jwks = body_json(app.get("/jwks.json").await).await;
    let mut hs = Vec::new();
    for jwk in jwks["keys"].as_array().unwrap() {
        let mut h = header_json.clone();
        h["alg"] = "HS256".into();
        h["kid"] = jwk["kid"].clone();
        let signing_input = format!("{}.{}", b64(&h), b64(&claims));
        let der = spki_der(jwk);
        for secret in [spki_pem(&der).into_bytes(), der] {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
            let sig = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
            let forged = format!("{signing_input}.{}", tessera::crypto::b64url(sig.as_ref()));
            // A real forgery: the MAC checks out with the public key bytes.
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
            (v.validate_exp, v.validate_aud) = (false, false);
            jsonwebtoken::decode::<Value>(&forged, &jsonwebtoken::DecodingKey::from_secret(&secret), &v).unwrap();
            hs.push(forged);
        }
    }
    assert_eq!(hs.len(), 6, "ES256, RS256 and EdDSA keys, PEM and DER each");
    // Tampered payload with the original signature.
    let mut c2 = claims.clone();
    c2["sub"] = "mallory".into();
    let parts: Vec<&str> = at.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&c2), parts[2]);
    for bad in [none.as_str(), tampered.as_str(), "not-a-jwt"].into_iter().chain(hs.iter().map(String::as_str)) {
        let res = app
            .send(
                Request::get("/userinfo")
                    .header(header::AUTHORIZATION, format!("Bearer {bad}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().contains("error=\"invalid_token\""));
    }
    let res = app.get("/userinfo").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
    // An ID token is not an access token.
    let idt = tok["id_token"].as_str().unwrap();
    let res = app
        .send(
            Request::get("/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {idt}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn revocation_and_introspection(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.client("other", false, |_| {}).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let (_, tok) = app.exchange("web", &code, &verifier).await;
    let at = tok["access_token"].as_str().unwrap();
    let rt = tok["refresh_token"].as_str().unwrap();
    let i = app.introspect("web", rt).await;
    assert_eq!((i["active"].as_bool(), i["token_type"].as_str()), (Some(true), Some("refresh_token")));
    // Another client cannot see or revoke web's refresh token.
    assert_eq!(app.introspect("other", rt).await["active"], false);
    let res = app.post_form("/revoke", &[("token", rt)], Some(("other", "s3cret-other"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.introspect("web", rt).await["active"], true);
    // Revoking the access token makes it inactive; unknown tokens are fine (RFC 7009 2.2).
    let res = app
        .post_form("/revoke", &[("token", at), ("token_type_hint", "access_token")], Some(("web", "s3cret-web")))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.introspect("web", at).await["active"], false);
    let res = app.post_form("/revoke", &[("token", "garbage")], Some(("web", "s3cret-web"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Revoking the refresh token ends the grant.
    app.post_form("/revoke", &[("token", rt)], Some(("web", "s3cret-web"))).await;
    assert_eq!(app.introspect("web", rt).await["active"], false);
    // Both endpoints require client authentication.
    let res = app.post_form("/introspect", &[("token", at)], Some(("web", "nope"))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.post_form("/revoke", &[], Some(("web", "s3cret-web"))).await;
    assert_eq!(body_json(res).await["error"], "invalid_request");
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn revoking_a_rotated_refresh_token_ends_the_grant(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let (_, tok) = app.exchange("web", &code, &verifier).await;
    let rt1 = tok["refresh_token"].as_str().unwrap();
    let res = app
        .post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", rt1)], Some(("web", "s3cret-web")))
        .await;
    let rt2 = body_json(res).await["refresh_token"].as_str().unwrap().to_string();
    let res = app.post_form("/revoke", &[("token", rt1)], Some(("web", "s3cret-web"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.introspect("web", &rt2).await["active"], false);
}

async fn users_without_access_to_the_clients_tenant_are_refused(b: Backend) {
    let app = TestApp::new(b).await;
    let t = tessera::store::Tenant { id: "other".into(), name: "Other".into(), created_at: 0, created_by: None };
    app.stores.tenants.create_tenant(&t).await.unwrap();
    app.client("web", false, |c| c.tenant_id = "other".into()).await;
    let alice = app.user("alice").await; // homed in default, no access to "other"
    let (_, challenge) = pkce();
    let params = [
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (loc, cookie) = app.authorize(&params, "alice", None).await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"), "{loc}");
    // Invited (access granted), the same session now gets a code.
    app.stores.access.grant_access("other", tessera::store::MemberKind::User, &alice.id, 0).await.unwrap();
    let (loc, _) = app.authorize(&params, "alice", cookie.as_deref()).await;
    assert!(query_param(&loc, "code").is_some(), "{loc}");
}

async fn mandatory_password_change_at_next_sign_in(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    let alice = app.user("alice").await;
    app.stores.users.require_password_change(&alice.id, true).await.unwrap();
    let (_, challenge) = pkce();
    let q = form(&[
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let started = app.get(&format!("/authorize?{q}")).await;
    let loc = location(&started);
    let page = remember_browser(&started, body_text(app.get(&format!("/{loc}")).await).await);
    let browser = browser_for(&hidden(&page, "request"));
    let res = app
        .post_form_cookie(
            "/login",
            &[
                ("request", &hidden(&page, "request")),
                ("csrf", &hidden(&page, "csrf")),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
            None,
            browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res).is_none(), "no session before the new password");
    let page = body_text(res).await;
    assert!(page.contains("Choose a new password") && page.contains("<label for=\"new_password\">"));
    let (change, csrf) = (hidden(&page, "change"), hidden(&page, "csrf"));
    for (new, confirm) in [("short", "short"), ("a long new passphrase", "a different passphrase")] {
        let res = app
            .post_form_cookie(
                "/login/password",
                &[("change", &change), ("csrf", &csrf), ("new_password", new), ("confirm_password", confirm)],
                None,
                browser.as_deref(),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body_text(res).await.contains("role=\"alert\""));
    }
    let res = app
        .post_form_cookie(
            "/login/password",
            &[
                ("change", &change),
                ("csrf", "forged"),
                ("new_password", "a long new passphrase"),
                ("confirm_password", "a long new passphrase"),
            ],
            None,
            browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_form_cookie(
            "/login/password",
            &[
                ("change", &change),
                ("csrf", &csrf),
                ("new_password", "a long new passphrase"),
                ("confirm_password", "a long new passphrase"),
            ],
            None,
            browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(query_param(&location(&res), "code").is_some());
    let u = app.stores.users.get_user_any(&alice.id).await.unwrap().unwrap();
    assert!(!u.password_change_required);
    assert!(tessera::password::verify_password("a long new passphrase", u.password_hash.as_deref().unwrap()));
    // The change link is single-use.
    let res = app
        .post_form_cookie(
            "/login/password",
            &[
                ("change", &change),
                ("csrf", &csrf),
                ("new_password", "another passphrase"),
                ("confirm_password", "another passphrase"),
            ],
            None,
            browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn single_sign_on_prompt_and_max_age(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("a", false, |_| {}).await;
    app.client("b", false, |_| {}).await;
    app.user("alice").await;
    let (_, challenge) = pkce();
    let params = |client: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let mut p: Vec<(&str, String)> = vec![
            ("client_id", client.into()),
            ("redirect_uri", REDIRECT.into()),
            ("response_type", "code".into()),
            ("scope", "openid".into()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".into()),
        ];
        p.extend(extra.into_iter().map(|(k, v)| (k, v.to_string())));
        p
    };
    let pa = params("a", vec![]);
    let (loc, cookie) = app.authorize(&as_refs(&pa), "alice", None).await;
    assert!(query_param(&loc, "code").is_some());
    let cookie = cookie.expect("session cookie");
    // Second client: no login page.
    let pb = params("b", vec![]);
    let res = app.get_with_cookie(&format!("/authorize?{}", form(&as_refs(&pb))), Some(&cookie)).await;
    assert!(query_param(&location(&res), "code").is_some(), "SSO: {}", location(&res));
    // prompt=none with a session: a code; prompt=login: the login page.
    let pn = params("b", vec![("prompt", "none")]);
    let res = app.get_with_cookie(&format!("/authorize?{}", form(&as_refs(&pn))), Some(&cookie)).await;
    assert!(query_param(&location(&res), "code").is_some());
    let pl = params("b", vec![("prompt", "login")]);
    let res = app.get_with_cookie(&format!("/authorize?{}", form(&as_refs(&pl))), Some(&cookie)).await;
    assert!(location(&res).starts_with("login?"));
    // max_age=0 forces a new sign-in; with prompt=none that is login_required.
    let pm = params("b", vec![("max_age", "0"), ("prompt", "none")]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app.get_with_cookie(&format!("/authorize?{}", form(&as_refs(&pm))), Some(&cookie)).await;
    assert_eq!(query_param(&location(&res), "error").as_deref(), Some("login_required"));
    // A forged cookie is no session.
    let res = app.get_with_cookie(&format!("/authorize?{}", form(&as_refs(&pn))), Some("tessera_session=forged")).await;
    assert_eq!(query_param(&location(&res), "error").as_deref(), Some("login_required"));
}

async fn login_page_errors_and_csrf(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (_, challenge) = pkce();
    let q = form(&[
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let started = app.get(&format!("/authorize?{q}")).await;
    let loc = location(&started);
    let page = remember_browser(&started, body_text(app.get(&format!("/{loc}")).await).await);
    let browser = browser_for(&hidden(&page, "request"));
    assert!(
        page.contains("<label for=\"username\">Username</label>")
            && page.contains("<label for=\"password\">Password</label>")
    );
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    for (user, pass) in [("alice", "wrong password"), ("nobody", PASSWORD)] {
        let res = app
            .post_form_cookie(
                "/login",
                &[("request", &request), ("csrf", &csrf), ("username", user), ("password", pass)],
                None,
                browser.as_deref(),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookie(&res).is_none());
        assert!(
            body_text(res).await.contains("Wrong username or password."),
            "same message for unknown user and wrong password"
        );
    }
    let res = app
        .post_form_cookie(
            "/login",
            &[("request", &request), ("csrf", "forged"), ("username", "alice"), ("password", PASSWORD)],
            None,
            browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&res).is_none());
    let res = app
        .post_form_cookie(
            "/login",
            &[("request", &request), ("csrf", &csrf), ("username", "alice"), ("password", PASSWORD)],
            None,
            browser.as_deref(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie_header = res.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie_header.contains("HttpOnly") && cookie_header.contains("SameSite=Lax"));
}

async fn consent_for_third_party_and_offline_access(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("third", false, |c| c.first_party = false).await;
    app.user("alice").await;
    let (_, challenge) = pkce();
    let params = [
        ("client_id", "third"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (loc, cookie) = app.authorize(&params, "alice", None).await;
    assert!(loc.starts_with("consent?"), "{loc}");
    let cookie = cookie.unwrap();
    let page = body_text(app.get_with_cookie(&format!("/{loc}"), Some(&cookie)).await).await;
    assert!(page.contains("See your email address"));
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    // Deny: access_denied back to the client.
    let res = app
        .post_form_cookie(
            "/consent",
            &[("request", &request), ("csrf", &csrf), ("decision", "deny")],
            None,
            Some(&cookie),
        )
        .await;
    let l = location(&res);
    assert_eq!(query_param(&l, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&l, "state").as_deref(), Some("s1"));
    // Again, allow: a code; and the third time no consent page (remembered).
    let (loc, _) = app.authorize(&params, "alice", Some(&cookie)).await;
    let page = body_text(app.get_with_cookie(&format!("/{loc}"), Some(&cookie)).await).await;
    let res = app
        .post_form_cookie(
            "/consent",
            &[("request", &hidden(&page, "request")), ("csrf", &hidden(&page, "csrf")), ("decision", "allow")],
            None,
            Some(&cookie),
        )
        .await;
    assert!(query_param(&location(&res), "code").is_some());
    let (loc, _) = app.authorize(&params, "alice", Some(&cookie)).await;
    assert!(query_param(&loc, "code").is_some(), "consent remembered: {loc}");
    // prompt=none when consent is needed: consent_required.
    let (_, ch2) = pkce();
    let q = form(&[
        ("client_id", "third"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("prompt", "none"),
        ("code_challenge", &ch2),
        ("code_challenge_method", "S256"),
    ]);
    let res = app.get_with_cookie(&format!("/authorize?{q}"), Some(&cookie)).await;
    assert_eq!(query_param(&location(&res), "error").as_deref(), Some("consent_required"));
}

async fn logout_validates_post_logout_redirect_uri(b: Backend) {
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    app.user("alice").await;
    let (verifier, challenge) = pkce();
    let params = [
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (loc, cookie) = app.authorize(&params, "alice", None).await;
    let cookie = cookie.unwrap();
    let (_, tok) = app.exchange("web", &query_param(&loc, "code").unwrap(), &verifier).await;
    let idt = tok["id_token"].as_str().unwrap();
    // Unregistered post-logout URI: an error page, no redirect.
    let q = form(&[("id_token_hint", idt), ("post_logout_redirect_uri", "https://evil.test/")]);
    let res = app.get_with_cookie(&format!("/logout?{q}"), Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(header::LOCATION).is_none());
    // Without a hint: a confirmation page (no silent logout by a third-party link).
    let res = app.get_with_cookie("/logout", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_text(res).await.contains("Sign out of Tessera?"));
    // With a valid hint: signed out and redirected with state.
    let q = form(&[("id_token_hint", idt), ("post_logout_redirect_uri", "https://app.test/bye"), ("state", "bye1")]);
    let res = app.get_with_cookie(&format!("/logout?{q}"), Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "https://app.test/bye?state=bye1");
    assert!(res.headers()[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    // The session is gone.
    let (_, ch) = pkce();
    let q = form(&[
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("prompt", "none"),
        ("code_challenge", &ch),
        ("code_challenge_method", "S256"),
    ]);
    let res = app.get_with_cookie(&format!("/authorize?{q}"), Some(&cookie)).await;
    assert_eq!(query_param(&location(&res), "error").as_deref(), Some("login_required"));
}

async fn readiness_reports_the_backends(b: Backend) {
    let app = TestApp::new(b).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = body_json(res).await;
    let expected = match b {
        Backend::SqliteMemory => ("sqlite", "memory"),
        Backend::PostgresRedis => ("postgres", "redis"),
    };
    assert_eq!(
        (v["database"]["backend"].as_str(), v["state"]["backend"].as_str()),
        (Some(expected.0), Some(expected.1))
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    // CORS for browser clients on the token-style endpoints, none on the sign-in pages.
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/token")
        .header(header::ORIGIN, "https://spa.test")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let res = app.send(preflight).await;
    assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let res =
        app.send(Request::get("/login").header(header::ORIGIN, "https://spa.test").body(Body::empty()).unwrap()).await;
    assert!(res.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let res = app.get("/nope").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("x-request-id").is_some());
}

/// Every audit entry of `tenant`, after the writer has stored everything recorded so far.
async fn audit_entries(app: &TestApp, tenant: &str) -> Vec<tessera::store::AuditEntry> {
    app.state.audit.flush().await;
    let filter = tessera::store::AuditFilter::default();
    app.stores.audit.list_audit(tenant, &filter, None, 200).await.unwrap()
}

fn find<'a>(
    entries: &'a [tessera::store::AuditEntry],
    action: &str,
    pred: impl Fn(&tessera::store::AuditEntry) -> bool,
) -> &'a tessera::store::AuditEntry {
    entries
        .iter()
        .find(|e| e.action == action && pred(e))
        .unwrap_or_else(|| panic!("no {action} entry in {entries:#?}"))
}

async fn token_events_are_audited_without_token_text(b: Backend) {
    use axum::extract::ConnectInfo;
    use tessera::store::INSTANCE_SCOPE;
    let app = TestApp::new(b).await;
    app.client("svc", false, |_| {}).await;
    app.client("web", false, |_| {}).await;
    let alice = app.user("alice").await;

    // client_credentials, from a served connection (ConnectInfo present) with a request id.
    let peer: std::net::SocketAddr = "203.0.113.7:50123".parse().unwrap();
    let req = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, basic_header("svc", "s3cret-svc"))
        .header("x-request-id", "req-cc-1")
        .extension(ConnectInfo(peer))
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cc = body_json(res).await;
    let cc_at = cc["access_token"].as_str().unwrap().to_string();
    let cc_jti = jwt_parts(&cc_at).1["jti"].as_str().unwrap().to_string();
    // A wrong secret of a known client, and an unknown client (in process: no ConnectInfo).
    let res = app.post_form("/token", &[("grant_type", "client_credentials")], Some(("svc", "wrong-secret"))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.post_form("/token", &[("grant_type", "client_credentials")], Some(("nobody", "nope-secret"))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The code flow (a sign-in, then access, refresh and ID tokens), and a revocation.
    let (code, verifier) = app.code_for("web", "alice", "openid").await;
    let (status, tok) = app.exchange("web", &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    let res = app.post_form("/revoke", &[("token", &cc_at)], Some(("svc", "s3cret-svc"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Four more client_credentials tokens and two more refusals: machine-grant issuance and
    // refusals are tallied, one entry per key and window, every event counted.
    for _ in 0..4 {
        let res = app.post_form("/token", &[("grant_type", "client_credentials")], Some(("svc", "s3cret-svc"))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    for _ in 0..2 {
        let res = app.post_form("/token", &[("grant_type", "client_credentials")], Some(("svc", "wrong-secret"))).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }

    let entries = audit_entries(&app, DEFAULT_TENANT).await;
    let cc_entries: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "token.issue" && e.summary["grant_type"] == "client_credentials")
        .collect();
    let counted: u64 = cc_entries.iter().map(|e| e.summary["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(counted, 5, "every client_credentials token is counted: {cc_entries:?}");
    let refused: u64 = entries
        .iter()
        .filter(|e| e.action == "token.failure" && e.summary["client_id"] == "svc")
        .map(|e| e.summary["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(refused, 3, "every refusal is counted");
    let issued = find(&entries, "token.issue", |e| e.summary["grant_type"] == "client_credentials");
    assert_eq!(
        (issued.tenant_id.as_str(), issued.actor.as_str(), issued.target.as_str()),
        ("default", "client:svc", "client:svc")
    );
    assert_eq!(issued.summary["client_id"], "svc");
    assert_eq!(issued.summary["subject"], "svc");
    assert_eq!(issued.summary["jti"], cc_jti.as_str());
    assert_eq!(issued.summary["refresh_token"], false);
    assert_eq!(issued.request_id.as_deref(), Some("req-cc-1"));
    assert_eq!(issued.client_addr.as_deref(), Some("203.0.113.7"));

    let failed = find(&entries, "token.failure", |e| e.summary["client_id"] == "svc");
    assert_eq!((failed.tenant_id.as_str(), failed.actor.as_str()), ("default", "client:svc"));
    assert_eq!(failed.summary["error"], "invalid_client");
    assert_eq!(failed.summary["endpoint"], "/token");
    assert_eq!(failed.summary["grant_type"], "client_credentials");
    assert!(failed.request_id.is_some(), "the middleware's request id");
    assert_eq!(failed.client_addr, None, "no ConnectInfo in process");

    let code_issued = find(&entries, "token.issue", |e| e.summary["grant_type"] == "authorization_code");
    assert_eq!(code_issued.target, format!("user:{}", alice.id));
    assert_eq!(
        (code_issued.summary["client_id"].as_str(), code_issued.summary["principal_kind"].as_str()),
        (Some("web"), Some("user"))
    );
    assert_eq!(
        (code_issued.summary["refresh_token"].as_bool(), code_issued.summary["id_token"].as_bool()),
        (Some(true), Some(true))
    );
    let signin = find(&entries, "signin.success", |e| e.actor == format!("user:{}", alice.id));
    assert!(signin.request_id.is_some(), "sign-ins carry the request id");
    let revoked = find(&entries, "token.revoke", |_| true);
    assert_eq!((revoked.actor.as_str(), revoked.summary["presented"].as_str()), ("client:svc", Some("jwt")));

    // An unknown client's failure is recorded in the instance scope, with the id it claimed.
    let instance = audit_entries(&app, INSTANCE_SCOPE).await;
    let unknown = find(&instance, "token.failure", |e| e.summary["client_id"] == "nobody");
    assert_eq!((unknown.actor.as_str(), unknown.summary["error"].as_str()), ("anonymous", Some("invalid_client")));

    // No token, and no secret, in any entry.
    let text = serde_json::to_string(&[entries, instance]).unwrap();
    let mut secrets = vec![cc_at.clone(), "s3cret-svc".into(), "wrong-secret".into(), "nope-secret".into(), code];
    for name in ["access_token", "refresh_token", "id_token"] {
        secrets.push(tok[name].as_str().unwrap().to_string());
    }
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "audit entries hold {secret}");
        // Not even a token's signature.
        if let Some(sig) = secret.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(!text.contains(sig), "audit entries hold a token's signature");
        }
    }
}

async fn admin_authentication_failures_are_audited(b: Backend) {
    let app = TestApp::new(b).await;
    let req = Request::get("/api/v1/default/users")
        .header(header::AUTHORIZATION, "Bearer not-a-valid-token")
        .header("x-request-id", "req-admin-1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status(), StatusCode::UNAUTHORIZED);
    let req = Request::get("/api/v1/default/groups")
        .header(header::AUTHORIZATION, basic_header("mallory", "guess-1234"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status(), StatusCode::UNAUTHORIZED);
    let entries = audit_entries(&app, tessera::store::INSTANCE_SCOPE).await;
    let bearer = find(&entries, "admin.auth_failure", |e| e.summary["scheme"] == "bearer");
    assert_eq!((bearer.actor.as_str(), bearer.target.as_str()), ("anonymous", "endpoint:/api/v1/default/users"));
    assert_eq!(bearer.request_id.as_deref(), Some("req-admin-1"));
    let basic = find(&entries, "admin.auth_failure", |e| e.summary["scheme"] == "basic");
    assert_eq!(basic.summary["username"], "mallory");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains("not-a-valid-token") && !text.contains("guess-1234"));
}

/// Signs `username` in through the login page for client "web": `Ok(code)` when the flow
/// goes on to the client, `Err(page)` when Tessera answers with a page instead (the forced
/// password change).
async fn sign_in_outcome(app: &TestApp, username: &str) -> Result<String, String> {
    let (_, challenge) = pkce();
    let q = form(&[
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let started = app.get(&format!("/authorize?{q}")).await;
    let loc = location(&started);
    let page = remember_browser(&started, body_text(app.get(&format!("/{loc}")).await).await);
    let browser = browser_for(&hidden(&page, "request"));
    let res = app
        .post_form_cookie(
            "/login",
            &[
                ("request", &hidden(&page, "request")),
                ("csrf", &hidden(&page, "csrf")),
                ("username", username),
                ("password", PASSWORD),
            ],
            None,
            browser.as_deref(),
        )
        .await;
    if res.status() == StatusCode::SEE_OTHER {
        Ok(query_param(&location(&res), "code").expect("a code"))
    } else {
        Err(body_text(res).await)
    }
}

async fn must_change_password(app: &TestApp, user_id: &str) -> bool {
    app.stores.users.get_user_any(user_id).await.unwrap().unwrap().password_change_required
}

/// The mandatory change-password request of issue 3, to several users and to a whole group:
/// exactly the targeted users are flagged, each request is audited, and sign-in enforces it.
async fn admins_request_password_changes_for_users_and_groups(b: Backend) {
    use axum::http::Method;
    use tessera::store::MemberKind;
    let app = TestApp::new(b).await;
    app.client("web", false, |_| {}).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(MemberKind::User, &root.id, 0).await.unwrap();
    let as_root = basic_header("root", PASSWORD);
    let mut ids = std::collections::BTreeMap::new();
    for name in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        let u = app.user(name).await;
        ids.insert(name, u.id);
    }
    // Every user is homed in the default tenant; carol and dave are also in the group "ops".
    let (s, v) = app
        .admin_api(&as_root, Method::POST, "/default/groups", Some(serde_json::json!({ "id": "ops", "name": "Ops" })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for name in ["carol", "dave"] {
        let body = serde_json::json!({ "kind": "user", "id": ids[name] });
        let (s, v) = app.admin_api(&as_root, Method::POST, "/default/groups/ops/members", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    ids.insert("root", root.id.clone());
    // Sessions and refresh tokens from before the requests.
    let mut signed_in = std::collections::BTreeMap::new();
    for name in ["alice", "carol", "erin"] {
        let (cookie, tokens) = app.sign_in_with_tokens("web", name).await;
        signed_in.insert(name, (cookie, tokens["refresh_token"].as_str().unwrap().to_string()));
    }
    let still_signed_in = |name: &'static str| {
        let app = &app;
        let (cookie, refresh) = signed_in[name].clone();
        async move {
            let (q, _) = code_request("web");
            let sso = location(&app.get_with_cookie(&format!("/authorize?{q}"), Some(&cookie)).await);
            let res = app
                .post_form(
                    "/token",
                    &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                    Some(("web", "s3cret-web")),
                )
                .await;
            (sso.starts_with(REDIRECT), res.status() == StatusCode::OK)
        }
    };

    // All or nothing: a user the tenant does not see stops the whole request.
    let body = serde_json::json!({ "user_ids": [ids["erin"], "no-such-user"] });
    let (s, _) = app.admin_api(&as_root, Method::POST, "/default/users/password-change-requests", Some(body)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!must_change_password(&app, &ids["erin"]).await, "nothing requested when one user is not visible");

    // Several users.
    let body = serde_json::json!({ "user_ids": [ids["alice"], ids["bob"]] });
    let (s, v) = app.admin_api(&as_root, Method::POST, "/default/users/password-change-requests", Some(body)).await;
    assert_eq!((s, v["requested"].as_u64()), (StatusCode::ACCEPTED, Some(2)));
    // A whole group.
    let (s, v) = app.admin_api(&as_root, Method::POST, "/default/groups/ops/password-change-request", None).await;
    assert_eq!((s, v["requested"].as_u64()), (StatusCode::ACCEPTED, Some(2)));

    for name in ["alice", "bob", "carol", "dave"] {
        assert!(must_change_password(&app, &ids[name]).await, "{name} must change their password");
    }
    for name in ["erin", "frank", "root"] {
        assert!(!must_change_password(&app, &ids[name]).await, "{name} was not targeted");
    }
    // No token before the new password: the targeted lose their sessions and refresh tokens
    // (alice by a user request, carol through the group); erin keeps hers.
    assert_eq!(still_signed_in("alice").await, (false, false), "alice");
    assert_eq!(still_signed_in("carol").await, (false, false), "carol");
    assert_eq!(still_signed_in("erin").await, (true, true), "erin");

    // Recorded: one entry per targeted user, by root, the group ones naming the group.
    let entries = audit_entries(&app, DEFAULT_TENANT).await;
    let requests: Vec<_> = entries.iter().filter(|e| e.action == "user.password_change_request").collect();
    let mut targets: Vec<&str> = requests.iter().map(|e| e.target.as_str()).collect();
    targets.sort_unstable();
    let mut expected: Vec<String> =
        ["alice", "bob", "carol", "dave"].iter().map(|n| format!("user:{}", ids[n])).collect();
    expected.sort_unstable();
    assert_eq!(targets, expected);
    for e in &requests {
        assert_eq!(e.actor, format!("user:{}", root.id));
        assert!(e.request_id.is_some());
        let via_group = e.target == format!("user:{}", ids["carol"]) || e.target == format!("user:{}", ids["dave"]);
        assert_eq!(e.summary.get("via").and_then(Value::as_str), via_group.then_some("group:ops"), "{e:?}");
    }

    // Enforced at the next sign-in: the targeted get the change-password page, the others a code.
    for name in ["alice", "carol"] {
        let page = sign_in_outcome(&app, name).await.expect_err(name);
        assert!(page.contains("Choose a new password"), "{name}: {page}");
    }
    sign_in_outcome(&app, "erin").await.unwrap_or_else(|page| panic!("erin: {page}"));
}

on_both_backends!(
    admins_request_password_changes_for_users_and_groups,
    token_events_are_audited_without_token_text,
    admin_authentication_failures_are_audited,
    discovery_and_jwks,
    code_flow_tokens_userinfo_refresh,
    wrong_client_secret_is_401_with_challenge,
    client_credentials_issues_an_rfc9068_token,
    unregistered_or_altered_redirect_uri_is_an_error_page,
    errors_after_redirect_validation_go_back_with_state_and_iss,
    reused_code_is_refused_and_revokes_its_tokens,
    pkce_is_enforced,
    redirect_uri_must_match_at_the_token_endpoint,
    expired_code_is_invalid_grant,
    reused_refresh_token_revokes_the_grant,
    refresh_retry_within_the_grace_rotates_again,
    concurrent_refreshes_with_one_token_both_succeed,
    strict_reuse_detection_without_a_grace,
    the_previous_refresh_token_after_the_grace_revokes_the_grant,
    malformed_bodies_are_invalid_request,
    forged_tokens_are_refused_at_userinfo,
    revocation_and_introspection,
    revoking_a_rotated_refresh_token_ends_the_grant,
    users_without_access_to_the_clients_tenant_are_refused,
    mandatory_password_change_at_next_sign_in,
    single_sign_on_prompt_and_max_age,
    login_page_errors_and_csrf,
    consent_for_third_party_and_offline_access,
    logout_validates_post_logout_redirect_uri,
    readiness_reports_the_backends,
);
