//! The administration console in process: sign-in through Tessera as an OIDC client, the
//! Administration menu per the access model, tenant isolation, anti-CSRF, and every form's
//! server-side validation errors shown next to their fields. (The walk-through in a real
//! browser is tests/browser_console.rs.)

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use tessera::store::{DEFAULT_TENANT, INSTANCE_SCOPE};

/// A browser of the console: its cookie and the anti-CSRF token of its session.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

/// A response: status, `Location`, body.
struct Answer {
    status: StatusCode,
    location: String,
    html: String,
    headers: axum::http::HeaderMap,
}

async fn answer(res: axum::http::Response<Body>) -> Answer {
    let status = res.status();
    let location = location(&res);
    let headers = res.headers().clone();
    Answer { status, location, html: body_text(res).await, headers }
}

fn cookie_named(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

impl<'a> Browser<'a> {
    /// Signs in to the console as `username` (password [`PASSWORD`]) through /authorize.
    async fn sign_in(app: &'a TestApp, username: &str) -> Browser<'a> {
        let a = answer(app.get("/console").await).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert_eq!(a.location, "/console/login?next=%2Fconsole");
        let login = answer(app.get(&a.location).await).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.html);
        let bound = cookie_named(&login.headers, "tessera_console_login").expect("login cookie");
        assert!(bound.contains("HttpOnly") && bound.contains("SameSite=Lax") && bound.contains("Path=/console"));
        let bound = bound.split(';').next().unwrap().to_string();
        let authorize = login.location.strip_prefix(ISSUER).expect("to the issuer").to_string();
        assert!(authorize.starts_with("/authorize?"));
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(authorize.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
        assert!(params.contains(&("code_challenge_method".into(), "S256".into())));
        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (back, _) = app.authorize(&refs, username, None).await;
        let callback = back.strip_prefix(ISSUER).expect("back to the console").to_string();
        assert!(callback.starts_with("/console/callback?"), "{callback}");
        let done = answer(app.get_with_cookie(&callback, Some(&bound)).await).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        assert_eq!(done.location, "/console");
        let session = cookie_named(&done.headers, "tessera_console").expect("session cookie");
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
        // The test issuer is https: the cookie is Secure.
        assert!(session.contains("Secure"), "{session}");
        let cookie = session.split(';').next().unwrap().to_string();
        let mut b = Browser { app, cookie, csrf: String::new() };
        let page = b.page("/console").await;
        b.csrf = hidden(&page.html, "csrf");
        b
    }

    async fn get(&self, path: &str) -> Answer {
        answer(self.app.get_with_cookie(path, Some(&self.cookie)).await).await
    }

    /// Follows one redirect of a GET.
    async fn page(&self, path: &str) -> Answer {
        let a = self.get(path).await;
        if a.status == StatusCode::SEE_OTHER { self.get(&a.location).await } else { a }
    }

    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        answer(self.app.post_form_cookie(path, &all, None, Some(&self.cookie)).await).await
    }
}

async fn sign_in_flow(backend: Backend) {
    let app = TestApp::new(backend).await;
    let alice = app.tenant_admin(DEFAULT_TENANT, "alice").await;
    let b = Browser::sign_in(&app, "alice").await;
    // The console registered itself: instance-wide, public, one exact redirect URI.
    let client = app.stores.clients.find_client("tessera-console").await.unwrap().expect("registered");
    assert_eq!(client.tenant_id, INSTANCE_SCOPE);
    assert!(client.is_public());
    assert_eq!(client.redirect_uris, vec![format!("{ISSUER}/console/callback")]);
    // The Tenant Admin lands on Users, with the Administration menu and a strict CSP.
    let a = b.page("/console").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.html.contains("id=\"admin-menu\""));
    assert!(a.html.contains("alice@example.com"));
    let csp = a.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(a.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    // The API calls are the person's own: the audit log names them.
    let r = b.post("/console/t/default/groups", &[("id", "ops"), ("name", "Ops")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    app.state.audit.flush().await;
    let entries = app
        .stores
        .audit
        .list_audit(
            DEFAULT_TENANT,
            &tessera::store::AuditFilter { action: Some("group.create".into()), ..Default::default() },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, format!("user:{}", alice.id));
    // A cookie that names no session goes back to sign-in.
    let res = app.get_with_cookie("/console/t/default/users", Some("tessera_console=forged")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/console/login?next="));
}

/// The walk-through of the acceptance criteria, in process: a role with the matrix, a group,
/// a user added to it, the role bound on a namespace, a service account and its token.
async fn tenant_admin_walk_through(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.tenant_admin(DEFAULT_TENANT, "alice").await;
    let bob = app.user("bob").await;
    let b = Browser::sign_in(&app, "alice").await;

    let r = b
        .post(
            "/console/t/default/roles",
            &[
                ("id", "flow-editor"),
                ("name", "Flow editor"),
                ("perm", "FLOW:READ"),
                ("perm", "FLOW:UPDATE"),
                ("perm", "EXECUTION:CREATE"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let role = app.stores.roles.get_role(DEFAULT_TENANT, "flow-editor").await.unwrap().unwrap();
    let perms = tessera::rbac::PermSet::from_i64(role.permissions).unwrap().to_strings();
    assert_eq!(perms, vec!["FLOW:READ", "FLOW:UPDATE", "EXECUTION:CREATE"]);
    let page = b.page(&r.location).await;
    assert!(page.html.contains("id=\"perm-FLOW:UPDATE\" aria-label=\"FLOW UPDATE\" checked"));
    // Edit: the matrix replaces the permissions.
    let r = b.post("/console/t/default/roles/flow-editor", &[("name", "Flow editor"), ("perm", "FLOW:READ")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let role = app.stores.roles.get_role(DEFAULT_TENANT, "flow-editor").await.unwrap().unwrap();
    assert_eq!(tessera::rbac::PermSet::from_i64(role.permissions).unwrap().to_strings(), vec!["FLOW:READ"]);

    let r = b.post("/console/t/default/groups", &[("id", "engineers"), ("name", "Engineers")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let r =
        b.post("/console/t/default/groups/engineers/members", &[("kind", "user"), ("member", "bob@example.com")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let page = b.page("/console/t/default/groups/engineers").await;
    assert!(page.html.contains("bob@example.com"), "{}", page.html);
    let r = b
        .post(
            "/console/t/default/groups/engineers/bindings",
            &[("role_id", "flow-editor"), ("namespaces", "prod, staging.eu")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let access = tessera::admin::access_in(
        &app.stores,
        &tessera::admin::Actor::user(bob.id.clone(), "bob".into()),
        DEFAULT_TENANT,
    )
    .await
    .unwrap();
    let prod = tessera::rbac::Namespace::new("prod.etl").unwrap();
    assert!(access.allows(tessera::rbac::Permission::Flow, tessera::rbac::Action::Read, Some(&prod)));
    let page = b.page(&format!("/console/t/default/users/{}", bob.id)).await;
    assert!(page.html.contains("engineers"));

    let r = b.post("/console/t/default/service-accounts", &[("id", "ci-bot"), ("name", "CI bot")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let r = b
        .post("/console/t/default/service-accounts/ci-bot/tokens", &[("name", "deploy"), ("expires_days", "30")])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.html);
    assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let token = hidden_value(&r.html, "token-value");
    assert!(token.starts_with("tsa_"), "{token}");
    assert!(r.html.contains("data-copy=\"token-value\""));
    // The token works at the API, and is never shown again.
    let (status, _) = app.admin_api(&format!("Bearer {token}"), axum::http::Method::GET, "/me", None).await;
    assert_eq!(status, StatusCode::OK);
    let page = b.page("/console/t/default/service-accounts/ci-bot").await;
    assert!(!page.html.contains(&token));
    // The user page lists what alice created.
    let alice = app.stores.users.find_user_by_username_any("alice").await.unwrap().unwrap();
    let page = b.page(&format!("/console/t/default/users/{}", alice.id)).await;
    assert!(page.html.contains("ci-bot"), "{}", page.html);
    // Revoke it from the page.
    let id = page_token_id(&app, "ci-bot").await;
    let r = b.post(&format!("/console/t/default/service-accounts/ci-bot/tokens/{id}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let (status, _) = app.admin_api(&format!("Bearer {token}"), axum::http::Method::GET, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

fn hidden_value(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\" class=\"secret\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {id} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn page_token_id(app: &TestApp, account: &str) -> String {
    app.stores.credentials.list_api_tokens(DEFAULT_TENANT, account).await.unwrap()[0].id.clone()
}

async fn no_menu_for_people_without_admin_rights(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.user("carol").await;
    let b = Browser::sign_in(&app, "carol").await;
    let a = b.page("/console").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.html.contains("admin-menu"), "{}", a.html);
    assert!(a.html.contains("no administration rights"));
    for path in ["/console/t/default/users", "/console/t/default/roles/new", "/console/tenants"] {
        let a = b.get(path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!a.html.contains("admin-menu"));
    }
    let r = b.post("/console/t/default/groups", &[("name", "Sneaky")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app.stores.groups.list_groups(DEFAULT_TENANT, None, None, 10).await.unwrap().is_empty());
}

async fn other_tenant_admin_sees_none_of_it(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.tenant_admin(DEFAULT_TENANT, "alice").await;
    app.tenant_admin("acme", "dave").await;
    let b = Browser::sign_in(&app, "dave").await;
    let a = b.get("/console").await;
    assert_eq!(a.location, "/console/t/acme/users");
    let a = b.page("/console/t/acme/users").await;
    assert!(a.html.contains("dave@example.com"));
    assert!(!a.html.contains("alice@example.com"), "another tenant's user is listed");
    assert!(!a.html.contains("<option value=\"default\""), "the switcher offers a tenant dave cannot access");
    for path in ["/console/t/default/users", "/console/t/default/groups", "/console/t/default/audit-logs"] {
        let a = b.get(path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Another tenant's user is revealed only by exact email.
    let a = b.get("/console/t/acme/users?q=alice").await;
    assert!(!a.html.contains("alice@example.com"));
    let a = b.get("/console/t/acme/users?email=alice%40example.com").await;
    assert!(a.html.contains("id=\"lookup-result\""), "{}", a.html);
    let a = b.get("/console/t/acme/users?email=alice%40example.co").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.html.contains("no user has this exact email"));
}

async fn forms_need_the_session_csrf_token(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.tenant_admin(DEFAULT_TENANT, "alice").await;
    let mut b = Browser::sign_in(&app, "alice").await;
    b.csrf = "forged".into();
    let r = b.post("/console/t/default/groups", &[("id", "x"), ("name", "X")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(app.stores.groups.get_group(DEFAULT_TENANT, "x").await.unwrap().is_none());
    // A JSON body is not a console form.
    let req = Request::post("/console/t/default/groups")
        .header(header::COOKIE, &b.cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(app.send(req).await.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Identity providers: the list, adding one (a validation error shown next to its field, the
/// secret never echoed), removing one; another tenant's admin cannot see the page.
async fn identity_providers_page(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.tenant_admin(DEFAULT_TENANT, "alice").await;
    app.tenant_admin("acme", "dave").await;
    let b = Browser::sign_in(&app, "alice").await;
    let path = "/console/t/default/identity-providers";
    let a = b.page(path).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.html);
    assert!(a.html.contains(&format!("<a href=\"{path}\" aria-current=\"page\">Identity providers</a>")), "{}", a.html);
    assert!(a.html.contains(&format!("{ISSUER}/login/federated/callback")), "the redirect URI to register");
    assert!(a.html.contains("<table id=\"identity-providers\">"));

    // Validation: the API's message next to the field, the typed values kept, the secret not.
    let secret = "upstream-client-secret-value";
    let r = b
        .post(
            path,
            &[
                ("id", "corp"),
                ("name", "Corp SSO"),
                ("issuer", "ftp://idp.example.com"),
                ("client_id", "tessera"),
                ("client_secret", secret),
                ("auth_method", "client_secret_basic"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("<p class=\"field-error\" id=\"idp-issuer-err\">must be an https URL"), "{}", r.html);
    assert!(r.html.contains("value=\"Corp SSO\""));
    assert!(!r.html.contains(secret), "the secret is never written back into the page");
    let r = b
        .post(path, &[("id", "corp"), ("name", "Corp SSO"), ("issuer", "https://idp.example.com"), ("client_id", "c")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("id=\"idp-client_secret-err\">is required unless"), "{}", r.html);
    assert!(app.stores.federation.get_connection(DEFAULT_TENANT, "corp").await.unwrap().is_none());

    // Create.
    let r = b
        .post(
            path,
            &[
                ("id", "corp"),
                ("name", "Corp SSO"),
                ("issuer", "https://idp.example.com"),
                ("client_id", "tessera"),
                ("client_secret", secret),
                ("auth_method", "client_secret_post"),
                ("email_domains", "example.com, Corp.Example"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location, format!("{path}?done=created"));
    let c = app.stores.federation.get_connection(DEFAULT_TENANT, "corp").await.unwrap().expect("created");
    assert_eq!(c.settings.email_domains, vec!["example.com", "corp.example"]);
    assert_eq!(c.settings.auth_method, tessera::store::UpstreamAuthMethod::ClientSecretPost);
    assert!(c.client_secret_sealed.is_some());
    let a = b.page(&r.location).await;
    assert!(a.html.contains("id=\"notice\">Created."));
    let table = a.html.split("<table id=\"identity-providers\">").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(
        table.contains("corp")
            && table.contains("https://idp.example.com")
            && table.contains("example.com, corp.example")
    );
    assert!(!a.html.contains(secret));

    // Edit: the page shows the stored settings (never the secret); saving keeps the secret
    // when the field is empty and what the form does not show (scopes).
    let edit = format!("{path}/corp");
    assert!(table.contains(&format!("<a href=\"{edit}\">corp</a>")), "{table}");
    let a = b.page(&edit).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.html);
    assert!(a.html.contains("id=\"idp-edit\"") && a.html.contains("value=\"Corp SSO\""), "{}", a.html);
    assert!(a.html.contains("A secret is stored") && !a.html.contains(secret));
    app.stores
        .groups
        .create_group(&tessera::store::Group {
            tenant_id: DEFAULT_TENANT.into(),
            id: "ops".into(),
            name: "Ops".into(),
            description: None,
            created_at: 0,
        })
        .await
        .unwrap();
    let form = |mappings: &'static str| {
        vec![
            ("name", "Corp SSO (new)"),
            ("issuer", "https://idp.example.com"),
            ("client_id", "tessera"),
            ("client_secret", ""),
            ("auth_method", "client_secret_post"),
            ("email_domains", "example.com"),
            ("enabled", "true"),
            ("jit", "false"),
            ("link", "verified_email"),
            ("end_session", "true"),
            ("group_mappings", mappings),
        ]
    };
    let r = b.post(&edit, &form("just-a-value")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("id=\"idp-group_mappings-err\">line 1: write it as"), "{}", r.html);
    let r = b.post(&edit, &form("CN=Admins,OU=Groups = ops\n")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location, format!("{edit}?done=saved"));
    let saved = app.stores.federation.get_connection(DEFAULT_TENANT, "corp").await.unwrap().unwrap();
    assert_eq!(saved.name, "Corp SSO (new)");
    assert_eq!(saved.client_secret_sealed, c.client_secret_sealed, "the secret is kept");
    assert_eq!(saved.settings.scopes, c.settings.scopes);
    assert!(!saved.settings.jit);
    assert_eq!(saved.settings.link, tessera::store::LinkPolicy::VerifiedEmail);
    assert_eq!(saved.settings.group_mappings.len(), 1);
    assert_eq!(saved.settings.group_mappings[0].upstream, "CN=Admins,OU=Groups");
    assert_eq!(saved.settings.group_mappings[0].group, "ops");
    let a = b.page(&r.location).await;
    assert!(a.html.contains("id=\"notice\">Saved.") && a.html.contains("CN=Admins,OU=Groups = ops"), "{}", a.html);

    // Another tenant's admin: not found, and not listed on their own page.
    let d = Browser::sign_in(&app, "dave").await;
    assert_eq!(d.get(path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(d.get(&edit).await.status, StatusCode::NOT_FOUND);
    let own = d.page("/console/t/acme/identity-providers").await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(!own.html.contains("idp.example.com"));
    let r = d.post(&format!("{path}/corp/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app.stores.federation.get_connection(DEFAULT_TENANT, "corp").await.unwrap().is_some());

    // Delete.
    let r = b.post(&format!("{path}/corp/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location, format!("{path}?done=deleted"));
    assert!(app.stores.federation.get_connection(DEFAULT_TENANT, "corp").await.unwrap().is_none());
    let a = b.page(&r.location).await;
    assert!(a.html.contains("id=\"notice\">Deleted.") && !a.html.contains("idp.example.com"));
}

on_both_backends!(
    sign_in_flow,
    tenant_admin_walk_through,
    no_menu_for_people_without_admin_rights,
    other_tenant_admin_sees_none_of_it,
    forms_need_the_session_csrf_token,
    identity_providers_page,
);

/// A form post: its path, its fields, the id of the field whose error must show, and a piece
/// of the message.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// Each form's server-side validation error is shown on the page, next to its field (the
/// message, `aria-invalid`, and the summary at the top), with 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_shows_its_validation_errors() {
    let app = TestApp::new(Backend::SqliteMemory).await;
    let admin = app.tenant_admin(DEFAULT_TENANT, "alice").await;
    app.stores.instance_admins.grant_instance_admin(tessera::store::MemberKind::User, &admin.id, 0).await.unwrap();
    let b = Browser::sign_in(&app, "alice").await;
    b.post("/console/t/default/groups", &[("id", "g1"), ("name", "G1")]).await;
    b.post("/console/t/default/service-accounts", &[("id", "sa1"), ("name", "SA1")]).await;
    b.post("/console/t/default/roles", &[("id", "r1"), ("name", "R1"), ("perm", "FLOW:READ")]).await;
    let uid = admin.id.as_str();

    // (form path, fields, the field id whose error must show, a piece of its message)
    let cases: Vec<Case> = vec![
        ("/console/t/default/users".into(), vec![("username", "has space")], "user-username", "U+0020 at position 4"),
        (
            "/console/t/default/users".into(),
            vec![("username", "erin"), ("email", "not-an-email")],
            "user-email",
            "email",
        ),
        ("/console/t/default/groups".into(), vec![("id", "bad id!"), ("name", "X")], "group-id", "letters, digits"),
        ("/console/t/default/groups".into(), vec![("id", "ok"), ("name", "")], "group-name", "name"),
        ("/console/t/default/roles".into(), vec![("id", "bad id!"), ("name", "X")], "role-id", "letters, digits"),
        ("/console/t/default/roles/r1".into(), vec![("name", "\u{7}")], "role-name", "printable"),
        (
            "/console/t/default/service-accounts".into(),
            vec![("id", "bad id!"), ("name", "X")],
            "sa-id",
            "letters, digits",
        ),
        ("/console/t/default/service-accounts".into(), vec![("name", "")], "sa-name", "printable"),
        (format!("/console/t/default/users/{uid}/groups"), vec![("group_id", "")], "attach-group_id", "choose a group"),
        (format!("/console/t/default/users/{uid}/bindings"), vec![("role_id", "")], "bind-role_id", "choose a role"),
        (
            format!("/console/t/default/users/{uid}/bindings"),
            vec![("role_id", "r1"), ("namespaces", "prod..x")],
            "bind-namespaces",
            "",
        ),
        (
            "/console/t/default/groups/g1/members".into(),
            vec![("kind", "user"), ("member", "nobody@example.com")],
            "member-member",
            "exact email",
        ),
        ("/console/t/default/groups/g1/bindings".into(), vec![("role_id", "nope")], "bind-role_id", "no such role"),
        (
            "/console/t/default/service-accounts/sa1/groups".into(),
            vec![("group_id", "")],
            "attach-group_id",
            "choose a group",
        ),
        (
            "/console/t/default/service-accounts/sa1/bindings".into(),
            vec![("role_id", "")],
            "bind-role_id",
            "choose a role",
        ),
        (
            "/console/t/default/service-accounts/sa1/tokens".into(),
            vec![("name", "t"), ("expires_days", "0")],
            "token-expires_days",
            "1 to 3650",
        ),
        ("/console/t/default/service-accounts/sa1/tokens".into(), vec![("name", "")], "token-name", "printable"),
        (
            "/console/t/default/bindings".into(),
            vec![("principal_kind", "user"), ("principal", ""), ("role_id", "r1")],
            "bind-principal",
            "id",
        ),
        (
            "/console/t/default/bindings".into(),
            vec![("principal_kind", "group"), ("principal", "g1"), ("role_id", "")],
            "bind-role_id",
            "choose a role",
        ),
        ("/console/tenants".into(), vec![("id", "me"), ("name", "Me")], "tenant-id", "reserved"),
        ("/console/tenants".into(), vec![("id", "t2"), ("name", "")], "tenant-name", "printable"),
    ];
    for (path, fields, field, message) in cases {
        let r = b.post(&path, &fields).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {fields:?}: {}", r.html);
        let marker = format!("<p class=\"field-error\" id=\"{field}-err\">");
        let at =
            r.html.find(&marker).unwrap_or_else(|| panic!("{path} {fields:?}: no error for {field} in {}", r.html));
        let text = &r.html[at + marker.len()..];
        assert!(text.split("</p>").next().unwrap().contains(message), "{path}: {}", &text[..text.len().min(200)]);
        assert!(r.html.contains(&format!("id=\"{field}\"")), "{path}: the field {field} is on the page");
        assert!(r.html.contains("aria-invalid=\"true\""));
        assert!(r.html.contains("role=\"alert\""), "{path}: no summary");
    }
    // Forms whose errors are not about one field show the API's message at the top.
    let r = b.post("/console/t/default/groups", &[("id", "g1"), ("name", "Again")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.html.contains("id=\"group-error\">Conflict: already exists"), "{}", r.html);
    // The read-only filters: the user lookup and the audit log.
    let a = b.get("/console/t/default/users?email=nobody").await;
    assert!(a.html.contains("id=\"lookup-email-err\">type the exact email address"));
    let a = b.get("/console/t/default/audit-logs?from=2025-02-30").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.html.contains("id=\"audit-from-err\">use a date such as"));
}
