//! OpenTelemetry traces: a server process exporting over OTLP/HTTP to a
//! receiver in the test (`support/otlp.rs`, decoding with the
//! `opentelemetry-proto` crate), on the standard `OTEL_EXPORTER_OTLP_ENDPOINT`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

use crate::helpers::{QUIET_JOBS, ServerProcess, TestApp, spawn_app};
use crate::otlp::{Receiver, hex};

const PAY: &str = "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }";

/// A payment through the server process at `base`, with `traceparent` when given.
async fn pay(app: &TestApp, base: &str, merchant: &str, key: &str, traceparent: Option<&str>) -> Value {
    let input =
        json!({ "merchantId": merchant, "gross": { "amount": "4.00", "currency": "USD" }, "idempotencyKey": key });
    let mut req = reqwest::Client::new().post(format!("{base}/graphql")).bearer_auth(&app.token);
    if let Some(t) = traceparent {
        req = req.header("traceparent", t);
    }
    let body: Value = req
        .json(&json!({ "query": PAY, "variables": { "i": input } }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(body["data"]["recordPayment"]["transaction"]["id"].is_string(), "payment refused: {body}");
    body
}

/// Waits (up to a minute) until the receiver holds spans for which `done` holds.
async fn spans_until(receiver: &Receiver, what: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let spans = receiver.spans();
        if done(&spans) {
            return spans;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; got {} spans", spans.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn attribute(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.clone()).and_then(|v| v.value)
}

/// The only span of `spans` named `name`, whose parent is `parent`.
fn child<'a>(spans: &'a [Span], parent: &Span, name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name && s.parent_span_id == parent.span_id).collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} under {}: {:?}",
        parent.name,
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

#[tokio::test]
async fn a_payments_trace_holds_http_graphql_and_group_commit_and_each_commit_links_every_request_it_carried() {
    // Arrange: a receiver, a server exporting to it, a merchant.
    let app = spawn_app().await;
    let m = app.merchant("Traced Shop").await;
    let receiver = Receiver::start(true).await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "ledger-under-test"),
    ];
    let log_path = std::env::temp_dir().join(format!("ledger-traced-{}.log", uuid::Uuid::new_v4().simple()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut flags = vec!["--log-format", "json"];
    flags.extend_from_slice(QUIET_JOBS);
    let server = ServerProcess::start_with_env(&app.database_url, &flags, "info", log, &env).await;

    // Act: one payment carrying a caller's W3C traceparent.
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let traceparent = format!("00-{trace}-{caller_span}-01");
    pay(&app, &server.base, &m, "traced-1", Some(&traceparent)).await;

    // Assert: the trace is the caller's, and its tree is HTTP → parse,
    // validate, resolve → group-commit wait → commit.
    let spans = spans_until(&receiver, "the payment's commit span", |spans| {
        spans.iter().any(|s| hex(&s.trace_id) == trace && s.name == "group_commit.commit")
    })
    .await;
    let ours: Vec<Span> = spans.iter().filter(|s| hex(&s.trace_id) == trace).cloned().collect();
    let root = ours
        .iter()
        .find(|s| s.name == "POST /graphql")
        .unwrap_or_else(|| panic!("no HTTP span: {:?}", ours.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(hex(&root.parent_span_id), caller_span, "the HTTP span's parent is the caller's span");
    assert_eq!(root.kind, 2, "the HTTP span is of kind SERVER");
    child(&ours, root, "graphql.parse");
    child(&ours, root, "graphql.validate");
    let resolve = child(&ours, root, "resolve mutation recordPayment");
    assert!(matches!(attribute(resolve, "graphql.field"), Some(AnyValue::StringValue(f)) if f == "recordPayment"));
    let wait = child(&ours, resolve, "group_commit.wait");
    let commit = child(&ours, wait, "group_commit.commit");
    assert!(
        commit.links.iter().any(|l| l.span_id == wait.span_id && l.trace_id == wait.trace_id),
        "the commit links to the request it carried"
    );
    for s in [root, resolve, wait, commit] {
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0, "{}", s.name);
    }
    assert!(
        commit.start_time_unix_nano >= wait.start_time_unix_nano
            && commit.end_time_unix_nano <= wait.end_time_unix_nano
    );

    // Act: thirty-two payments, sixteen at a time, no traceparent.
    futures::stream::iter(0..32)
        .map(|i| {
            let (app, base, m) = (&app, &server.base, &m);
            async move { pay(app, base, m, &format!("traced-many-{i}"), None).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    // Assert: every request's wait span is linked from exactly one commit,
    // and each commit links exactly the requests it says it carried.
    let spans = spans_until(&receiver, "33 payments' wait spans", |spans| {
        spans.iter().filter(|s| s.name == "group_commit.wait").count() >= 33
            && spans.iter().filter(|s| s.name == "group_commit.commit").map(|s| s.links.len()).sum::<usize>() >= 33
    })
    .await;
    let waits: HashSet<Vec<u8>> =
        spans.iter().filter(|s| s.name == "group_commit.wait").map(|s| s.span_id.clone()).collect();
    assert_eq!(waits.len(), 33);
    let mut linked: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut largest = 0;
    for commit in spans.iter().filter(|s| s.name == "group_commit.commit") {
        let carried = match attribute(commit, "requests") {
            Some(AnyValue::IntValue(n)) => n as usize,
            other => panic!("a commit without its request count: {other:?}"),
        };
        assert_eq!(commit.links.len(), carried, "a commit links every request it carried");
        largest = largest.max(carried);
        for l in &commit.links {
            *linked.entry(l.span_id.clone()).or_default() += 1;
        }
        // Its parent is one of the requests it carried.
        assert!(
            commit.links.iter().any(|l| l.span_id == commit.parent_span_id),
            "the commit's parent is a request it carried"
        );
    }
    assert_eq!(linked.keys().cloned().collect::<HashSet<_>>(), waits, "every wait span is linked");
    assert!(linked.values().all(|&n| n == 1), "no request is linked from two commits");
    // Distinct traces: one per request without a traceparent.
    let roots: HashSet<Vec<u8>> =
        spans.iter().filter(|s| s.name == "POST /graphql").map(|s| s.trace_id.clone()).collect();
    assert_eq!(roots.len(), 33, "each request is its own trace");
    eprintln!("largest batch: {largest} requests");
    let (_, _, bad) = receiver.counts();
    assert_eq!(bad, 0, "every export decoded");

    // A login without traceparent: its JSON log line names the trace the
    // server made, and that trace was exported.
    let login: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .json(&json!({ "query": "mutation($p: String!) { login(username: \"admin\", password: $p) { token } }",
                        "variables": { "p": crate::helpers::TEST_ADMIN_PASSWORD } }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(login["data"]["login"]["token"].is_string(), "{login}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let trace_of_login = loop {
        let logs = std::fs::read_to_string(&log_path).expect("read the log");
        let line = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["fields"]["message"] == "staff logged in");
        if let Some(line) = line {
            let request = line["spans"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "request")).cloned();
            break request
                .and_then(|r| r["trace_id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| panic!("no trace id: {line}"));
        }
        assert!(Instant::now() < deadline, "no login line: {logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(trace_of_login.len(), 32, "{trace_of_login}");
    spans_until(&receiver, "the login's trace", |spans| {
        spans.iter().any(|s| hex(&s.trace_id) == trace_of_login && s.name == "POST /graphql")
    })
    .await;
    std::fs::remove_file(&log_path).ok();
}

#[tokio::test]
async fn a_malformed_endpoint_is_refused_at_start_and_no_endpoint_exports_nothing() {
    // A malformed endpoint: the server refuses to start, naming the variable.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-test-server"))
        .arg("verify")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://exa mple:43 18")
        .output()
        .expect("run ledger-test-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{stderr}");

    // Switched off by OTEL_SDK_DISABLED: nothing reaches the receiver.
    let app = spawn_app().await;
    let m = app.merchant("Untraced Shop").await;
    let receiver = Receiver::start(true).await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SDK_DISABLED", "true"),
    ];
    let server =
        ServerProcess::start_with_env(&app.database_url, QUIET_JOBS, "warn", std::process::Stdio::inherit(), &env)
            .await;
    pay(&app, &server.base, &m, "untraced-1", None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.counts(), (0, 0, 0), "no span was exported");
}
