//! GraphQL subscriptions over WebSocket at `/graphql/ws`.
//!
//! Both protocols are served, chosen by `Sec-WebSocket-Protocol`:
//! `graphql-transport-ws` (the GraphQL over WebSocket RFC, npm `graphql-ws`) and
//! the legacy `graphql-ws` of Apollo's `subscriptions-transport-ws`, for old
//! clients. Only subscriptions run here; queries and mutations use HTTP, where
//! the rate limits and the per-request transaction apply (a query or mutation
//! sent here is refused with `SUBSCRIPTIONS_ONLY`).
//!
//! The client authenticates in `connection_init` with the same API keys and
//! staff sessions as HTTP: payload `{"Authorization": "Bearer <token>"}`
//! (`authorization` also accepted), or the upgrade request's `Authorization`
//! header. A connection that does not authenticate within
//! [`CONNECTION_INIT_TIMEOUT`] is closed. Limits: connections per key or
//! session ([`DEFAULT_CONNECTIONS_PER_KEY`]) and subscriptions per connection
//! ([`DEFAULT_SUBSCRIPTIONS_PER_CONNECTION`]), both configurable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::AppState;
use crate::core::access::rules::Caller;
use crate::graphql::context::RequestContext;
use crate::graphql::error::coded;
use crate::graphql::subscription::SubscriptionSlots;

/// Default open connections per API key or staff session: a front-end app
/// needs one per browser tab; 16 leaves room without letting one leaked key
/// hold thousands of sockets.
pub const DEFAULT_CONNECTIONS_PER_KEY: usize = 16;

/// Default subscriptions per connection: a balance and a transaction feed per
/// asset of a busy dashboard fit well within 32.
pub const DEFAULT_SUBSCRIPTIONS_PER_CONNECTION: usize = 32;

/// How long a new connection may take to send an authenticated
/// `connection_init` (the RFC's `connectionInitWaitTimeout`, 10 s in `graphql-ws`).
pub const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks a request as running over a WebSocket connection (in the connection's
/// data), so the schema refuses anything but subscriptions there.
#[derive(Debug, Clone, Copy)]
pub struct OverWebSocket;

/// Open WebSocket connections per caller key, bounded.
#[derive(Debug)]
pub struct ConnectionLimits {
    per_key: usize,
    per_connection: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One held connection slot, released when the connection closes (it lives in
/// the connection's data).
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    key: String,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.limits.open.lock()
            && let Some(n) = open.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl ConnectionLimits {
    /// Limits of `per_key` connections per key and `per_connection`
    /// subscriptions per connection.
    pub fn new(per_key: usize, per_connection: usize) -> Arc<Self> {
        Arc::new(Self { per_key, per_connection, open: Mutex::new(HashMap::new()) })
    }

    /// Takes a connection slot for `key` (a token hash); `None` when the key
    /// already has its limit open.
    fn acquire(self: &Arc<Self>, key: String) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.per_key {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot { limits: self.clone(), key })
    }
}

/// `GET /graphql/ws`: upgrades to a GraphQL WebSocket connection. A request
/// without a supported `Sec-WebSocket-Protocol` gets 400.
pub async fn graphql_ws(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header_token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let state_stop = state.shutting_down.clone();
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| async move {
        let initialised = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = initialised.clone();
        let schema = state.schema.clone();
        let serve = GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| async move {
                let data = connection_init(&state, &payload, header_token, request_id).await?;
                flag.store(true, std::sync::atomic::Ordering::Release);
                Ok(data)
            })
            .serve();
        let deadline = async {
            tokio::time::sleep(CONNECTION_INIT_TIMEOUT).await;
            if initialised.load(std::sync::atomic::Ordering::Acquire) {
                std::future::pending::<()>().await;
            }
        };
        let mut shutting_down = state_stop;
        tokio::select! {
            () = serve => {}
            () = deadline => tracing::debug!("websocket closed: no connection_init in time"),
            _ = shutting_down.wait_for(|stop| *stop) => tracing::debug!("websocket closed: server shutting down"),
        }
    })
}

/// The bearer token of a `connection_init` payload, if any.
fn payload_token(payload: &serde_json::Value) -> Option<String> {
    ["Authorization", "authorization"].iter().find_map(|k| payload.get(*k)).and_then(|v| v.as_str()).map(str::to_owned)
}

/// Authenticates a connection and builds its data: the caller's request
/// context, its subscription slots and its connection slot. Errors (the
/// connection is then closed, message first): `UNAUTHENTICATED`,
/// `TOO_MANY_CONNECTIONS`.
async fn connection_init(
    state: &AppState,
    payload: &serde_json::Value,
    header_token: Option<String>,
    request_id: Option<String>,
) -> async_graphql::Result<Data> {
    let token = payload_token(payload).or(header_token);
    let unauthenticated = || {
        coded("UNAUTHENTICATED", "UNAUTHENTICATED: send connection_init with {\"Authorization\": \"Bearer <token>\"}")
    };
    let caller = match state.auth.authenticate(token.as_deref()).await {
        Ok(Caller::Anonymous) | Err(_) => return Err(unauthenticated()),
        Ok(caller) => caller,
    };
    let key = crate::core::access::auth::token_hash(token.as_deref().unwrap_or_default());
    let slot = state.ws_limits.acquire(key).ok_or_else(|| {
        coded(
            "TOO_MANY_CONNECTIONS",
            format!("TOO_MANY_CONNECTIONS: this key already has {} connections open", state.ws_limits.per_key),
        )
    })?;
    let mut data = Data::default();
    data.insert(RequestContext::new(caller, request_id, state.ledger.db().clone()));
    data.insert(SubscriptionSlots::new(state.ws_limits.per_connection));
    data.insert(slot);
    data.insert(OverWebSocket);
    Ok(data)
}
