//! Users: the list (search, paging, and finding a user of another tenant by exact email), the
//! creation (no password: the user must set one), and the page of a user: details, groups,
//! bindings, the service accounts they created, their sign-ins, and a change-password
//! request.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Page;
use super::bindings::{self, BindForm};
use super::groups;
use super::layout::{self, Errors, Field, Nav, esc, s as text, seg};
use super::session::{Console, Form};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/users", get(list).post(create))
        .route("/console/t/{tenant}/users/new", get(new))
        .route("/console/t/{tenant}/users/{id}", get(show))
        .route("/console/t/{tenant}/users/{id}/groups", post(attach))
        .route("/console/t/{tenant}/users/{id}/bindings", post(bind))
        .route("/console/t/{tenant}/users/{id}/password-change", post(password_change))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    after: Option<String>,
    email: Option<String>,
    done: Option<String>,
}

fn status_of(u: &Value) -> &'static str {
    if u["disabled"].as_bool() == Some(true) {
        "Disabled"
    } else if u["password_change_required"].as_bool() == Some(true) {
        "Must set a password"
    } else {
        "Active"
    }
}

async fn list(State(s): State<AppState>, con: Console, Path(tenant): Path<String>, Query(q): Query<ListQuery>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let t = seg(nav.t());
    let mut query = String::from("limit=25");
    let search = q.q.as_deref().unwrap_or("").trim().to_string();
    if !search.is_empty() {
        query.push_str(&format!("&q={}", layout::q(&search)));
    }
    if let Some(a) = &q.after {
        query.push_str(&format!("&after={}", layout::q(a)));
    }
    let list = con.get(&s, &format!("/{t}/users?{query}")).await?;
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                nav.path(&format!("/users/{}", seg(u["id"].as_str().unwrap_or("")))),
                text(u, "username"),
                text(u, "name"),
                text(u, "email"),
                status_of(u)
            )
        })
        .collect();
    let next = list["next"]
        .as_str()
        .map(|n| {
            format!(
                "<p><a href=\"{}?q={}&amp;after={}\" rel=\"next\">Next page</a></p>",
                nav.path("/users"),
                layout::q(&search),
                layout::q(n)
            )
        })
        .unwrap_or_default();
    // Someone without access here is found only by their exact email.
    let mut lookup_errors = Errors::default();
    let email = q.email.as_deref().unwrap_or("").trim().to_string();
    let found = if email.is_empty() {
        String::new()
    } else if !email.contains('@') {
        lookup_errors.field("email", "type the exact email address");
        String::new()
    } else {
        let a = con.api(&s, Method::GET, &format!("/{t}/users/lookup?email={}", layout::q(&email)), None).await;
        if a.ok() {
            let id = a.json["id"].as_str().unwrap_or("");
            let options = groups::options(&con, &s, &nav).await?;
            format!(
                "<div class=\"card\" id=\"lookup-result\"><p><strong>{}</strong> {} ({})</p>\
<p class=\"muted\">Add them to a group to give them access to this tenant; then they appear in the list.</p>\
<form method=\"post\" action=\"{}\">{}{}<button type=\"submit\">Add to group</button></form></div>",
                text(&a.json, "username"),
                text(&a.json, "name"),
                text(&a.json, "email"),
                nav.path(&format!("/users/{}/groups", seg(id))),
                nav.csrf_field(),
                layout::select("invite", "group_id", "Group", &options, "", &Errors::default()),
            )
        } else if a.status == StatusCode::NOT_FOUND {
            lookup_errors.field("email", "no user has this exact email");
            String::new()
        } else {
            lookup_errors = Errors::from_api(&a);
            String::new()
        }
    };
    let body = format!(
        "<h1>Users</h1>{done}<p><a href=\"{new}\" id=\"create-user\">Create a user</a></p>\
<form method=\"get\" action=\"{users}\" class=\"toolbar\" role=\"search\">{search}<button type=\"submit\" class=\"secondary\">Search</button></form>\
<table id=\"users\"><thead><tr><th scope=\"col\">Username</th><th scope=\"col\">Name</th><th scope=\"col\">Email</th><th scope=\"col\">Status</th></tr></thead><tbody>{rows}</tbody></table>{next}\
<h2>Find a user of another tenant</h2><form method=\"get\" action=\"{users}\" id=\"lookup-form\">{lsum}{lookup}<button type=\"submit\" class=\"secondary\">Find</button></form>{found}",
        done = layout::done(q.done.as_deref()),
        new = nav.path("/users/new"),
        users = nav.path("/users"),
        search = Field::new("search", "q", "Search users", &search).kind("search").render(&Errors::default()),
        lsum = lookup_errors.summary("lookup"),
        lookup = Field::new("lookup", "email", "Exact email", &email)
            .kind("email")
            .hint("People without access to this tenant are found only by their exact email.")
            .render(&lookup_errors),
    );
    let status = if lookup_errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, &nav, "Users", "users", &body))
}

fn create_form(nav: &Nav, f: Option<&Form>, e: &Errors) -> axum::response::Response {
    let v = |k: &str| f.map(|f| f.text(k)).unwrap_or_default();
    let body = format!(
        "<h1>Create a user</h1><p class=\"muted\">You never set a user's password: the new user must choose one \
at their first sign-in.</p><form method=\"post\" action=\"{}\" id=\"user-form\">{}{}{}{}{}<button type=\"submit\">Create user</button></form>",
        nav.path("/users"),
        nav.csrf_field(),
        e.summary("user"),
        Field::new("user", "username", "Username", &v("username")).required().render(e),
        Field::new("user", "email", "Email", &v("email")).kind("email").render(e),
        Field::new("user", "name", "Full name", &v("name")).render(e),
    );
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    layout::page(status, nav, "Create a user", "users", &body)
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
    let body = json!({ "username": form.text("username"), "email": form.opt("email"), "name": form.opt("name") });
    let a = con.api(&s, Method::POST, &format!("/{}/users", seg(nav.t())), Some(body)).await;
    if !a.ok() {
        return Ok(create_form(&nav, Some(&form), &Errors::from_api(&a)));
    }
    let id = a.json["id"].as_str().unwrap_or_default();
    Ok(Redirect::to(&format!("{}?done=user-created", nav.path(&format!("/users/{}", seg(id))))).into_response())
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    done: Option<String>,
}

enum Failed<'a> {
    None,
    Attach(&'a Form, Errors),
    Bind(&'a Form, Errors),
    Other(Errors),
}

async fn render(con: &Console, s: &AppState, nav: &Nav, id: &str, done: Option<&str>, failed: Failed<'_>) -> Page {
    let t = seg(nav.t());
    let u = con.get(s, &format!("/{t}/users/{}", seg(id))).await?;
    let options = groups::options(con, s, nav).await?;
    let bound = bindings::bindings_of(con, s, nav, Some(("user", id)), "").await?;
    let roles = bindings::role_options(con, s, nav).await?;
    // The service accounts this user created (the API records `created_by`).
    let creator = format!("user:{id}");
    let accounts = con.get(s, &format!("/{t}/service-accounts?limit=200")).await?;
    let created: String = accounts["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["created_by"].as_str() == Some(creator.as_str()))
        .map(|a| {
            format!(
                "<li><a href=\"{}\">{}</a> <span class=\"muted\">{}</span></li>",
                nav.path(&format!("/service-accounts/{}", seg(a["id"].as_str().unwrap_or("")))),
                text(a, "name"),
                text(a, "id")
            )
        })
        .collect();
    let created = if created.is_empty() {
        "<p class=\"muted\">None.</p>".to_string()
    } else {
        format!("<ul id=\"created-accounts\">{created}</ul>")
    };
    let signins = signins(con, s, nav, &creator).await;
    let empty = Form::empty();
    let none = Errors::default();
    let (aform, aerr) = match &failed {
        Failed::Attach(f, e) => (*f, e),
        _ => (&empty, &none),
    };
    let bind = match &failed {
        Failed::Bind(f, e) => BindForm::from(f, Errors { general: e.general.clone(), fields: e.fields.clone() }),
        _ => BindForm::default(),
    };
    let other = match &failed {
        Failed::Other(e) => e.summary("user-page"),
        _ => String::new(),
    };
    let base = nav.path(&format!("/users/{}", seg(id)));
    let body = format!(
        "<h1>User {username}</h1>{done}{other}\
<dl><dt>Username</dt><dd id=\"user-username\">{username}</dd><dt>Name</dt><dd>{name}</dd><dt>Email</dt><dd>{email}</dd>\
<dt>Status</dt><dd id=\"user-status\">{status}</dd><dt>Id</dt><dd>{uid}</dd><dt>Created</dt><dd>{created_at}</dd></dl>\
<h2>Password</h2><p class=\"muted\">Admins never see or set passwords. A change-password request makes the user choose a new one at their next sign-in.</p>{pw}\
<h2>Groups</h2>{groups}<h2>Bindings</h2>{btable}{bform}\
<h2>Service accounts created by this user</h2>{created}<h2>Sign-ins</h2>{signins}",
        username = text(&u, "username"),
        done = layout::done(done),
        name = text(&u, "name"),
        email = text(&u, "email"),
        status = status_of(&u),
        uid = text(&u, "id"),
        created_at = layout::time(&u["created_at"]),
        pw =
            layout::button_form(nav, &format!("{base}/password-change"), "Send a change-password request", "secondary"),
        groups = groups::section(nav, &u, &format!("{base}/groups"), &options, aform, aerr),
        btable = bindings::table(nav, bound["items"].as_array().map(Vec::as_slice).unwrap_or(&[]), false, &base),
        bform = bindings::form(nav, &format!("{base}/bindings"), &roles, &bind, false),
    );
    let status = if matches!(failed, Failed::None) { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, nav, &format!("User {}", u["username"].as_str().unwrap_or("")), "users", &body))
}

/// The user's sign-ins to this tenant's applications in the last 30 days (newest first), if
/// the person may read the audit log.
async fn signins(con: &Console, s: &AppState, nav: &Nav, actor: &str) -> String {
    let from = crate::crypto::now() - 30 * 86_400;
    let mut entries: Vec<Value> = Vec::new();
    for action in ["signin.success", "signin.failure"] {
        let path =
            format!("/{}/audit-logs?actor={}&action={action}&from={from}&limit=200", seg(nav.t()), layout::q(actor));
        let a = con.api(s, Method::GET, &path, None).await;
        if !a.ok() {
            return "<p class=\"muted\">The sign-in history is not available to you.</p>".into();
        }
        entries.extend(a.json["items"].as_array().cloned().unwrap_or_default());
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e["seq"].as_i64().unwrap_or(0)));
    if entries.is_empty() {
        return "<p class=\"muted\">No sign-in to this tenant's applications in the last 30 days.</p>".into();
    }
    let rows: String = entries
        .iter()
        .take(20)
        .map(|e| {
            let ok = e["action"].as_str() == Some("signin.success");
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                layout::time(&e["at"]),
                if ok { "Success" } else { "Failure" },
                esc(e["summary"]["client_id"].as_str().unwrap_or("")),
                text(e, "client_addr")
            )
        })
        .collect();
    format!(
        "<table id=\"signins\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Result</th><th scope=\"col\">Application</th><th scope=\"col\">From</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

async fn show(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    render(&con, &s, &nav, &id, q.done.as_deref(), Failed::None).await
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
    match groups::attach(&con, &s, &nav, "users", &id, &form).await {
        Ok(()) => {
            Ok(Redirect::to(&format!("{}?done=added", nav.path(&format!("/users/{}", seg(&id))))).into_response())
        }
        Err(e) => render(&con, &s, &nav, &id, None, Failed::Attach(&form, e)).await,
    }
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
    match bindings::bind(&con, &s, &nav, "user", &id, &form).await {
        Ok(()) => {
            Ok(Redirect::to(&format!("{}?done=bound", nav.path(&format!("/users/{}", seg(&id))))).into_response())
        }
        Err(e) => render(&con, &s, &nav, &id, None, Failed::Bind(&form, e)).await,
    }
}

async fn password_change(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let path = format!("/{}/users/{}/password-change-request", seg(nav.t()), seg(&id));
    let a = con.api(&s, Method::POST, &path, None).await;
    if !a.ok() {
        return render(&con, &s, &nav, &id, None, Failed::Other(Errors::from_api(&a))).await;
    }
    Ok(Redirect::to(&format!("{}?done=password", nav.path(&format!("/users/{}", seg(&id))))).into_response())
}
