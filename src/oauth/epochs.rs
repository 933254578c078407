//! Binding epochs for services (`GET /binding-epochs?since=`): which principals of the
//! calling client's tenant had their effective bindings changed after `since`, so a service
//! can refuse tokens whose `ep` claim is older before they expire. Client-authenticated, cheap
//! (one indexed query), paged by time.

use serde_json::{Value, json};

use super::client_auth::{self, ClientCredentials};
use super::{OAuthError, OAuthResult, Provider};

pub const MAX_PAGE: u32 = 1000;

pub async fn changed_since(p: &Provider, creds: &ClientCredentials, since: Option<&str>) -> OAuthResult<Value> {
    let client = client_auth::authenticate(p, creds, crate::crypto::now()).await?;
    let since: i64 = match since {
        None => 0,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n: &i64| *n >= 0)
            .ok_or_else(|| OAuthError::invalid_request("since must be unix seconds"))?,
    };
    let rows = p.stores.epochs.changed_since(&client.tenant_id, since, MAX_PAGE).await?;
    let next = rows.last().map(|r| r.changed_at).unwrap_or(since);
    let changes: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "kind": r.principal_kind.as_str(), "id": r.principal_id, "ep": r.epoch, "changed_at": r.changed_at }))
        .collect();
    Ok(json!({ "tnt": client.tenant_id, "since": since, "next_since": next, "changes": changes }))
}
