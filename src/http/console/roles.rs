//! Roles: the list, and creating and editing a role with the matrix of the 15 permissions x
//! CREATE, READ, UPDATE, DELETE. Built-in roles are shown, not editable.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Page;
use super::layout::{self, Errors, Field, Nav, esc, s as text, seg};
use super::session::{Console, Form};
use crate::http::AppState;
use crate::rbac::{Action, Permission};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/roles", get(list).post(create))
        .route("/console/t/{tenant}/roles/new", get(new))
        .route("/console/t/{tenant}/roles/{id}", get(show).post(update))
}

/// The matrix: one row per permission, one checkbox per action, each with its own label.
fn matrix(checked: &[String], disabled: bool, errors: &Errors) -> String {
    let head: String = Action::ALL.iter().map(|a| format!("<th scope=\"col\">{}</th>", a.as_str())).collect();
    let rows: String = Permission::ALL
        .iter()
        .map(|p| {
            let cells: String = Action::ALL
                .iter()
                .map(|a| {
                    let value = format!("{}:{}", p.as_str(), a.as_str());
                    let on = if checked.contains(&value) { " checked" } else { "" };
                    let off = if disabled { " disabled" } else { "" };
                    format!(
                        "<td><input type=\"checkbox\" name=\"perm\" value=\"{value}\" id=\"perm-{value}\" aria-label=\"{} {}\"{on}{off}></td>",
                        p.as_str(),
                        a.as_str()
                    )
                })
                .collect();
            format!("<tr><th scope=\"row\">{}</th>{cells}</tr>", p.as_str())
        })
        .collect();
    let error = errors
        .of("permissions")
        .map(|m| format!("<p class=\"field-error\" id=\"role-permissions-err\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<fieldset><legend>Permissions</legend>{error}<table class=\"matrix\" id=\"permission-matrix\"><thead><tr><th scope=\"col\">Permission</th>{head}</tr></thead><tbody>{rows}</tbody></table></fieldset>"
    )
}

fn perms_of(v: &Value) -> Vec<String> {
    v["permissions"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(str::to_string)).collect()
}

async fn list(State(s): State<AppState>, con: Console, Path(tenant): Path<String>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let list = con.get(&s, &format!("/{}/roles?limit=200", seg(nav.t()))).await?;
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                nav.path(&format!("/roles/{}", seg(r["id"].as_str().unwrap_or("")))),
                text(r, "id"),
                text(r, "name"),
                perms_of(r).len(),
                if r["builtin"].as_bool() == Some(true) { "Built-in" } else { "" }
            )
        })
        .collect();
    let body = format!(
        "<h1>Roles</h1><p><a href=\"{}\" id=\"create-role\">Create a role</a></p>\
<table id=\"roles\"><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Permissions</th><th scope=\"col\">Kind</th></tr></thead><tbody>{rows}</tbody></table>",
        nav.path("/roles/new")
    );
    Ok(layout::page(StatusCode::OK, &nav, "Roles", "roles", &body))
}

fn role_form(nav: &Nav, role: Option<&Value>, f: Option<&Form>, e: &Errors, notice: &str) -> Response {
    let builtin = role.is_some_and(|r| r["builtin"].as_bool() == Some(true));
    let v = |k: &str| match (f, role) {
        (Some(f), _) => f.text(k),
        (None, Some(r)) => r[k].as_str().unwrap_or("").to_string(),
        _ => String::new(),
    };
    let checked: Vec<String> = match (f, role) {
        (Some(f), _) => f.all("perm").into_iter().map(str::to_string).collect(),
        (None, Some(r)) => perms_of(r),
        _ => vec![],
    };
    let (title, action, id_field, button) = match role {
        Some(r) => (
            format!("Role {}", r["name"].as_str().unwrap_or("")),
            nav.path(&format!("/roles/{}", seg(r["id"].as_str().unwrap_or("")))),
            format!("<dl><dt>Id</dt><dd id=\"role-id\">{}</dd></dl>", text(r, "id")),
            "Save role",
        ),
        None => (
            "Create a role".to_string(),
            nav.path("/roles"),
            Field::new("role", "id", "Id", &v("id"))
                .hint("Letters, digits, '_', '.' or '-'; leave empty for a generated id.")
                .render(e),
            "Create role",
        ),
    };
    let fields = if builtin {
        format!(
            "<p class=\"muted\">This built-in role cannot be changed.</p><dl><dt>Name</dt><dd>{}</dd></dl>{}",
            esc(&v("name")),
            matrix(&checked, true, e)
        )
    } else {
        format!(
            "<form method=\"post\" action=\"{action}\" id=\"role-form\">{}{}{id_field}{}{}{}<button type=\"submit\">{button}</button></form>",
            nav.csrf_field(),
            e.summary("role"),
            Field::new("role", "name", "Name", &v("name")).required().render(e),
            Field::new("role", "description", "Description", &v("description")).kind("textarea").render(e),
            matrix(&checked, false, e),
        )
    };
    let body = format!("<h1>{}</h1>{notice}{fields}", esc(&title));
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    layout::page(status, nav, &title, "roles", &body)
}

async fn new(State(s): State<AppState>, con: Console, Path(tenant): Path<String>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    Ok(role_form(&nav, None, None, &Errors::default(), ""))
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
    let body = json!({
        "id": form.opt("id"),
        "name": form.text("name"),
        "description": form.opt("description"),
        "permissions": form.all("perm"),
    });
    let a = con.api(&s, Method::POST, &format!("/{}/roles", seg(nav.t())), Some(body)).await;
    if !a.ok() {
        return Ok(role_form(&nav, None, Some(&form), &Errors::from_api(&a), ""));
    }
    let id = a.json["id"].as_str().unwrap_or_default();
    Ok(Redirect::to(&format!("{}?done=created", nav.path(&format!("/roles/{}", seg(id))))).into_response())
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    done: Option<String>,
}

async fn show(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let role = con.get(&s, &format!("/{}/roles/{}", seg(nav.t()), seg(&id))).await?;
    Ok(role_form(&nav, Some(&role), None, &Errors::default(), &layout::done(q.done.as_deref())))
}

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
    let path = format!("/{}/roles/{}", seg(nav.t()), seg(&id));
    let role = con.get(&s, &path).await?;
    let body = json!({
        "name": form.text("name"),
        "description": form.get("description").unwrap_or("").trim(),
        "permissions": form.all("perm"),
    });
    let a = con.api(&s, Method::PATCH, &path, Some(body)).await;
    if !a.ok() {
        return Ok(role_form(&nav, Some(&role), Some(&form), &Errors::from_api(&a), ""));
    }
    Ok(Redirect::to(&format!("{}?done=saved", nav.path(&format!("/roles/{}", seg(&id))))).into_response())
}
