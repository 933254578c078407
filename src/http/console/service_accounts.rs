//! Service accounts: the list, creation, and the page of an account: its groups, its bindings
//! and its API tokens (created here and shown once, with a copy button; revoked here).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::Page;
use super::bindings::{self, BindForm};
use super::groups;
use super::layout::{self, Errors, Field, Nav, esc, s as text, seg};
use super::session::{Console, Form};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/service-accounts", get(list).post(create))
        .route("/console/t/{tenant}/service-accounts/new", get(new))
        .route("/console/t/{tenant}/service-accounts/{id}", get(show))
        .route("/console/t/{tenant}/service-accounts/{id}/groups", post(attach))
        .route("/console/t/{tenant}/service-accounts/{id}/bindings", post(bind))
        .route("/console/t/{tenant}/service-accounts/{id}/tokens", post(create_token))
        .route("/console/t/{tenant}/service-accounts/{id}/tokens/{token}/revoke", post(revoke_token))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

async fn list(State(s): State<AppState>, con: Console, Path(tenant): Path<String>, Query(q): Query<ListQuery>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let mut query = String::from("limit=25");
    let search = q.q.as_deref().unwrap_or("").trim().to_string();
    if !search.is_empty() {
        query.push_str(&format!("&q={}", layout::q(&search)));
    }
    if let Some(a) = &q.after {
        query.push_str(&format!("&after={}", layout::q(a)));
    }
    let list = con.get(&s, &format!("/{}/service-accounts?{query}", seg(nav.t()))).await?;
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                nav.path(&format!("/service-accounts/{}", seg(a["id"].as_str().unwrap_or("")))),
                text(a, "id"),
                text(a, "name"),
                text(a, "description"),
                text(a, "created_by")
            )
        })
        .collect();
    let next = list["next"]
        .as_str()
        .map(|n| {
            format!(
                "<p><a href=\"{}?q={}&amp;after={}\" rel=\"next\">Next page</a></p>",
                nav.path("/service-accounts"),
                layout::q(&search),
                layout::q(n)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Service accounts</h1>{}<p><a href=\"{}\" id=\"create-service-account\">Create a service account</a></p>\
<form method=\"get\" action=\"{}\" class=\"toolbar\" role=\"search\">{}<button type=\"submit\" class=\"secondary\">Search</button></form>\
<table id=\"service-accounts\"><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Description</th><th scope=\"col\">Created by</th></tr></thead><tbody>{rows}</tbody></table>{next}",
        layout::done(q.done.as_deref()),
        nav.path("/service-accounts/new"),
        nav.path("/service-accounts"),
        Field::new("search", "q", "Search service accounts", &search).kind("search").render(&Errors::default()),
    );
    Ok(layout::page(StatusCode::OK, &nav, "Service accounts", "service-accounts", &body))
}

fn create_form(nav: &Nav, f: Option<&Form>, e: &Errors) -> Response {
    let v = |k: &str| f.map(|f| f.text(k)).unwrap_or_default();
    let body = format!(
        "<h1>Create a service account</h1><form method=\"post\" action=\"{}\" id=\"sa-form\">{}{}{}{}{}<button type=\"submit\">Create service account</button></form>",
        nav.path("/service-accounts"),
        nav.csrf_field(),
        e.summary("sa"),
        Field::new("sa", "id", "Id", &v("id"))
            .hint("Letters, digits, '_', '.' or '-'; leave empty for a generated id.")
            .render(e),
        Field::new("sa", "name", "Name", &v("name")).required().render(e),
        Field::new("sa", "description", "Description", &v("description")).kind("textarea").render(e),
    );
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    layout::page(status, nav, "Create a service account", "service-accounts", &body)
}

async fn new(State(s): State<AppState>, con: Console, Path(tenant): Path<String>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    Ok(create_form(&nav, None, &Errors::default()))
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
    let body = json!({ "id": form.opt("id"), "name": form.text("name"), "description": form.opt("description") });
    let a = con.api(&s, Method::POST, &format!("/{}/service-accounts", seg(nav.t())), Some(body)).await;
    if !a.ok() {
        return Ok(create_form(&nav, Some(&form), &Errors::from_api(&a)));
    }
    let id = a.json["id"].as_str().unwrap_or_default();
    Ok(Redirect::to(&format!("{}?done=created", nav.path(&format!("/service-accounts/{}", seg(id))))).into_response())
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    done: Option<String>,
}

enum Failed<'a> {
    None,
    Attach(&'a Form, Errors),
    Bind(&'a Form, Errors),
    Token(&'a Form, Errors),
    Other(Errors),
}

/// The page of an account; `shown` is a token just created, shown this once.
async fn render(
    con: &Console,
    s: &AppState,
    nav: &Nav,
    id: &str,
    done: Option<&str>,
    failed: Failed<'_>,
    shown: Option<(&str, &str)>,
) -> Page {
    let t = seg(nav.t());
    let a = con.get(s, &format!("/{t}/service-accounts/{}", seg(id))).await?;
    let options = groups::options(con, s, nav).await?;
    let bound = bindings::bindings_of(con, s, nav, Some(("service_account", id)), "").await?;
    let roles = bindings::role_options(con, s, nav).await?;
    let tokens = con.get(s, &format!("/{t}/service-accounts/{}/tokens", seg(id))).await?;
    let base = nav.path(&format!("/service-accounts/{}", seg(id)));
    let rows: String = tokens["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tk| {
            let revoke = if tk["status"].as_str() == Some("active") {
                format!(
                    "<form method=\"post\" action=\"{base}/tokens/{}/revoke\" class=\"inline\">{}<button type=\"submit\" class=\"danger\" aria-label=\"Revoke the token {}\">Revoke</button></form>",
                    seg(tk["id"].as_str().unwrap_or("")),
                    nav.csrf_field(),
                    text(tk, "name")
                )
            } else {
                String::new()
            };
            let expires = if tk["expires_at"].is_null() { "Never".to_string() } else { layout::time(&tk["expires_at"]) };
            format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{expires}</td><td>{}</td><td>{revoke}</td></tr>",
                text(tk, "name"),
                text(tk, "hint"),
                text(tk, "status"),
                layout::time(&tk["created_at"]),
                if tk["last_used_at"].is_null() { "Never".to_string() } else { layout::time(&tk["last_used_at"]) },
            )
        })
        .collect();
    let shown = shown
        .map(|(name, token)| {
            format!(
                "<div class=\"card\" role=\"status\" id=\"new-token\"><h3>Token {} created</h3>\
<p><strong>Copy it now: it is shown only once.</strong> Tessera keeps only its hash.</p>\
<label for=\"token-value\">API token</label><input type=\"text\" id=\"token-value\" class=\"secret\" value=\"{}\" readonly>\
<button type=\"button\" data-copy=\"token-value\" id=\"copy-token\">Copy</button></div>",
                esc(name),
                esc(token)
            )
        })
        .unwrap_or_default();
    let empty = Form::empty();
    let none = Errors::default();
    let (aform, aerr) = match &failed {
        Failed::Attach(f, e) => (*f, e),
        _ => (&empty, &none),
    };
    let (tform, terr) = match &failed {
        Failed::Token(f, e) => (*f, e),
        _ => (&empty, &none),
    };
    let bind = match &failed {
        Failed::Bind(f, e) => BindForm::from(f, Errors { general: e.general.clone(), fields: e.fields.clone() }),
        _ => BindForm::default(),
    };
    let other = match &failed {
        Failed::Other(e) => e.summary("sa-page"),
        _ => String::new(),
    };
    let body = format!(
        "<h1>Service account {name}</h1>{done}{other}{shown}\
<dl><dt>Id</dt><dd id=\"sa-id\">{sid}</dd><dt>Description</dt><dd>{desc}</dd><dt>Created by</dt><dd>{by}</dd><dt>Created</dt><dd>{created}</dd></dl>\
<h2>API tokens</h2><table id=\"tokens\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Token</th><th scope=\"col\">Status</th><th scope=\"col\">Created</th><th scope=\"col\">Expires</th><th scope=\"col\">Last used</th><th scope=\"col\"><span class=\"muted\">Actions</span></th></tr></thead><tbody>{rows}</tbody></table>\
<form method=\"post\" action=\"{base}/tokens\" id=\"token-form\">{csrf}{tsum}{tname}{tdays}<button type=\"submit\">Create token</button></form>\
<h2>Groups</h2>{groups}<h2>Bindings</h2>{btable}{bform}",
        name = text(&a, "name"),
        done = layout::done(done),
        sid = text(&a, "id"),
        desc = text(&a, "description"),
        by = text(&a, "created_by"),
        created = layout::time(&a["created_at"]),
        csrf = nav.csrf_field(),
        tsum = terr.summary("token"),
        tname = Field::new("token", "name", "Token name", &tform.text("name")).required().render(terr),
        tdays = Field::new("token", "expires_days", "Expires after (days)", &tform.text("expires_days"))
            .hint("1 to 3650 days; leave empty for a token that does not expire.")
            .render(terr),
        groups = groups::section(nav, &a, &format!("{base}/groups"), &options, aform, aerr),
        btable = bindings::table(nav, bound["items"].as_array().map(Vec::as_slice).unwrap_or(&[]), false, &base),
        bform = bindings::form(nav, &format!("{base}/bindings"), &roles, &bind, false),
    );
    let status = if matches!(failed, Failed::None) {
        if shown.is_empty() { StatusCode::OK } else { StatusCode::CREATED }
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(layout::page(
        status,
        nav,
        &format!("Service account {}", a["name"].as_str().unwrap_or("")),
        "service-accounts",
        &body,
    ))
}

async fn show(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    render(&con, &s, &nav, &id, q.done.as_deref(), Failed::None, None).await
}

async fn attach(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    match groups::attach(&con, &s, &nav, "service-accounts", &id, &form).await {
        Ok(()) => Ok(redirect(&nav, &id, "added")),
        Err(e) => render(&con, &s, &nav, &id, None, Failed::Attach(&form, e), None).await,
    }
}

fn redirect(nav: &Nav, id: &str, done: &str) -> Response {
    Redirect::to(&format!("{}?done={done}", nav.path(&format!("/service-accounts/{}", seg(id))))).into_response()
}

async fn bind(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    match bindings::bind(&con, &s, &nav, "service_account", &id, &form).await {
        Ok(()) => Ok(redirect(&nav, &id, "bound")),
        Err(e) => render(&con, &s, &nav, &id, None, Failed::Bind(&form, e), None).await,
    }
}

/// Creates an API token and shows it in this answer only (never stored by the console, never
/// put in a URL; the page is `no-store`).
async fn create_token(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let days = form.text("expires_days");
    let expires_in = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d @ 1..=3650) => Some(d * 86_400),
            _ => {
                let mut e = Errors::default();
                e.field("expires_days", "use a whole number of days from 1 to 3650, or leave it empty");
                return render(&con, &s, &nav, &id, None, Failed::Token(&form, e), None).await;
            }
        }
    };
    let body = json!({ "name": form.text("name"), "expires_in": expires_in });
    let path = format!("/{}/service-accounts/{}/tokens", seg(nav.t()), seg(&id));
    let a = con.api(&s, Method::POST, &path, Some(body)).await;
    if !a.ok() {
        let mut e = Errors::from_api(&a);
        for (f, _) in e.fields.iter_mut() {
            if f == "expires_in" || f == "expires_at" {
                *f = "expires_days".into();
            }
        }
        return render(&con, &s, &nav, &id, None, Failed::Token(&form, e), None).await;
    }
    let name = a.json["name"].as_str().unwrap_or_default().to_string();
    let token = a.json["token"].as_str().unwrap_or_default().to_string();
    render(&con, &s, &nav, &id, None, Failed::None, Some((&name, &token))).await
}

async fn revoke_token(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id, token)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let path = format!("/{}/service-accounts/{}/tokens/{}", seg(nav.t()), seg(&id), seg(&token));
    let a = con.api(&s, Method::DELETE, &path, None).await;
    if !a.ok() {
        return render(&con, &s, &nav, &id, None, Failed::Other(Errors::from_api(&a)), None).await;
    }
    Ok(redirect(&nav, &id, "revoked"))
}
