//! The admin API's OpenAPI document (`src/http/admin/openapi.rs`, served at
//! `/api/v1/openapi.json`):
//!
//! 1. `docs/openapi.json` is the document, byte for byte (regenerate it by running this test
//!    with `TESSERA_UPDATE_OPENAPI=1`);
//! 2. the document holds together: every `$ref` resolves, every path template has its path
//!    parameters, and where two routes overlap the parameter excludes the other's segment;
//! 3. the documented operations are exactly the router's routes, checked from both sides:
//!    through the router, each documented (method, path) reaches a handler (401 problem JSON
//!    without credentials, where an unrouted path gets the 404 fallback and an unrouted method
//!    a 405) and every other method on a documented path is a 405; and the `.route(..)` calls
//!    in `src/http/admin/*.rs` declare exactly the documented operations (axum cannot list a
//!    router's routes, so this reads them where they are written);
//! 4. schemathesis, run against the built binary, finds no server error and no response that
//!    departs from the document (status, content type, schema), and no accepted invalid input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Backend, TestApp, body_json};
use serde_json::{Value, json};
use tessera::http::admin::openapi::document;

const UPDATE_VAR: &str = "TESSERA_UPDATE_OPENAPI";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed form: pretty-printed, keys sorted, a final newline.
fn rendered() -> String {
    serde_json::to_string_pretty(&document()).expect("serializable") + "\n"
}

#[test]
fn committed_document_is_up_to_date() {
    let file = repo().join("docs/openapi.json");
    let want = rendered();
    if common::update::requested(UPDATE_VAR) {
        std::fs::write(&file, &want).expect("write docs/openapi.json");
        eprintln!("rewrote {}", file.display());
        return;
    }
    let have = std::fs::read_to_string(&file).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(have.lines().count().min(want.lines().count()));
        panic!(
            "docs/openapi.json differs from the document built by src/http/admin/openapi.rs (first difference at \
             line {}: committed {:?}, built {:?}).\nRegenerate it and commit the result:\n    \
             {UPDATE_VAR}=1 cargo test --test openapi committed_document_is_up_to_date",
            line + 1,
            have.lines().nth(line).unwrap_or("<end of file>"),
            want.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target =
                doc.pointer(r.strip_prefix('#').expect("a local $ref")).unwrap_or_else(|| panic!("{r} dangles"));
            resolve(doc, target)
        }
        None => v,
    }
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Every operation: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}: unexpected method");
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

/// The operation's parameters, resolved, by (in, name).
fn parameters(doc: &Value, op: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let p = resolve(doc, p);
        let key = (p["in"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string());
        assert!(out.insert(key.clone(), p.clone()).is_none(), "{key:?} twice");
    }
    out
}

fn template_names(path: &str) -> BTreeSet<String> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).map(String::from).collect()
}

/// The values a path parameter's schema excludes with `not: {enum: [...]}`.
fn excluded(doc: &Value, param: &Value) -> BTreeSet<String> {
    let schema = resolve(doc, &param["schema"]);
    schema["not"]["enum"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
}

#[test]
fn document_holds_together() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        assert!(doc.pointer(r.strip_prefix('#').unwrap()).is_some(), "{r} dangles");
    }
    let mut ids = BTreeSet::new();
    let ops = operations(&doc);
    for (path, method, op) in &ops {
        let at = format!("{} {path}", method.to_uppercase());
        assert!(ids.insert(op["operationId"].as_str().expect("operationId").to_string()), "{at}: operationId reused");
        let params = parameters(&doc, op);
        let in_path: BTreeSet<String> = params.keys().filter(|(i, _)| i == "path").map(|(_, n)| n.clone()).collect();
        assert_eq!(in_path, template_names(path), "{at}: path parameters");
        for ((location, name), p) in &params {
            if location == "path" {
                assert_eq!(p["required"], true, "{at}: {name}");
                assert!(p["example"].is_string(), "{at}: {name} needs an example");
            }
        }
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|s| s.starts_with('2')), "{at}: no success response");
        if op.get("security") != Some(&json!([])) {
            assert!(responses.contains_key("401") && responses.contains_key("403"), "{at}: 401 and 403");
        }
        if op.get("requestBody").is_some() {
            for s in ["400", "415", "422"] {
                assert!(responses.contains_key(s), "{at}: a body needs {s}");
            }
        }
        for (status, r) in responses {
            if !status.starts_with('2') {
                let r = resolve(&doc, r);
                assert!(r["content"]["application/problem+json"].is_object(), "{at}: {status} is problem JSON");
            }
        }
    }
    // Overlapping routes: where the router prefers another route's static segment over this
    // route's parameter (the first segment where they differ decides), the parameter must
    // exclude that segment, or the document would promise this operation for that value.
    for (a, _, a_op) in &ops {
        for (b, _, _) in &ops {
            let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
            let param = |s: &str| s.starts_with('{');
            if a == b || sa.len() != sb.len() || sa.iter().zip(&sb).any(|(x, y)| x != y && !param(x) && !param(y)) {
                continue;
            }
            let Some(i) = sa.iter().zip(&sb).position(|(x, y)| param(x) != param(y)) else { continue };
            if param(sa[i]) {
                let name = sa[i].trim_matches(['{', '}']);
                let p = &parameters(&doc, a_op)[&("path".to_string(), name.to_string())];
                assert!(
                    excluded(&doc, p).contains(sb[i]),
                    "{a}: the parameter {name} must exclude {:?}, which routes to {b}",
                    sb[i]
                );
            }
        }
    }
}

/// A documented path with each parameter replaced by its example.
fn example_uri(doc: &Value, path: &str, op: &Value) -> String {
    let mut uri = format!("/api/v1{path}");
    for ((location, name), p) in parameters(doc, op) {
        if location == "path" {
            uri = uri.replace(&format!("{{{name}}}"), p["example"].as_str().unwrap());
        }
    }
    uri
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_operations_are_exactly_the_routed_ones() {
    let app = TestApp::new(Backend::SqliteMemory).await;
    let doc = document();
    let by_path: BTreeMap<String, Vec<(String, Value)>> =
        operations(&doc).into_iter().fold(BTreeMap::new(), |mut m, (path, method, op)| {
            m.entry(path).or_default().push((method, op));
            m
        });
    for (path, ops) in &by_path {
        let uri = example_uri(&doc, path, &ops[0].1);
        for method in METHODS {
            let req = Request::builder()
                .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let res = app.send(req).await;
            let at = format!("{} {uri} (documented as {path})", method.to_uppercase());
            match ops.iter().find(|(m, _)| m == method) {
                None => assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{at}: undocumented, yet routed"),
                Some((_, op)) if op.get("security") == Some(&json!([])) => {
                    assert_eq!(res.status(), StatusCode::OK, "{at}");
                    if path == "/openapi.json" {
                        assert_eq!(body_json(res).await, doc, "the served document is document()");
                    }
                }
                Some(_) => {
                    // Every handler's first extractor authenticates: a 401 problem means the
                    // request reached one (the fallback answers 404, an unrouted method 405).
                    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{at}: documented, but not routed");
                    assert!(res.headers().contains_key(header::WWW_AUTHENTICATE), "{at}");
                    let ct = res.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().to_string();
                    assert_eq!(ct, "application/problem+json", "{at}");
                }
            }
        }
    }
}

/// The ids the document says POST /tenants refuses are refused, and they include every
/// first path segment of the API's own (a tenant named so could not be addressed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_tenant_ids_are_refused() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["NewTenant"]["properties"]["id"];
    let reserved: BTreeSet<String> = excluded(&doc, &json!({ "schema": schema }));
    for (path, _, _) in operations(&doc) {
        let first = path.split('/').nth(1).unwrap();
        if !first.starts_with('{') {
            assert!(reserved.contains(first), "NewTenant.id must exclude {first:?}, the first segment of {path}");
        }
    }
    let app = TestApp::new(Backend::SqliteMemory).await;
    let root = app.user("root").await;
    app.stores.instance_admins.grant_instance_admin(tessera::store::MemberKind::User, &root.id, 0).await.unwrap();
    for id in &reserved {
        let req = Request::post("/api/v1/tenants")
            .header(header::AUTHORIZATION, common::basic_header("root", common::PASSWORD))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "id": id, "name": "Reserved" }).to_string()))
            .unwrap();
        let res = app.send(req).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "POST /tenants with the id {id:?}");
    }
}

/// The (method, path) pairs of the `.route(..)` calls in the admin API's sources.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let dir = repo().join("src/http/admin");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/http/admin") {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let code: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!code.contains(".nest("), "{name}: a nested router hides its prefix from this test");
        let mut rest = code.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let literal =
                rest.trim_start().strip_prefix('"').unwrap_or_else(|| panic!("{name}: .route( without a literal path"));
            let end = literal.find('"').unwrap();
            let path = &literal[..end];
            let mut depth = 1;
            let handlers = &literal[end + 1..];
            let close = handlers
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(k, _)| k)
                .unwrap_or_else(|| panic!("{name}: unbalanced .route("));
            let handlers = &handlers[..close];
            let mut found = false;
            for method in METHODS.iter().chain(&["head", "options", "trace", "any", "on"]) {
                let call = format!("{method}(");
                for (k, _) in handlers.match_indices(&call) {
                    let before = handlers[..k].chars().next_back();
                    if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                        out.insert((method.to_string(), path.to_string()));
                        found = true;
                    }
                }
            }
            assert!(found, "{name}: no method router in .route({path:?}, {handlers})");
        }
    }
    out
}

#[test]
fn every_route_in_the_sources_is_documented() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(p, m, _)| (m, p)).collect();
    let routed = routes_in_sources();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without documentation: {undocumented:?}; documented operations without a route: {unrouted:?} \
         (document them in src/http/admin/openapi.rs)"
    );
}

// --- Schemathesis against the built binary ------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const PASSWORD: &str = "root-passphrase-for-fuzzing";
/// The fixed seed makes a failure reproducible; set TESSERA_SCHEMATHESIS_SEED to explore others.
const SEED: &str = "20240601";

/// How to run schemathesis: its script, else its Python module; with the version installed.
fn schemathesis() -> (Vec<&'static str>, (u32, u32)) {
    for argv in [vec!["schemathesis"], vec!["python3", "-m", "schemathesis.cli"]] {
        let Ok(out) = Command::new(argv[0]).args(&argv[1..]).arg("--version").output() else { continue };
        if !out.status.success() {
            continue;
        }
        // "schemathesis, version 4.32.5"
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut v = text.trim().rsplit(' ').next().unwrap_or_default().split('.').map(|p| p.parse().unwrap_or(0));
        return (argv, (v.next().unwrap_or(0), v.next().unwrap_or(0)));
    }
    panic!(
        "schemathesis is not installed; this test runs it against the built binary: pip install 'schemathesis>=4.32,<5'"
    )
}

struct Server {
    child: std::process::Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tessera(dir: &Path, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_remove("TESSERA_CONFIG")
        .env("TESSERA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("TESSERA__SERVER__ISSUER", format!("http://127.0.0.1:{port}"));
    c
}

async fn start(dir: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The Instance Admin the run authenticates as, from the CLI, on the same SQLite file.
    let out = tessera(dir, port)
        .args(["auths", "users", "create", "--username", "root", "--password", PASSWORD, "--instance-admin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = dir.join("server.log");
    let child = tessera(dir, port)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start tessera");
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), log };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await
            && r.status() == 200
        {
            return server;
        }
        assert!(Instant::now() < deadline, "not ready: {}", std::fs::read_to_string(&server.log).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Tenants `acme` (where the run works: see tests/schemathesis/schemathesis.toml) and `globex`,
/// and in acme the resources the document's examples name, so that the examples phase reads,
/// changes and deletes real ones.
async fn seed(base: &str) {
    let http = reqwest::Client::new();
    let api = format!("{base}/api/v1");
    for (path, body) in [
        ("/tenants", json!({ "id": "acme", "name": "ACME" })),
        ("/tenants", json!({ "id": "globex", "name": "Globex" })),
        ("/acme/groups", json!({ "id": "ops", "name": "Ops" })),
        ("/acme/roles", json!({ "id": "viewer", "name": "Viewer", "permissions": ["FLOW:READ"] })),
        ("/acme/service-accounts", json!({ "id": "ci-bot", "name": "CI" })),
        ("/acme/users", json!({ "username": "carol", "email": "carol@example.com" })),
        ("/acme/bindings", json!({ "role_id": "viewer", "principal_kind": "group", "principal_id": "ops" })),
        (
            "/acme/workload-identities",
            json!({
                "id": "gh-deploy",
                "name": "GitHub deploys",
                "issuer": "https://token.actions.githubusercontent.com",
                "audience": "https://tessera.example.com",
                "claims": { "repository": "acme/app" },
                "service_account_id": "ci-bot",
            }),
        ),
        (
            "/acme/identity-providers",
            json!({
                "id": "okta",
                "name": "Acme Okta",
                "issuer": "https://acme.okta.example",
                "client_id": "0oa1abc",
                "client_secret": "example-secret",
                "group_mappings": [{ "upstream": "Ops", "group": "ops" }],
            }),
        ),
    ] {
        let res =
            http.post(format!("{api}{path}")).basic_auth("root", Some(PASSWORD)).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201, "POST {path}: {}", res.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_against_the_binary() {
    let (argv, (major, minor)) = schemathesis();
    assert!(
        major == 4 && minor >= 32,
        "schemathesis {major}.{minor} is installed; this test needs 4.32 or later 4.x (filter_failure hooks): \
         pip install -U 'schemathesis>=4.32,<5'"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    seed(&server.base).await;

    let api = format!("{}/api/v1", server.base);
    let seed = std::env::var("TESSERA_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let st_dir = repo().join("tests/schemathesis");
    let out_file = dir.path().join("schemathesis.txt");
    let started = Instant::now();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir.path())
        .env("SCHEMATHESIS_HOOKS", st_dir.join("hooks.py"))
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(st_dir.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{api}/openapi.json"))
        .args(["--url", &api])
        .args(["--auth", &format!("root:{PASSWORD}")])
        .args(["--seed", &seed])
        .args(["--workers", "2"])
        .arg("--no-color")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("run schemathesis");
    let deadline = started + Duration::from_secs(600);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let output = std::fs::read_to_string(&out_file).unwrap_or_default();
    let elapsed = started.elapsed();
    let summary = output.rsplit_once("SUMMARY").map_or(output.as_str(), |(_, s)| s.trim_start_matches(['=', ' ']));
    eprintln!("schemathesis ran for {elapsed:?} (seed {seed}):{summary}");

    // The server survived the run, and no request panicked a handler.
    let alive = reqwest::get(format!("{}/readyz", server.base)).await.is_ok_and(|r| r.status() == 200);
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(alive, "the server stopped answering during the run:\n{output}\n{log}");
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
    match status {
        None => panic!("schemathesis did not finish within 10 minutes:\n{output}"),
        Some(s) if !s.success() => panic!(
            "schemathesis found failures (exit {s}). Each comes with a curl command to reproduce it. A mismatch \
             between the document and the API is fixed in src/http/admin/openapi.rs; a server bug in the \
             handler.\n\n{output}"
        ),
        Some(_) => {}
    }
}
