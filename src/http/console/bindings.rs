//! Bindings: roles bound to users, groups and service accounts, for the whole tenant or for
//! namespaces. The list across all principals, and the binding form that the pages of a
//! user, a group and a service account share.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Page;
use super::layout::{self, Errors, Field, Nav, esc, seg};
use super::session::{Console, Form};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/bindings", get(list).post(create))
        .route("/console/t/{tenant}/bindings/{id}/delete", post(remove))
}

/// What a person typed in a binding form, and what was wrong with it.
#[derive(Default)]
pub struct BindForm {
    pub role_id: String,
    pub namespaces: String,
    pub principal_kind: String,
    pub principal: String,
    pub errors: Errors,
}

impl BindForm {
    pub fn from(form: &Form, errors: Errors) -> Self {
        BindForm {
            role_id: form.text("role_id"),
            namespaces: form.text("namespaces"),
            principal_kind: form.text("principal_kind"),
            principal: form.text("principal"),
            errors,
        }
    }
}

/// The tenant's roles as select options.
pub async fn role_options(
    con: &Console,
    s: &AppState,
    nav: &Nav,
) -> Result<Vec<(String, String)>, axum::response::Response> {
    let roles = con.get(s, &format!("/{}/roles?limit=200", seg(nav.t()))).await?;
    let mut out = vec![(String::new(), "Choose a role".to_string())];
    for r in roles["items"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        out.push((id.clone(), format!("{} ({id})", r["name"].as_str().unwrap_or_default())));
    }
    Ok(out)
}

/// The bindings of one principal (or all, with `None`).
pub async fn bindings_of(
    con: &Console,
    s: &AppState,
    nav: &Nav,
    principal: Option<(&str, &str)>,
    extra: &str,
) -> Result<Value, axum::response::Response> {
    let filter = principal
        .map(|(k, id)| format!("&principal_kind={}&principal_id={}", layout::q(k), layout::q(id)))
        .unwrap_or_default();
    con.get(s, &format!("/{}/bindings?limit=100{filter}{extra}", seg(nav.t()))).await
}

fn principal_link(nav: &Nav, kind: &str, id: &str) -> String {
    let path = match kind {
        "user" => "users",
        "group" => "groups",
        _ => "service-accounts",
    };
    format!(
        "<a href=\"{}\">{} {}</a>",
        nav.path(&format!("/{path}/{}", seg(id))),
        esc(&kind.replace('_', " ")),
        esc(id)
    )
}

/// A table of bindings, each with a button that deletes it and comes back to `back`.
pub fn table(nav: &Nav, items: &[Value], show_principal: bool, back: &str) -> String {
    if items.is_empty() {
        return "<p class=\"muted\">No bindings.</p>".into();
    }
    let head = if show_principal { "<th scope=\"col\">Principal</th>" } else { "" };
    let rows: String = items
        .iter()
        .map(|b| {
            let ns: Vec<&str> = b["namespaces"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let scope = if ns.is_empty() { "Whole tenant".to_string() } else { esc(&ns.join(", ")) };
            let principal = if show_principal {
                format!(
                    "<td>{}</td>",
                    principal_link(nav, b["principal_kind"].as_str().unwrap_or(""), b["principal_id"].as_str().unwrap_or(""))
                )
            } else {
                String::new()
            };
            let role = b["role_id"].as_str().unwrap_or("");
            let delete = format!(
                "<form method=\"post\" action=\"{}\" class=\"inline\">{}<input type=\"hidden\" name=\"back\" value=\"{}\">\
<button type=\"submit\" class=\"danger\" aria-label=\"Delete the binding of {} on {}\">Delete</button></form>",
                nav.path(&format!("/bindings/{}/delete", seg(b["id"].as_str().unwrap_or("")))),
                nav.csrf_field(),
                esc(back),
                esc(role),
                scope,
            );
            format!(
                "<tr>{principal}<td><a href=\"{}\">{}</a></td><td>{scope}</td><td>{delete}</td></tr>",
                nav.path(&format!("/roles/{}", seg(role))),
                esc(role)
            )
        })
        .collect();
    format!(
        "<table><thead><tr>{head}<th scope=\"col\">Role</th><th scope=\"col\">Namespaces</th><th scope=\"col\"><span class=\"muted\">Actions</span></th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

/// The form that binds a role (to the page's principal, or to one chosen in the form).
pub fn form(nav: &Nav, action: &str, roles: &[(String, String)], f: &BindForm, with_principal: bool) -> String {
    let e = &f.errors;
    let principal = if with_principal {
        let kinds = [
            ("user".to_string(), "User".to_string()),
            ("group".to_string(), "Group".to_string()),
            ("service_account".to_string(), "Service account".to_string()),
        ];
        format!(
            "{}{}",
            layout::select("bind", "principal_kind", "Bind to", &kinds, &f.principal_kind, e),
            Field::new("bind", "principal", "Who", &f.principal)
                .hint("The id of the user, group or service account, or a user's exact email.")
                .required()
                .render(e)
        )
    } else {
        String::new()
    };
    format!(
        "<form method=\"post\" action=\"{}\" id=\"bind-form\">{}{}{principal}{}{}\
<button type=\"submit\">Bind role</button></form>",
        esc(action),
        nav.csrf_field(),
        e.summary("bind"),
        layout::select("bind", "role_id", "Role", roles, &f.role_id, e),
        Field::new("bind", "namespaces", "Namespaces", &f.namespaces)
            .hint("Leave empty for the whole tenant, or list namespaces separated by commas (prod covers prod.engineering).")
            .render(e),
    )
}

/// Binds the role chosen in `form` to a principal through the API.
pub async fn bind(con: &Console, s: &AppState, nav: &Nav, kind: &str, id: &str, form: &Form) -> Result<(), Errors> {
    let role = form.text("role_id");
    let mut errors = Errors::default();
    if role.is_empty() {
        errors.field("role_id", "choose a role");
        return Err(errors);
    }
    let namespaces: Vec<&str> =
        form.get("namespaces").unwrap_or("").split([',', ' ', '\n', '\r', '\t']).filter(|n| !n.is_empty()).collect();
    let body = json!({ "role_id": role, "principal_kind": kind, "principal_id": id, "namespaces": namespaces });
    let a = con.api(s, Method::POST, &format!("/{}/bindings", seg(nav.t())), Some(body)).await;
    if a.ok() {
        Ok(())
    } else {
        let mut e = Errors::from_api(&a);
        // The API names the principal `principal_id`; the form's field is `principal`.
        for (f, _) in e.fields.iter_mut() {
            if f == "principal_id" {
                *f = "principal".into();
            }
        }
        Err(e)
    }
}

/// A user named by id or exact email: the id (looked up by email through the API).
pub async fn user_id_of(con: &Console, s: &AppState, nav: &Nav, field: &str, text: &str) -> Result<String, Errors> {
    let mut e = Errors::default();
    if text.is_empty() {
        e.field(field, "give an id or an exact email");
        return Err(e);
    }
    if !text.contains('@') {
        return Ok(text.to_string());
    }
    let a = con.api(s, Method::GET, &format!("/{}/users/lookup?email={}", seg(nav.t()), layout::q(text)), None).await;
    if a.ok() {
        return Ok(a.json["id"].as_str().unwrap_or_default().to_string());
    }
    e.field(
        field,
        if a.status == StatusCode::NOT_FOUND {
            "no user has this exact email"
        } else {
            "this email cannot be looked up"
        },
    );
    Err(e)
}

#[derive(Deserialize, Default)]
struct ListQuery {
    principal_kind: Option<String>,
    principal_id: Option<String>,
    role_id: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

async fn render(con: &Console, s: &AppState, nav: &Nav, q: &ListQuery, f: &BindForm) -> Page {
    let kind = q.principal_kind.as_deref().filter(|k| !k.is_empty());
    let id = q.principal_id.as_deref().filter(|k| !k.is_empty());
    let mut extra = String::new();
    if let Some(r) = q.role_id.as_deref().filter(|r| !r.is_empty()) {
        extra.push_str(&format!("&role_id={}", layout::q(r)));
    }
    if let Some(a) = &q.after {
        extra.push_str(&format!("&after={}", layout::q(a)));
    }
    let principal = match (kind, id) {
        (Some(k), Some(i)) => Some((k, i)),
        _ => None,
    };
    let list = bindings_of(con, s, nav, principal, &extra).await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let roles = role_options(con, s, nav).await?;
    let next = list["next"]
        .as_str()
        .map(|n| {
            format!("<p><a href=\"{}?after={}\" rel=\"next\">Next page</a></p>", nav.path("/bindings"), layout::q(n))
        })
        .unwrap_or_default();
    let kinds = [
        (String::new(), "Any".to_string()),
        ("user".to_string(), "User".to_string()),
        ("group".to_string(), "Group".to_string()),
        ("service_account".to_string(), "Service account".to_string()),
    ];
    let none = Errors::default();
    let filter = format!(
        "<form method=\"get\" action=\"{}\" class=\"toolbar\" aria-label=\"Filter bindings\">{}{}{}<button type=\"submit\" class=\"secondary\">Filter</button></form>",
        nav.path("/bindings"),
        layout::select("filter", "principal_kind", "Principal kind", &kinds, kind.unwrap_or(""), &none),
        Field::new("filter", "principal_id", "Principal id", id.unwrap_or("")).render(&none),
        Field::new("filter", "role_id", "Role id", q.role_id.as_deref().unwrap_or("")).render(&none),
    );
    let body = format!(
        "<h1>Bindings</h1>{}<p class=\"muted\">Roles bound to users, groups and service accounts, for the whole tenant or for namespaces.</p>\
{filter}{}{next}<h2>Bind a role</h2>{}",
        layout::done(q.done.as_deref()),
        table(nav, &items, true, &nav.path("/bindings")),
        form(nav, &nav.path("/bindings"), &roles, f, true),
    );
    let status = if f.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, nav, "Bindings", "bindings", &body))
}

async fn list(State(s): State<AppState>, con: Console, Path(tenant): Path<String>, Query(q): Query<ListQuery>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    render(&con, &s, &nav, &q, &BindForm { principal_kind: "user".into(), ..Default::default() }).await
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
    let kind = form.text("principal_kind");
    let result = if !["user", "group", "service_account"].contains(&kind.as_str()) {
        let mut e = Errors::default();
        e.field("principal_kind", "choose user, group or service account");
        Err(e)
    } else {
        let who = form.text("principal");
        let id = if kind == "user" {
            user_id_of(&con, &s, &nav, "principal", &who).await
        } else if who.is_empty() {
            let mut e = Errors::default();
            e.field("principal", "give the id");
            Err(e)
        } else {
            Ok(who)
        };
        match id {
            Ok(id) => bind(&con, &s, &nav, &kind, &id, &form).await,
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("{}?done=bound", nav.path("/bindings"))).into_response()),
        Err(errors) => render(&con, &s, &nav, &ListQuery::default(), &BindForm::from(&form, errors)).await,
    }
}

/// Deletes a binding, then goes back to the page the button was on (a page of this tenant).
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
    let a = con.api(&s, Method::DELETE, &format!("/{}/bindings/{}", seg(nav.t()), seg(&id)), None).await;
    if !a.ok() {
        return Err(layout::api_error_page(&a));
    }
    let prefix = nav.path("/");
    let back = form.text("back");
    let back = if back.starts_with(&prefix) && !back.contains("..") && !back.contains('?') {
        back
    } else {
        nav.path("/bindings")
    };
    Ok(Redirect::to(&format!("{back}?done=deleted")).into_response())
}
