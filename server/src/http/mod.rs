//! HTTP: the router, GraphQL over HTTP, health probes and GraphiQL.
//!
//! GraphQL is served at `/graphql` by POST (JSON body) and GET (query string),
//! following the GraphQL over HTTP spec (graphql.github.io/graphql-over-http):
//! a mutation over GET is refused with 405; a body that is not a GraphQL request
//! gets 400; with `Accept: application/graphql-response+json` a request that fails
//! to parse or validate gets 400, otherwise 200 with `application/json`.
//! JSON-array batches are refused. Every error body is a GraphQL response whose
//! errors carry `extensions.code`.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ParseRequestError;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::GraphQLRequest;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::LedgerSchema;
use crate::ledger::Ledger;

/// Largest request body accepted, in bytes. A transaction of 64 entries with
/// metadata is under 16 KiB; 1 MiB leaves room for bulk requests later and stops
/// a client from making the server buffer arbitrary input.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// How long a request may run before it is answered 408 and its work dropped
/// (an uncommitted database transaction is then rolled back).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schema.
    pub schema: LedgerSchema,
    /// The ledger, for health checks.
    pub ledger: Arc<Ledger>,
}

/// Builds the router with its tower-http layers (tracing, body limit, timeout,
/// compression).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphiql", get(graphiql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY_BYTES))
        // Outside the limit and timeout layers, so it sees their bodiless 413 and 408.
        .layer(axum::middleware::map_response(coded_status_bodies))
        .layer(TraceLayer::new_for_http())
}

/// A GraphQL-shaped error response with `extensions.code`.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Gives bodiless error statuses from the layers (413 from the body limit, 408
/// from the timeout) a GraphQL error body with a code.
async fn coded_status_bodies(response: Response) -> Response {
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_json(&response) => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            &format!("request body exceeds {MAX_REQUEST_BODY_BYTES} bytes"),
        ),
        StatusCode::REQUEST_TIMEOUT if !is_json(&response) => {
            error_response(StatusCode::REQUEST_TIMEOUT, "TIMEOUT", "request took too long")
        }
        _ => response,
    }
}

fn is_json(r: &Response) -> bool {
    r.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/"))
}

/// Why a request body could not be read as one GraphQL request.
pub struct RequestRejection(ParseRequestError);

impl From<ParseRequestError> for RequestRejection {
    fn from(e: ParseRequestError) -> Self {
        Self(e)
    }
}

impl IntoResponse for RequestRejection {
    fn into_response(self) -> Response {
        match self.0 {
            ParseRequestError::PayloadTooLarge => {
                error_response(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "request body too large")
            }
            ParseRequestError::UnsupportedBatch => error_response(
                StatusCode::BAD_REQUEST,
                "BATCH_NOT_SUPPORTED",
                "JSON-array batch requests are not accepted",
            ),
            other => {
                let message = match other {
                    ParseRequestError::Io(e) if e.to_string().contains("length limit") => {
                        return error_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "PAYLOAD_TOO_LARGE",
                            "request body too large",
                        );
                    }
                    other => other.to_string(),
                };
                error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("not a GraphQL request: {message}"))
            }
        }
    }
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<GraphQLRequest<RequestRejection>, RequestRejection>,
) -> Response {
    match request {
        Ok(req) => execute(&state, &headers, req.into_inner()).await,
        Err(rejection) => rejection.into_response(),
    }
}

async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<GraphQLRequest<RequestRejection>, RequestRejection>,
) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    let req = match request {
        Ok(req) => req.into_inner(),
        // A person opening /graphql in a browser gets GraphiQL.
        Err(_) if wants_html => return graphiql().await.into_response(),
        Err(rejection) => return rejection.into_response(),
    };
    if wants_html && req.query.is_empty() {
        return graphiql().await.into_response();
    }
    if is_mutation(&req) {
        let mut r = error_response(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "mutations must use POST");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    execute(&state, &headers, req).await
}

/// True when the operation to run is a mutation (GraphQL over HTTP: GET must not
/// cause side effects). An unparsable query is left to the executor to report.
fn is_mutation(req: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(doc) = async_graphql::parser::parse_query(&req.query) else { return false };
    match &doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match &req.operation_name {
            Some(name) => ops.get(name.as_str()).is_some_and(|op| op.node.ty == OperationType::Mutation),
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

async fn execute(state: &AppState, headers: &HeaderMap, req: async_graphql::Request) -> Response {
    let response = state.schema.execute(req).await;
    let graphql_media = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/graphql-response+json"));
    let request_error = response.data == async_graphql::Value::Null && !response.errors.is_empty();
    let (status, media) = if graphql_media {
        let status = if request_error { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        (status, "application/graphql-response+json")
    } else {
        (StatusCode::OK, "application/json")
    };
    match serde_json::to_string(&response) {
        Ok(body) => (status, [(header::CONTENT_TYPE, media)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a GraphQL response");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error")
        }
    }
}

/// GraphiQL. Its JavaScript and CSS load from a CDN (unpkg), so it needs a
/// network connection in the browser; the API itself does not (see README).
async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.ledger.db().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}
