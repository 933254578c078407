//! Groups: the list, creation, and the page of a group with its Members and its Access
//! (bindings), and a change-password request to every member. Also the "Groups" section that
//! the pages of a user and a service account share.

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
use super::layout::{self, Errors, Field, Nav, esc, s as text, seg};
use super::session::{Console, Form};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/groups", get(list).post(create))
        .route("/console/t/{tenant}/groups/new", get(new))
        .route("/console/t/{tenant}/groups/{id}", get(show))
        .route("/console/t/{tenant}/groups/{id}/members", post(add_member))
        .route("/console/t/{tenant}/groups/{id}/bindings", post(bind))
        .route("/console/t/{tenant}/groups/{id}/password-change", post(password_change))
}

/// The tenant's groups as select options.
pub async fn options(
    con: &Console,
    s: &AppState,
    nav: &Nav,
) -> Result<Vec<(String, String)>, axum::response::Response> {
    let groups = con.get(s, &format!("/{}/groups?limit=200", seg(nav.t()))).await?;
    let mut out = vec![(String::new(), "Choose a group".to_string())];
    for g in groups["items"].as_array().into_iter().flatten() {
        let id = g["id"].as_str().unwrap_or_default().to_string();
        out.push((id.clone(), format!("{} ({id})", g["name"].as_str().unwrap_or_default())));
    }
    Ok(out)
}

/// The groups of a member (from its read answer), and the form that attaches it to another.
pub fn section(
    nav: &Nav,
    member: &Value,
    action: &str,
    options: &[(String, String)],
    f: &Form,
    errors: &Errors,
) -> String {
    let groups: String = member["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "<li><a href=\"{}\">{}</a> <span class=\"muted\">{}</span></li>",
                nav.path(&format!("/groups/{}", seg(g["id"].as_str().unwrap_or("")))),
                text(g, "name"),
                text(g, "id")
            )
        })
        .collect();
    let list = if groups.is_empty() {
        "<p class=\"muted\">In no group.</p>".to_string()
    } else {
        format!("<ul id=\"member-groups\">{groups}</ul>")
    };
    format!(
        "{list}<form method=\"post\" action=\"{}\" id=\"attach-form\">{}{}{}<button type=\"submit\">Add to group</button></form>",
        esc(action),
        nav.csrf_field(),
        errors.summary("attach"),
        layout::select("attach", "group_id", "Group", options, f.get("group_id").unwrap_or(""), errors),
    )
}

/// Attaches a member to the group chosen in the form (`kind_path`: `users` or
/// `service-accounts`), through the API.
pub async fn attach(
    con: &Console,
    s: &AppState,
    nav: &Nav,
    kind_path: &str,
    id: &str,
    form: &Form,
) -> Result<(), Errors> {
    let group = form.text("group_id");
    if group.is_empty() {
        let mut e = Errors::default();
        e.field("group_id", "choose a group");
        return Err(e);
    }
    let path = format!("/{}/{kind_path}/{}/groups/{}", seg(nav.t()), seg(id), seg(&group));
    let a = con.api(s, Method::PUT, &path, None).await;
    if a.ok() { Ok(()) } else { Err(Errors::from_api(&a)) }
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
    if let Some(v) = q.q.as_deref().filter(|v| !v.is_empty()) {
        query.push_str(&format!("&q={}", layout::q(v)));
    }
    if let Some(a) = &q.after {
        query.push_str(&format!("&after={}", layout::q(a)));
    }
    let list = con.get(&s, &format!("/{}/groups?{query}", seg(nav.t()))).await?;
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                nav.path(&format!("/groups/{}", seg(g["id"].as_str().unwrap_or("")))),
                text(g, "id"),
                text(g, "name"),
                text(g, "description")
            )
        })
        .collect();
    let next = list["next"]
        .as_str()
        .map(|n| {
            format!(
                "<p><a href=\"{}?q={}&amp;after={}\" rel=\"next\">Next page</a></p>",
                nav.path("/groups"),
                layout::q(q.q.as_deref().unwrap_or("")),
                layout::q(n)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Groups</h1>{}<p><a href=\"{}\" id=\"create-group\">Create a group</a></p>\
<form method=\"get\" action=\"{}\" class=\"toolbar\" role=\"search\">{}<button type=\"submit\" class=\"secondary\">Search</button></form>\
<table id=\"groups\"><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Description</th></tr></thead><tbody>{rows}</tbody></table>{next}",
        layout::done(q.done.as_deref()),
        nav.path("/groups/new"),
        nav.path("/groups"),
        Field::new("search", "q", "Search groups", q.q.as_deref().unwrap_or(""))
            .kind("search")
            .render(&Errors::default()),
    );
    Ok(layout::page(StatusCode::OK, &nav, "Groups", "groups", &body))
}

fn create_form(nav: &Nav, f: Option<&Form>, e: &Errors) -> axum::response::Response {
    let v = |k: &str| f.map(|f| f.text(k)).unwrap_or_default();
    let body = format!(
        "<h1>Create a group</h1><form method=\"post\" action=\"{}\" id=\"group-form\">{}{}{}{}{}<button type=\"submit\">Create group</button></form>",
        nav.path("/groups"),
        nav.csrf_field(),
        e.summary("group"),
        Field::new("group", "id", "Id", &v("id"))
            .hint("Letters, digits, '_', '.' or '-'; leave empty for a generated id.")
            .render(e),
        Field::new("group", "name", "Name", &v("name")).required().render(e),
        Field::new("group", "description", "Description", &v("description")).kind("textarea").render(e),
    );
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    layout::page(status, nav, "Create a group", "groups", &body)
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
    let mut errors = Errors::default();
    if form.text("name").is_empty() {
        errors.field("name", "give the group a name");
        return Ok(create_form(&nav, Some(&form), &errors));
    }
    let body = json!({ "id": form.opt("id"), "name": form.text("name"), "description": form.opt("description") });
    let a = con.api(&s, Method::POST, &format!("/{}/groups", seg(nav.t())), Some(body)).await;
    if !a.ok() {
        return Ok(create_form(&nav, Some(&form), &Errors::from_api(&a)));
    }
    let id = a.json["id"].as_str().unwrap_or_default();
    Ok(Redirect::to(&format!("{}?done=created", nav.path(&format!("/groups/{}", seg(id))))).into_response())
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    done: Option<String>,
}

/// Which form of the page failed, to show its errors and values.
enum Failed<'a> {
    None,
    Member(&'a Form, Errors),
    Bind(&'a Form, Errors),
    Other(Errors),
}

async fn render(con: &Console, s: &AppState, nav: &Nav, id: &str, done: Option<&str>, failed: Failed<'_>) -> Page {
    let t = seg(nav.t());
    let g = con.get(s, &format!("/{t}/groups/{}", seg(id))).await?;
    let members = con.get(s, &format!("/{t}/groups/{}/members?limit=200", seg(id))).await?;
    let mut rows = String::new();
    for m in members["items"].as_array().into_iter().flatten() {
        let kind = m["kind"].as_str().unwrap_or("");
        let mid = m["id"].as_str().unwrap_or("");
        let (path, label) = if kind == "user" {
            let u = con.api(s, Method::GET, &format!("/{t}/users/{}", seg(mid)), None).await;
            let name =
                if u.ok() { format!("{} {}", text(&u.json, "username"), text(&u.json, "email")) } else { esc(mid) };
            ("users", name)
        } else {
            ("service-accounts", esc(mid))
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"{}\">{label}</a></td><td>{}</td></tr>",
            esc(&kind.replace('_', " ")),
            nav.path(&format!("/{path}/{}", seg(mid))),
            layout::time(&m["created_at"])
        ));
    }
    let bindings = bindings::bindings_of(con, s, nav, Some(("group", id)), "").await?;
    let roles = bindings::role_options(con, s, nav).await?;
    let empty = Form::empty();
    let none = Errors::default();
    let (mform, merr) = match &failed {
        Failed::Member(f, e) => (*f, e),
        _ => (&empty, &none),
    };
    let bind = match &failed {
        Failed::Bind(f, e) => BindForm::from(f, Errors { general: e.general.clone(), fields: e.fields.clone() }),
        _ => BindForm::default(),
    };
    let other = match &failed {
        Failed::Other(e) => e.summary("group-page"),
        _ => String::new(),
    };
    let kinds =
        [("user".to_string(), "User".to_string()), ("service_account".to_string(), "Service account".to_string())];
    let base = nav.path(&format!("/groups/{}", seg(id)));
    let body = format!(
        "<h1>Group {name}</h1>{done}{other}<p class=\"tabs\"><a href=\"#members\">Members</a><a href=\"#access\">Access</a></p>\
<dl><dt>Id</dt><dd id=\"group-id\">{gid}</dd><dt>Description</dt><dd>{desc}</dd><dt>Created</dt><dd>{created}</dd></dl>\
<section id=\"members\" aria-labelledby=\"members-h\"><h2 id=\"members-h\">Members</h2>\
<table id=\"group-members\"><thead><tr><th scope=\"col\">Kind</th><th scope=\"col\">Member</th><th scope=\"col\">Since</th></tr></thead><tbody>{rows}</tbody></table>\
<form method=\"post\" action=\"{base}/members\" id=\"member-form\">{csrf}{msum}{kind}{member}<button type=\"submit\">Add member</button></form>\
<h3>Passwords</h3><p class=\"muted\">Ask every user of this group to choose a new password at their next sign-in.</p>{pw}</section>\
<section id=\"access\" aria-labelledby=\"access-h\"><h2 id=\"access-h\">Access</h2>{btable}{bform}</section>",
        name = text(&g, "name"),
        done = layout::done(done),
        gid = text(&g, "id"),
        desc = text(&g, "description"),
        created = layout::time(&g["created_at"]),
        csrf = nav.csrf_field(),
        msum = merr.summary("member"),
        kind = layout::select("member", "kind", "Kind", &kinds, mform.get("kind").unwrap_or("user"), merr),
        member = Field::new("member", "member", "User or service account", &mform.text("member"))
            .hint("A user's exact email or id, or a service account's id. Adding someone from another tenant invites them here.")
            .required()
            .render(merr),
        pw = layout::button_form(nav, &format!("{base}/password-change"), "Send a change-password request to all members", "secondary"),
        btable = bindings::table(nav, bindings["items"].as_array().map(Vec::as_slice).unwrap_or(&[]), false, &base),
        bform = bindings::form(nav, &format!("{base}/bindings"), &roles, &bind, false),
    );
    let status = if matches!(failed, Failed::None) { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, nav, &format!("Group {}", g["name"].as_str().unwrap_or("")), "groups", &body))
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

async fn add_member(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let kind = form.text("kind");
    let who = form.text("member");
    let member = match kind.as_str() {
        "user" => bindings::user_id_of(&con, &s, &nav, "member", &who).await,
        "service_account" if !who.is_empty() => Ok(who),
        "service_account" => {
            let mut e = Errors::default();
            e.field("member", "give the service account's id");
            Err(e)
        }
        _ => {
            let mut e = Errors::default();
            e.field("kind", "choose user or service account");
            Err(e)
        }
    };
    let result = match member {
        Ok(m) => {
            let body = json!({ "kind": kind, "id": m });
            let a =
                con.api(&s, Method::POST, &format!("/{}/groups/{}/members", seg(nav.t()), seg(&id)), Some(body)).await;
            if a.ok() {
                Ok(())
            } else {
                let mut e = Errors::from_api(&a);
                for (f, _) in e.fields.iter_mut() {
                    if f == "id" {
                        *f = "member".into();
                    }
                }
                Err(e)
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            Ok(Redirect::to(&format!("{}?done=added#members", nav.path(&format!("/groups/{}", seg(&id)))))
                .into_response())
        }
        Err(e) => render(&con, &s, &nav, &id, None, Failed::Member(&form, e)).await,
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
    match bindings::bind(&con, &s, &nav, "group", &id, &form).await {
        Ok(()) => {
            Ok(Redirect::to(&format!("{}?done=bound#access", nav.path(&format!("/groups/{}", seg(&id)))))
                .into_response())
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
    let path = format!("/{}/groups/{}/password-change-request", seg(nav.t()), seg(&id));
    let a = con.api(&s, Method::POST, &path, None).await;
    if !a.ok() {
        return render(&con, &s, &nav, &id, None, Failed::Other(Errors::from_api(&a))).await;
    }
    Ok(Redirect::to(&format!("{}?done=password", nav.path(&format!("/groups/{}", seg(&id))))).into_response())
}
