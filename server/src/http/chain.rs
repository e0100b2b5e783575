//! The books anyone can check, over HTTP, with the same `Authorization:
//! Bearer` as GraphQL:
//!
//! - `GET /merchants/{id}/chain.jsonl`: the merchant's hash-chained journal
//!   with its latest signed checkpoint, JSON Lines (`core::chain::export`);
//!   `ledger-server verify-export` checks it offline. A merchant's key
//!   downloads its own; staff and service keys with `ledger:read` any.
//! - `GET /merchants/{id}/checkpoint`: the latest signed checkpoint (a C2SP
//!   signed note, `text/plain`); `POST` signs one now at the chain's head
//!   (same callers).
//! - `GET /.well-known/ledger-checkpoint-keys`: every public key checkpoints
//!   were ever signed with (no credentials).
//! - `GET /journal?format=beancount|hledger[&merchant=ID][&until=RFC3339]`:
//!   the books as a Beancount or hledger journal (`core::journals`), for
//!   staff.
//!
//! Refusals are the API's JSON error body: 401 `UNAUTHENTICATED` (with
//! `WWW-Authenticate: Bearer`), 403 `FORBIDDEN`, 404 `NOT_FOUND` (no such
//! merchant, or another merchant's, which looks the same), 400
//! `BAD_USER_INPUT`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::{AppState, error_response, unauthenticated};
use crate::core::LedgerError;
use crate::core::access::rules::{Access, Caller, Role, Scope};
use crate::domain::MerchantId;

/// Where a merchant's chain export is served.
pub const EXPORT_PATH: &str = "/merchants/{id}/chain.jsonl";
/// Where a merchant's latest checkpoint is served (GET) and signed (POST).
pub const CHECKPOINT_PATH: &str = "/merchants/{id}/checkpoint";
/// Where staff download the books as a journal.
pub const JOURNAL_PATH: &str = "/journal";

/// Who may read a merchant's chain and checkpoints, or ask for one.
const CHAIN_ACCESS: Access = Access::staff(Role::Viewer).and_merchant().and_scope(Scope::LedgerRead);
/// Who may download the whole books as a journal.
const JOURNAL_ACCESS: Access = Access::staff(Role::Viewer);

/// The caller of `headers`, checked against `access`; a merchant key only
/// for its own `merchant`. Errors (as the response): 401, 403, 404, 500.
async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
    merchant: Option<MerchantId>,
) -> Result<Caller, Response> {
    let caller = super::authenticate(state, headers).await?;
    if let Err(e) = access.check(&caller) {
        return Err(match e {
            crate::core::access::AccessError::Unauthenticated => unauthenticated("sign in first"),
            _ => error_response(StatusCode::FORBIDDEN, "FORBIDDEN", "this caller may not do that"),
        });
    }
    if let (Caller::Merchant { merchant: own, .. }, Some(m)) = (&caller, merchant)
        && *own != m
    {
        return Err(not_found());
    }
    Ok(caller)
}

fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such merchant")
}

fn internal() -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error")
}

fn refused(e: &LedgerError) -> Response {
    match e {
        LedgerError::Merchant(crate::core::merchants::MerchantError::NotFound) => not_found(),
        other => {
            tracing::error!(error = %other, "a chain download failed");
            internal()
        }
    }
}

/// The merchant a path or query names; `None` for anything but a UUID.
fn merchant_of(id: &str) -> Option<MerchantId> {
    uuid::Uuid::parse_str(id).ok().map(MerchantId)
}

fn not_a_uuid() -> Response {
    error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "the merchant id is not a UUID")
}

/// `GET /merchants/{id}/chain.jsonl`.
pub async fn export(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(merchant) = merchant_of(&id) else { return not_a_uuid() };
    if let Err(r) = caller(&state, &headers, CHAIN_ACCESS, Some(merchant)).await {
        return r;
    }
    let opened = match crate::core::chain::export::open(state.ledger.db(), state.checkpoints.clone(), merchant).await {
        Ok(o) => o,
        Err(e) => return refused(&e),
    };
    let body = Body::from_stream(opened.lines().map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "a chain export stopped part way");
            std::io::Error::other(e.to_string())
        })
    }));
    let mut response =
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/jsonl; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"chain-{}.jsonl\"", merchant.0)) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

fn note_response(note: Option<String>) -> Response {
    match note {
        Some(n) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], n).into_response(),
        None => error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no checkpoint: the chain is empty"),
    }
}

/// `GET /merchants/{id}/checkpoint`.
pub async fn latest_checkpoint(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(merchant) = merchant_of(&id) else { return not_a_uuid() };
    if let Err(r) = caller(&state, &headers, CHAIN_ACCESS, Some(merchant)).await {
        return r;
    }
    match state.checkpoints.latest(merchant).await {
        Ok(note) => note_response(note),
        Err(e) => refused(&e),
    }
}

/// `POST /merchants/{id}/checkpoint`.
pub async fn sign_checkpoint(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(merchant) = merchant_of(&id) else { return not_a_uuid() };
    if let Err(r) = caller(&state, &headers, CHAIN_ACCESS, Some(merchant)).await {
        return r;
    }
    match state.checkpoints.sign_now(merchant).await {
        Ok(note) => note_response(note),
        Err(e) => refused(&e),
    }
}

/// `GET /.well-known/ledger-checkpoint-keys`: `{"keys": [{"verifier_key",
/// "name", "key_id", "first_used_at", "retired_at"}], "current": …}`.
pub async fn keys(State(state): State<AppState>) -> Response {
    match state.checkpoints.keys().await {
        Ok(keys) => {
            let keys: Vec<serde_json::Value> = keys
                .into_iter()
                .map(|k| {
                    serde_json::json!({
                        "verifier_key": k.verifier_key,
                        "name": k.name,
                        "key_id": k.key_id,
                        "first_used_at": k.first_used_at.to_rfc3339(),
                        "retired_at": k.retired_at.map(|t| t.to_rfc3339()),
                    })
                })
                .collect();
            axum::Json(serde_json::json!({ "keys": keys, "current": state.checkpoints.verifier_key() })).into_response()
        }
        Err(e) => refused(&e),
    }
}

/// The query string of `GET /journal`.
#[derive(serde::Deserialize)]
pub struct JournalQuery {
    format: Option<String>,
    merchant: Option<String>,
    until: Option<String>,
}

/// `GET /journal?format=…`.
pub async fn journal(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<JournalQuery>) -> Response {
    if let Err(r) = caller(&state, &headers, JOURNAL_ACCESS, None).await {
        return r;
    }
    let bad = |m: &str| error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", m);
    let format = match q.format.as_deref() {
        Some("beancount") => crate::core::journals::Format::Beancount,
        Some("hledger") => crate::core::journals::Format::Hledger,
        _ => return bad("give ?format=beancount or ?format=hledger"),
    };
    let merchant = match q.merchant.as_deref() {
        None => None,
        Some(id) => match merchant_of(id) {
            Some(m) => Some(m),
            None => return not_a_uuid(),
        },
    };
    let until = match q.until.as_deref().map(chrono::DateTime::parse_from_rfc3339).transpose() {
        Ok(t) => t.map(|t| t.with_timezone(&chrono::Utc)),
        Err(_) => return bad("until must be an RFC 3339 time"),
    };
    let mut out = Vec::new();
    match crate::core::journals::export_in_snapshot(state.ledger.db(), format, merchant, until, &mut out).await {
        Ok(_) => {
            let (ext, kind) = match format {
                crate::core::journals::Format::Beancount => ("beancount", "text/plain; charset=utf-8"),
                crate::core::journals::Format::Hledger => ("journal", "text/plain; charset=utf-8"),
            };
            let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, kind)], out).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"books.{ext}\"")) {
                response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => refused(&e),
    }
}
