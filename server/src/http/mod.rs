//! HTTP: the router, GraphQL over HTTP, health probes and GraphiQL.
//!
//! GraphQL is served at `/graphql` by POST (JSON body) and GET (query string),
//! following the GraphQL over HTTP spec (graphql.github.io/graphql-over-http):
//! a mutation over GET is refused with 405; a POST that is not `application/json`
//! (or a `multipart/form-data` upload) gets 415; a body that is not a GraphQL
//! request gets 400; a request that fails to parse or validate has no `data`
//! entry, and with `Accept: application/graphql-response+json` gets 400,
//! otherwise 200 with `application/json`. JSON-array batches are refused.
//! Every error body is a GraphQL response whose errors carry
//! `extensions.code`. npm `graphql-http`'s audit passes every MUST and SHOULD
//! (`tests/api/graphql_http.rs`).
//!
//! Each request is authenticated from `Authorization: Bearer <token>` before it
//! reaches GraphQL (an unknown, expired or revoked token is 401
//! `UNAUTHENTICATED`; no token is an anonymous caller, whom the field guards
//! refuse: then the answer is 401 too, with `WWW-Authenticate: Bearer`, RFC
//! 6750 §3). Requests are rate-limited per token, or per client address when
//! there is none (tower_governor); every response carries `x-request-id`; the
//! `Authorization` header is marked sensitive so no log shows it.
//!
//! Subscriptions are served over WebSocket at `/graphql/ws` ([`ws`]); the
//! support console's files at `/console` ([`console`]).

pub mod chain;
pub mod console;
pub mod metrics;
pub mod reconcile;
pub mod reports;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::ParseRequestError;
use async_graphql_axum::GraphQLRequest;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Mode, Settings};
use crate::core::access::auth::{AuthError, Authenticator};
use crate::core::posting::Ledger;
use crate::graphql::LedgerSchema;
use crate::graphql::context::RequestContext;

/// Longest client-sent `x-request-id` kept; a longer or non-printable one is
/// replaced by a fresh UUID, since it is stored with every transaction.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// How long a browser may cache a CORS preflight answer.
pub const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// Largest request body accepted, in bytes. A transaction of 64 entries with
/// metadata is under 16 KiB; 1 MiB leaves room for bulk requests later and stops
/// a client from making the server buffer arbitrary input.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// Largest `multipart/form-data` body accepted (a bank statement upload, on
/// `POST /reconcile/bank_statement` or as a GraphQL multipart request): the
/// largest statement file plus room for the form's other parts.
pub const MAX_UPLOAD_BODY_BYTES: usize = crate::core::reconciliation::statement::MAX_STATEMENT_BYTES + 64 * 1024;

/// How long a request may run before it is answered 408 and its work dropped
/// (an uncommitted database transaction is then rolled back).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP-level settings, from the command line.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Development or production.
    pub mode: Mode,
    /// Sustained requests per second per key, session or address.
    pub rate_limit_per_sec: u32,
    /// Burst above that.
    pub rate_limit_burst: u32,
    /// Origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Folder of the built console, served at `/console`.
    pub console_dir: std::path::PathBuf,
}

impl From<&Settings> for HttpSettings {
    fn from(s: &Settings) -> Self {
        Self {
            mode: s.mode,
            rate_limit_per_sec: s.rate_limit_per_sec,
            rate_limit_burst: s.rate_limit_burst,
            cors_origins: s.cors_origins.clone(),
            console_dir: s.console_dir.clone(),
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schema.
    pub schema: LedgerSchema,
    /// The ledger, for health checks.
    pub ledger: Arc<Ledger>,
    /// Authenticates each request.
    pub auth: Arc<Authenticator>,
    /// Signs and serves the chains' checkpoints.
    pub checkpoints: crate::core::chain::checkpoint::Checkpoints,
    /// Mode, rate limits, CORS.
    pub http: HttpSettings,
    /// WebSocket connections per key and subscriptions per connection.
    pub ws_limits: Arc<ws::ConnectionLimits>,
    /// Turns true when the server shuts down, so WebSocket connections (which
    /// would otherwise hold a graceful shutdown open forever) close.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    /// What `/metrics` renders; `None` when metrics are off.
    pub metrics: Option<Arc<metrics::Scrape>>,
}

/// Rate-limit key: the bearer token when there is one (so each API key and each
/// staff session has its own budget), else the client's address.
#[derive(Debug, Clone, Copy)]
struct CallerKey;

impl KeyExtractor for CallerKey {
    type Key = String;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<String, GovernorError> {
        if let Some(token) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            // Only a token's hash is kept in memory, never the token itself.
            return Ok(crate::core::access::auth::token_hash(token));
        }
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string())
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// Builds the router with its tower-http layers (request id, sensitive headers,
/// tracing, CORS, body limit, timeout, compression) and the rate limiter on the
/// GraphQL routes.
pub fn router(state: AppState) -> Router {
    let settings = state.http.clone();
    let per_sec = u64::from(settings.rate_limit_per_sec.max(1));
    let governor = GovernorConfigBuilder::default()
        .per_nanosecond(1_000_000_000 / per_sec.min(1_000_000_000))
        .burst_size(settings.rate_limit_burst.max(1))
        .key_extractor(CallerKey)
        .finish();
    let mut api = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route(reports::CSV_PATH, get(reports::monthly_rollup_csv))
        .route(reports::STATEMENT_CSV_PATH, get(reports::statement_csv))
        .route(chain::EXPORT_PATH, get(chain::export))
        .route(chain::CHECKPOINT_PATH, get(chain::latest_checkpoint).post(chain::sign_checkpoint))
        .route(chain::JOURNAL_PATH, get(chain::journal))
        .route(
            reconcile::STATEMENT_PATH,
            // axum's own 2 MB default for extractors would cut a statement
            // short; `limit_body`'s outer layer bounds uploads instead.
            axum::routing::post(reconcile::bank_statement)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BODY_BYTES)),
        );
    if settings.mode == Mode::Development {
        api = api
            .route("/graphiql", get(graphiql))
            .nest_service(GRAPHIQL_ASSETS_PATH, ServeDir::new(settings.console_dir.join("graphiql")));
    }
    if let Some(config) = governor {
        let limiter = config.limiter().clone();
        // Forget idle keys now and then, so made-up tokens cannot grow memory.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter.retain_recent();
            }
        });
        api = api.layer(tower_governor::GovernorLayer::new(config).error_handler(rate_limited));
    }
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .route(crate::core::chain::checkpoint::WELL_KNOWN_KEYS_PATH, get(chain::keys))
        .route("/healthz", get(|| async { "ok" }))
        .route(metrics::PATH, get(metrics::metrics))
        .route("/readyz", get(readyz))
        .merge(console::routes(&settings.console_dir))
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(axum::middleware::from_fn(limit_body))
        .layer(RequestBodyLimitLayer::new(MAX_UPLOAD_BODY_BYTES))
        // Outside the limit and timeout layers, so it sees their bodiless 413 and 408.
        .layer(axum::middleware::map_response(coded_status_bodies))
        .layer(cors(&settings.cors_origins))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(axum::middleware::map_request(bounded_request_id))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
}

/// Holds every body but a `multipart/form-data` upload to
/// [`MAX_REQUEST_BODY_BYTES`] (uploads are held to [`MAX_UPLOAD_BODY_BYTES`]
/// by the layer outside): a declared length over it is answered 413 at once,
/// and a chunked body is cut off there (the GraphQL extractor then answers
/// 413 `PAYLOAD_TOO_LARGE`).
async fn limit_body(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if multipart {
        return next.run(req).await;
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY_BYTES as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, MAX_REQUEST_BODY_BYTES));
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

/// CORS for the configured origins only; with none configured, no CORS headers
/// at all (the browser then allows same-origin calls only).
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(CORS_MAX_AGE)
}

/// The span every request's log lines happen in, the root of its trace: its
/// method, path (not the query string, which may carry a GraphQL document),
/// `request_id` (the `x-request-id` header, the client's or the one
/// `SetRequestIdLayer` made) and `trace_id` (see
/// [`crate::telemetry::traces::continue_trace`]: the caller's W3C
/// `traceparent` is honoured). At INFO, so the default filter keeps it and
/// JSON logs carry its fields. Exported, it is named `<METHOD> <path>` and
/// is of kind server.
fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
        trace_id = tracing::field::Empty,
        otel.name = %format_args!("{} {}", req.method(), req.uri().path()),
        otel.kind = "server",
    );
    if let Some(trace_id) = crate::telemetry::traces::continue_trace(&span, req.headers()) {
        span.record("trace_id", trace_id.as_str());
    }
    span
}

/// Drops a client-sent `x-request-id` that is too long or not printable ASCII,
/// so a fresh one is made (it is stored with every transaction).
async fn bounded_request_id(mut req: axum::extract::Request) -> axum::extract::Request {
    let bad = req
        .headers()
        .get("x-request-id")
        .is_some_and(|v| v.len() > MAX_REQUEST_ID_LEN || !v.as_bytes().iter().all(|b| b.is_ascii_graphic()));
    if bad {
        req.headers_mut().remove("x-request-id");
    }
    req
}

/// The 429 answer of the rate limiter: a coded GraphQL error and `Retry-After`.
fn rate_limited(err: GovernorError) -> Response {
    match err {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let mut r = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many requests for this key; retry after the number of seconds in Retry-After",
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_time.max(1)));
            r
        }
        GovernorError::UnableToExtractKey => {
            error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", "cannot tell who is calling")
        }
        GovernorError::Other { code, msg, .. } => {
            error_response(code, "INTERNAL_SERVER_ERROR", msg.as_deref().unwrap_or("internal server error"))
        }
    }
}

/// A GraphQL-shaped error response with `extensions.code`.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
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
            &format!(
                "request body too large: at most {MAX_REQUEST_BODY_BYTES} bytes, or {MAX_UPLOAD_BODY_BYTES} for a \
                 multipart/form-data upload"
            ),
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
    if !readable_media_type(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as Content-Type: application/json (or multipart/form-data for an upload)",
        );
    }
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
    let dev = state.http.mode == Mode::Development;
    let req = match request {
        Ok(req) => req.into_inner(),
        // A person opening /graphql in a browser gets GraphiQL (development only).
        Err(_) if wants_html && dev => return graphiql().await.into_response(),
        Err(rejection) => return rejection.into_response(),
    };
    if wants_html && dev && req.query.is_empty() {
        return graphiql().await.into_response();
    }
    if is_mutation(&req) {
        let mut r = error_response(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "mutations must use POST");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    execute(&state, &headers, req).await
}

/// Whether a POST's `Content-Type` is one `/graphql` reads: `application/json`
/// (GraphQL over HTTP §5.1; a body without a content type SHOULD get a 4xx,
/// and `fetch` labels a bare string `text/plain`) or `multipart/form-data`
/// (the GraphQL multipart request spec, for uploads). Parameters such as
/// `charset` are left to the body's reader.
fn readable_media_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json") || essence.eq_ignore_ascii_case("multipart/form-data")
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

/// Authenticates the request, runs it with its context, and closes its reads.
async fn execute(state: &AppState, headers: &HeaderMap, req: async_graphql::Request) -> Response {
    let response = match run_graphql(state, headers, req).await {
        Ok(response) => response,
        Err(refused) => return refused,
    };
    let graphql_media = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/graphql-response+json"));
    // A request error (the document did not parse or validate, or a limit
    // refused it) stops the operation before execution: its errors carry no
    // path, and the response has no `data` entry (GraphQL spec §7.1.2). A
    // field error that nulls the whole result still has `data: null`.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let unauthenticated = response.errors.iter().any(|e| {
        e.extensions.as_ref().and_then(|x| x.get("code")) == Some(&async_graphql::Value::from("UNAUTHENTICATED"))
    });
    let (status, media) = if graphql_media {
        let status = if request_error { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        (status, "application/graphql-response+json")
    } else {
        (StatusCode::OK, "application/json")
    };
    let body = match serde_json::to_value(&response) {
        Ok(mut body) => {
            if request_error && let Some(fields) = body.as_object_mut() {
                fields.remove("data");
            }
            body.to_string()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a GraphQL response");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error");
        }
    };
    let mut r = (status, [(header::CONTENT_TYPE, media)], body).into_response();
    // A field that needs a caller, asked for without one: 401 with the
    // scheme to use (RFC 6750 §3), the body still coded `UNAUTHENTICATED`.
    if unauthenticated {
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// The caller of a request, from its `Authorization: Bearer <token>` header
/// (none: the anonymous caller). Errors (as the HTTP response to send): 401
/// `UNAUTHENTICATED` with `WWW-Authenticate: Bearer` (RFC 6750 §3) for an
/// unknown, expired or revoked token; 500 when authentication itself failed.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<crate::core::access::rules::Caller, Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.auth.authenticate(authorization).await {
        Ok(caller) => Ok(caller),
        Err(e @ (AuthError::Internal(_) | AuthError::Hashing(_))) => {
            tracing::error!(error = ?e, "authentication itself failed");
            Err(error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error"))
        }
        Err(e) => Err(unauthenticated(&e.to_string())),
    }
}

/// 401 `UNAUTHENTICATED` with `WWW-Authenticate: Bearer` (RFC 6750 §3).
pub(crate) fn unauthenticated(message: &str) -> Response {
    let mut r = error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Authenticates the request and runs one GraphQL operation for the caller.
/// Errors (as the HTTP response to send): 401 `UNAUTHENTICATED` for a bad
/// token, 500 when authentication itself failed.
pub(crate) async fn run_graphql(
    state: &AppState,
    headers: &HeaderMap,
    req: async_graphql::Request,
) -> Result<async_graphql::Response, Response> {
    let caller = authenticate(state, headers).await?;
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let context = RequestContext::new(caller, request_id, state.ledger.db().clone());
    let loaders = crate::graphql::loaders::Loaders::new(&context);
    let response = state.schema.execute(req.data(context.clone()).data(loaders)).await;
    context.finish_reads().await;
    Ok(response)
}

/// Where GraphiQL's files are served, from `<console dir>/graphiql`
/// (`scripts/build-console` copies them there from npm).
pub const GRAPHIQL_ASSETS_PATH: &str = "/graphiql/assets";

/// `Content-Security-Policy` of the GraphiQL page: everything from this
/// origin only (so it works, and can only work, without the internet);
/// inline styles allowed, as GraphiQL's editors set them.
const GRAPHIQL_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// GraphiQL (development mode only), from this server alone: the page names
/// the files under [`GRAPHIQL_ASSETS_PATH`], no CDN.
async fn graphiql() -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Ledger GraphiQL</title>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"stylesheet\" href=\"{a}/graphiql.min.css\">\n\
         <style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>\n</head>\n<body>\n\
         <div id=\"graphiql\">Loading GraphiQL… (its files are built by scripts/build-console)</div>\n\
         <script src=\"{a}/react.production.min.js\"></script>\n\
         <script src=\"{a}/react-dom.production.min.js\"></script>\n\
         <script src=\"{a}/graphiql.min.js\"></script>\n\
         <script src=\"{a}/boot.js\"></script>\n</body>\n</html>\n",
        a = GRAPHIQL_ASSETS_PATH
    );
    let mut r = Html(page).into_response();
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(GRAPHIQL_CONTENT_SECURITY_POLICY));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(console::REVALIDATE));
    r
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
