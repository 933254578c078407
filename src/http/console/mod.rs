//! The administration console at `/console`: server-rendered pages over the admin API.
//!
//! The console is a built-in OIDC client of Tessera (`tessera-console`, public, PKCE S256,
//! instance-wide so that every person with access to some tenant can sign in, redirect URI
//! `{issuer}/console/callback`, audience `{issuer}/api`), registered on first use. It keeps the
//! resulting access and refresh tokens server-side in the state backend, under the SHA-256 of
//! an HttpOnly, SameSite=Lax console cookie; every form carries the session's anti-CSRF token.
//! Every read and change goes through the admin API in process (the admin router driven with
//! `oneshot`, with the person's Bearer token), so the API's authorization is the one
//! authority; its problem JSON becomes the messages shown next to the form fields.

// A console handler's error is the page to show (a sign-in redirect, an error page): it is
// returned once per request, so its size does not matter and boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod audit;
mod bindings;
mod groups;
mod identity_providers;
mod layout;
mod roles;
mod service_accounts;
mod session;
mod tenants;
mod users;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
pub use session::{CONSOLE_CLIENT_ID, Console};

/// What a console handler answers: a page, or a page that stops it (sign-in, error).
type Page = Result<Response, Response>;

/// The console, to be merged into the application (its paths start with `/console`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/switch", get(switch))
        .route("/console/t/{tenant}", get(tenant_home))
        .route("/console/static/console.css", get(|| async { layout::asset("text/css", layout::CSS) }))
        .route("/console/static/console.js", get(|| async { layout::asset("text/javascript", layout::JS) }))
        .merge(session::router())
        .merge(users::router())
        .merge(groups::router())
        .merge(roles::router())
        .merge(service_accounts::router())
        .merge(bindings::router())
        .merge(identity_providers::router())
        .merge(tenants::router())
        .merge(audit::router())
}

/// `/console`: the first tenant the person administers, else their home page.
async fn home(State(s): State<AppState>, con: Console) -> Page {
    let nav = con.nav(&s, None).await?;
    if let Some(t) = con.first_admin_tenant(&s, &nav).await? {
        return Ok(Redirect::to(&format!("/console/t/{}/users", layout::seg(&t))).into_response());
    }
    Ok(layout::welcome(&nav))
}

async fn tenant_home(State(s): State<AppState>, con: Console, Path(tenant): Path<String>) -> Page {
    let nav = con.nav(&s, Some(&tenant)).await?;
    if nav.admin {
        return Ok(Redirect::to(&format!("/console/t/{}/users", layout::seg(&tenant))).into_response());
    }
    Ok(layout::welcome(&nav))
}

#[derive(Deserialize)]
struct Switch {
    tenant: String,
}

/// The tenant switcher (a plain GET form, so it works without JavaScript).
async fn switch(_con: Console, Query(q): Query<Switch>) -> Response {
    Redirect::to(&format!("/console/t/{}", layout::seg(&q.tenant))).into_response()
}
