//! Identity providers (the tenant's federation connections): the list, adding one, editing one
//! (its settings and group mappings), removing one. The client secret is write-only: the API
//! never returns it, and an edit that leaves the field empty keeps it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Page;
use super::layout::{self, Errors, Field, Nav, esc, s as text, seg};
use super::session::{Console, Form};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/identity-providers", get(list).post(create))
        .route("/console/t/{tenant}/identity-providers/{id}", get(show).post(update))
        .route("/console/t/{tenant}/identity-providers/{id}/delete", post(remove))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    done: Option<String>,
}

async fn render(con: &Console, s: &AppState, nav: &Nav, done: Option<&str>, f: Option<&Form>, e: &Errors) -> Page {
    let list = con.get(s, &format!("/{}/identity-providers", seg(nav.t()))).await?;
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c: &Value| {
            let domains: Vec<&str> =
                c["email_domains"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let id = c["id"].as_str().unwrap_or("");
            format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                nav.path(&format!("/identity-providers/{}", seg(id))),
                esc(id),
                text(c, "name"),
                text(c, "issuer"),
                text(c, "client_id"),
                esc(&domains.join(", ")),
                if c["enabled"].as_bool() == Some(false) { "Disabled" } else { "Enabled" },
                layout::button_form(
                    nav,
                    &nav.path(&format!("/identity-providers/{}/delete", seg(c["id"].as_str().unwrap_or("")))),
                    "Remove",
                    "danger"
                ),
            )
        })
        .collect();
    let v = |k: &str| f.map(|f| f.text(k)).unwrap_or_default();
    let methods = auth_methods();
    let redirect = s.provider.settings.url(crate::federation::CALLBACK_PATH);
    let body = format!(
        "<h1>Identity providers</h1>{}<p class=\"muted\">Upstream OpenID providers people of this tenant can sign in with. \
Register <code>{}</code> as the redirect URI at the provider.</p>\
<table id=\"identity-providers\"><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Issuer</th><th scope=\"col\">Client id</th><th scope=\"col\">Email domains</th><th scope=\"col\">State</th><th scope=\"col\"><span class=\"muted\">Actions</span></th></tr></thead><tbody>{rows}</tbody></table>\
<h2>Add an identity provider</h2><form method=\"post\" action=\"{}\" id=\"idp-form\">{}{}{}{}{}{}{}{}{}<button type=\"submit\">Add identity provider</button></form>",
        layout::done(done),
        esc(&redirect),
        nav.path("/identity-providers"),
        nav.csrf_field(),
        e.summary("idp"),
        Field::new("idp", "id", "Id", &v("id"))
            .hint("1 to 64 letters, digits, '_', '.' or '-'; it appears in idp_hint.")
            .required()
            .render(e),
        Field::new("idp", "name", "Name", &v("name")).hint("Shown on the sign-in button.").required().render(e),
        Field::new("idp", "issuer", "Issuer", &v("issuer"))
            .hint("Exactly the iss of its tokens (https).")
            .required()
            .render(e),
        Field::new("idp", "client_id", "Client id", &v("client_id")).required().render(e),
        Field::new("idp", "client_secret", "Client secret", "")
            .kind("password")
            .hint("Stored sealed; never shown again.")
            .render(e),
        layout::select("idp", "auth_method", "Client authentication", &methods, &v("auth_method"), e),
        Field::new("idp", "email_domains", "Email domains", &v("email_domains"))
            .hint("Optional, separated by commas: only these domains may sign in through it.")
            .render(e),
    );
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, nav, "Identity providers", "identity-providers", &body))
}

async fn list(State(s): State<AppState>, con: Console, Path(tenant): Path<String>, Query(q): Query<ListQuery>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    render(&con, &s, &nav, q.done.as_deref(), None, &Errors::default()).await
}

async fn create(
    State(s): State<AppState>,
    con: Console,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let domains: Vec<&str> =
        form.get("email_domains").unwrap_or("").split([',', ' ', '\n', '\r', '\t']).filter(|d| !d.is_empty()).collect();
    let body = json!({
        "id": form.opt("id"),
        "name": form.text("name"),
        "issuer": form.text("issuer"),
        "client_id": form.text("client_id"),
        "client_secret": form.opt("client_secret"),
        "auth_method": form.opt("auth_method").unwrap_or_else(|| "client_secret_basic".into()),
        "email_domains": domains,
    });
    let a = con.api(&s, Method::POST, &format!("/{}/identity-providers", seg(nav.t())), Some(body)).await;
    if !a.ok() {
        return render(&con, &s, &nav, None, Some(&form), &Errors::from_api(&a)).await;
    }
    Ok(Redirect::to(&format!("{}?done=created", nav.path("/identity-providers"))).into_response())
}

async fn remove(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let a = con.api(&s, Method::DELETE, &format!("/{}/identity-providers/{}", seg(nav.t()), seg(&id)), None).await;
    if !a.ok() {
        return render(&con, &s, &nav, None, None, &Errors::from_api(&a)).await;
    }
    Ok(Redirect::to(&format!("{}?done=deleted", nav.path("/identity-providers"))).into_response())
}

fn auth_methods() -> [(String, String); 3] {
    [
        ("client_secret_basic".to_string(), "client_secret_basic".to_string()),
        ("client_secret_post".to_string(), "client_secret_post".to_string()),
        ("private_key_jwt".to_string(), "private_key_jwt (Tessera's signing key)".to_string()),
    ]
}

fn yes_no(yes: &str, no: &str) -> [(String, String); 2] {
    [("true".to_string(), yes.to_string()), ("false".to_string(), no.to_string())]
}

/// Group mappings as the form shows them: one `upstream value = group` per line (the group
/// as `tenant/group` when it lives in another tenant than the connection).
fn mappings_text(c: &Value, tenant: &str) -> String {
    c["group_mappings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let group = m["group"].as_str().unwrap_or_default();
            match m["tenant"].as_str() {
                Some(t) if t != tenant => format!("{} = {t}/{group}", m["upstream"].as_str().unwrap_or_default()),
                _ => format!("{} = {group}", m["upstream"].as_str().unwrap_or_default()),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The form's mapping lines as the API's `group_mappings`. The last `=` separates (upstream
/// values such as LDAP names contain `=`; group ids never do).
fn parse_mappings(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty()) {
        let Some((upstream, group)) = line.rsplit_once('=') else {
            return Err(format!("line {}: write it as 'upstream value = group id'", n + 1));
        };
        let (upstream, group) = (upstream.trim(), group.trim());
        if upstream.is_empty() || group.is_empty() {
            return Err(format!("line {}: both the upstream value and the group id are needed", n + 1));
        }
        out.push(match group.split_once('/') {
            Some((tenant, group)) => json!({ "upstream": upstream, "tenant": tenant, "group": group }),
            None => json!({ "upstream": upstream, "group": group }),
        });
    }
    Ok(out)
}

/// The page of one identity provider: its settings in a form, and where to register Tessera.
async fn render_one(
    con: &Console,
    s: &AppState,
    nav: &Nav,
    id: &str,
    done: Option<&str>,
    f: Option<&Form>,
    e: &Errors,
) -> Page {
    let c = con.get(s, &format!("/{}/identity-providers/{}", seg(nav.t()), seg(id))).await?;
    let stored = |k: &str| match &c[k] {
        Value::String(v) => v.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
        _ => String::new(),
    };
    let v = |k: &str| match f {
        Some(f) => f.text(k),
        None if k == "group_mappings" => mappings_text(&c, nav.t()),
        None => stored(k),
    };
    let links = [
        ("never".to_string(), "Never: an existing account with the same email is refused".to_string()),
        ("verified_email".to_string(), "When the provider says the email is verified".to_string()),
    ];
    let secret_hint = if c["client_secret_set"].as_bool() == Some(true) {
        "A secret is stored (sealed, never shown). Leave empty to keep it."
    } else {
        "No secret is stored."
    };
    let action = nav.path(&format!("/identity-providers/{}", seg(id)));
    let body = format!(
        "<p><a href=\"{}\">Identity providers</a></p><h1>{}</h1>{}\
<p class=\"muted\">Redirect URI to register at the provider: <code>{}</code>; after logout: <code>{}</code>.</p>\
<form method=\"post\" action=\"{}\" id=\"idp-edit\">{}{}{}{}{}{}{}{}{}{}{}{}{}<button type=\"submit\">Save</button></form>\
<h2>Remove</h2>{}",
        nav.path("/identity-providers"),
        text(&c, "name"),
        layout::done(done),
        text(&c, "redirect_uri"),
        text(&c, "post_logout_redirect_uri"),
        esc(&action),
        nav.csrf_field(),
        e.summary("idp"),
        Field::new("idp", "name", "Name", &v("name")).hint("Shown on the sign-in button.").required().render(e),
        Field::new("idp", "issuer", "Issuer", &v("issuer"))
            .hint("Exactly the iss of its tokens (https).")
            .required()
            .render(e),
        Field::new("idp", "client_id", "Client id", &v("client_id")).required().render(e),
        Field::new("idp", "client_secret", "Client secret", "").kind("password").hint(secret_hint).render(e),
        layout::select("idp", "auth_method", "Client authentication", &auth_methods(), &v("auth_method"), e),
        Field::new("idp", "email_domains", "Email domains", &v("email_domains"))
            .hint("Optional, separated by commas: only these domains may sign in through it.")
            .render(e),
        layout::select("idp", "enabled", "State", &yes_no("Enabled", "Disabled"), &v("enabled"), e),
        layout::select(
            "idp",
            "jit",
            "New people",
            &yes_no("Create their account at the first sign-in", "Refuse unknown people"),
            &v("jit"),
            e
        ),
        layout::select("idp", "link", "Link to an existing account", &links, &v("link"), e),
        layout::select(
            "idp",
            "end_session",
            "Sign-out",
            &yes_no("Also sign out at the provider", "Sign out of Tessera only"),
            &v("end_session"),
            e
        ),
        Field::new("idp", "group_mappings", "Group mappings", &v("group_mappings"))
            .kind("textarea")
            .hint("One per line: the value in the provider's groups claim = a group id of this tenant. Memberships follow at every sign-in.")
            .render(e),
        layout::button_form(nav, &nav.path(&format!("/identity-providers/{}/delete", seg(id))), "Remove", "danger"),
    );
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, nav, "Identity providers", "identity-providers", &body))
}

async fn show(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    render_one(&con, &s, &nav, &id, q.done.as_deref(), None, &Errors::default()).await
}

/// Saves the form over the stored settings: what the form does not show (scopes, claim
/// mapping, home tenant) is kept as it is.
async fn update(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let path = format!("/{}/identity-providers/{}", seg(nav.t()), seg(&id));
    let current = con.get(&s, &path).await?;
    let mappings = match parse_mappings(&form.text("group_mappings")) {
        Ok(m) => m,
        Err(msg) => {
            let mut e = Errors::default();
            e.field("group_mappings", &msg);
            return render_one(&con, &s, &nav, &id, None, Some(&form), &e).await;
        }
    };
    let domains: Vec<&str> =
        form.get("email_domains").unwrap_or("").split([',', ' ', '\n', '\r', '\t']).filter(|d| !d.is_empty()).collect();
    let flag = |k: &str| form.get(k).map(|v| v == "true");
    let mut replacement = json!({
        "name": form.text("name"),
        "issuer": form.text("issuer"),
        "client_id": form.text("client_id"),
        "auth_method": form.opt("auth_method").unwrap_or_else(|| "client_secret_basic".into()),
        "scopes": current["scopes"],
        "claims": current["claims"],
        "email_domains": domains,
        "link": form.opt("link").unwrap_or_else(|| "never".into()),
        "jit": flag("jit"),
        "home_tenant": current["home_tenant"],
        "group_mappings": mappings,
        "end_session": flag("end_session"),
        "enabled": flag("enabled"),
    });
    if let Some(secret) = form.opt("client_secret") {
        replacement["client_secret"] = secret.into();
    }
    let a = con.api(&s, Method::PUT, &path, Some(replacement)).await;
    if !a.ok() {
        return render_one(&con, &s, &nav, &id, None, Some(&form), &Errors::from_api(&a)).await;
    }
    Ok(Redirect::to(&format!("{}?done=saved", nav.path(&format!("/identity-providers/{}", seg(&id))))).into_response())
}
