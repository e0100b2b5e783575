//! An OTLP/HTTP trace receiver for the tests and ledger-bench: a real HTTP
//! server on 127.0.0.1, port 0, that accepts `POST /v1/traces` with an
//! `ExportTraceServiceRequest` in protobuf (OTLP 1.x, as
//! opentelemetry-otlp's `http-proto` exporter sends it), decodes it with the
//! `opentelemetry-proto` crate's messages and keeps the spans (or, for a
//! benchmark, only counts them, see [`skeleton`]). Anything else is answered
//! 400 and counted.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// What the receiver got.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    count: u64,
    requests: u64,
    bad: u64,
}

/// A running receiver; it stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`: the value of `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Received>>,
    keep: bool,
}

/// The skeleton of an `ExportTraceServiceRequest` (opentelemetry-proto's
/// `trace_service.proto` and `trace.proto`, same field numbers): the spans
/// are kept as their undecoded bytes. A benchmark's receiver counts spans
/// through it, so that decoding every attribute of every span does not take
/// the CPU the server under test needs; each span is still checked to be a
/// well-formed `Span` message in one export of every [`FULL_DECODE_EVERY`].
mod skeleton {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(message, repeated, tag = "1")]
        pub resource_spans: Vec<ResourceSpans>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        #[prost(bytes = "bytes", repeated, tag = "2")]
        pub spans: Vec<prost::bytes::Bytes>,
    }
}

/// A counting receiver decodes one export in this many in full.
const FULL_DECODE_EVERY: u64 = 16;

async fn export(State(shared): State<Shared>, body: Bytes) -> (StatusCode, Vec<u8>) {
    let full = shared.keep || shared.received.lock().expect("receiver state").requests % FULL_DECODE_EVERY == 0;
    let decoded = if full {
        ExportTraceServiceRequest::decode(body).ok().map(|request| {
            let spans: Vec<Span> =
                request.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans).collect();
            (spans.len() as u64, spans)
        })
    } else {
        skeleton::Request::decode(body).ok().map(|request| {
            let n = request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum();
            (n, Vec::new())
        })
    };
    let mut r = shared.received.lock().expect("receiver state");
    let Some((count, spans)) = decoded else {
        r.bad += 1;
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    r.requests += 1;
    r.count += count;
    if shared.keep {
        r.spans.extend(spans);
    }
    (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
}

impl Receiver {
    /// Starts a receiver that keeps every span (`keep`) or only counts them.
    pub async fn start(keep: bool) -> Receiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(export))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(Shared { received: received.clone(), keep });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the OTLP receiver");
        let endpoint = format!("http://{}", listener.local_addr().expect("receiver address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { endpoint, received, task }
    }

    /// The spans kept so far.
    pub fn spans(&self) -> Vec<Span> {
        self.received.lock().expect("receiver state").spans.clone()
    }

    /// Spans received so far, export requests that carried them, and bodies
    /// that were not an `ExportTraceServiceRequest`.
    pub fn counts(&self) -> (u64, u64, u64) {
        let r = self.received.lock().expect("receiver state");
        (r.count, r.requests, r.bad)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Lower-case hex of an id's bytes (trace and span ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
