//! Secrets never reach the logs: passwords, API keys and session tokens pass
//! through a server whose every log line (down to debug) is captured, and none
//! of them appears there.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::{TEST_ADMIN_PASSWORD, spawn_app, transfer};

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("debug,hyper=info,hyper_util=info,h2=info,reqwest=info,sqlx=info")
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    // The only test that installs a subscriber; the whole process logs into it.
    tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");

    let app = spawn_app().await;
    let staff_token = app.staff("logwatcher", "SUPPORT").await;
    let staff_password = "logwatcher-password-1";
    let m = app.merchant("LogShop").await;
    let key = app.merchant_key(&m).await;
    let service_key = app.service_key("card-processing", &["payments:write"]).await;
    let paid = app
        .ok_as(
            Some(&service_key),
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { actor } } }",
            json!({ "i": { "merchantId": m, "gross": { "amount": "5.00", "currency": "USD" }, "idempotencyKey": "log-1" } }),
        )
        .await;
    assert!(paid["recordPayment"]["transaction"]["actor"].as_str().unwrap().starts_with("service:card-processing:sk_"));
    app.open_reserve_as(Some(&key), &m, "log-open").await;
    let moved = app
        .ok_as(
            Some(&key),
            "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { actor } } }",
            json!({ "i": transfer(&m, "1.00", "log-2") }),
        )
        .await;
    assert!(moved["postTransaction"]["transaction"]["actor"].as_str().unwrap().starts_with("key:lk_"));
    // A refused password and a refused token are logged as events, never as values.
    let wrong = app
        .gql_as(
            None,
            "mutation { login(username: \"logwatcher\", password: \"wrong-secret-guess-42\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(crate::helpers::code(&wrong), "INVALID_CREDENTIALS");
    let bogus = format!("{}x", &key[..key.len() - 1]);
    let refused = app.gql_as(Some(&bogus), "{ me { kind } }", json!({})).await;
    assert_eq!(crate::helpers::code(&refused), "UNAUTHENTICATED");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // Not vacuous: the server did log these requests, at debug and info.
    assert!(logs.contains("staff logged in"), "no login line was captured");
    assert!(logs.contains("login refused"), "no refused-login line was captured");
    assert!(logs.lines().count() > 10, "too few log lines to judge: {}", logs.lines().count());
    // `lk_<id>_<secret>`: the secret may itself hold `_`, so split at the
    // second `_`, not the last (the last gave a two-letter "secret" that a
    // random database name could contain).
    let secret_of = |token: &str| token.splitn(3, '_').nth(2).unwrap().to_owned();
    let secret_of_key = secret_of(&key);
    let secret_of_service_key = secret_of(&service_key);
    assert!(secret_of_key.len() >= 16 && secret_of_service_key.len() >= 16, "a key's secret is its long tail");
    for (what, secret) in [
        ("admin password", TEST_ADMIN_PASSWORD),
        ("staff password", staff_password),
        ("wrong password", "wrong-secret-guess-42"),
        ("admin session token", app.token.as_str()),
        ("staff session token", staff_token.as_str()),
        ("API key secret", secret_of_key.as_str()),
        ("service key secret", secret_of_service_key.as_str()),
        ("refused API key", bogus.as_str()),
    ] {
        if let Some(at) = logs.find(secret) {
            let line = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
            panic!("the {what} ({secret}) appears in the logs: {}", &logs[line..end]);
        }
    }
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_carry_the_request_and_trace_ids() {
    // Arrange: a server process over a test database, logging JSON to a file.
    let app = spawn_app().await;
    let path = std::env::temp_dir().join(format!("ledger-json-log-{}.log", uuid::Uuid::new_v4().simple()));
    let file = std::fs::File::create(&path).expect("log file");
    let mut server =
        crate::helpers::ServerProcess::start_logging(&app.database_url, &["--log-format", "json"], "info", file).await;
    let request_id = format!("log-json-{}", uuid::Uuid::new_v4().simple());
    let trace_id = uuid::Uuid::new_v4().simple().to_string();

    // Act: a login (logged at INFO inside its request) with our request id.
    let r = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .header("x-request-id", &request_id)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({ "query": "mutation($p: String!) { login(username: \"admin\", password: $p) { token } }",
                        "variables": { "p": TEST_ADMIN_PASSWORD } }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some(request_id.as_str()));
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["data"]["login"]["token"].is_string(), "{body}");
    server.kill();

    // Assert: every line is a JSON object; the login's line names the request.
    let logs = std::fs::read_to_string(&path).expect("read the log");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.contains("listening"))), "{logs}");
    let login = lines
        .iter()
        .find(|l| l["fields"]["message"] == "staff logged in")
        .unwrap_or_else(|| panic!("no login line: {logs}"));
    assert_eq!(login["level"], "INFO");
    // `spans` lists the spans it happened in, outermost first: the request's.
    let request = login["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "request"))
        .unwrap_or_else(|| panic!("the login line is not inside a request span: {login}"));
    assert_eq!(request["request_id"], request_id.as_str(), "{login}");
    // The caller's W3C traceparent names the trace (traces are not exported here).
    assert_eq!(request["trace_id"], trace_id.as_str(), "{login}");
    assert_eq!(request["path"], "/graphql", "{login}");
    assert_eq!(request["method"], "POST", "{login}");
    assert!(!logs.contains(TEST_ADMIN_PASSWORD), "the password never reaches the log");
    std::fs::remove_file(&path).ok();
}

#[test]
fn an_unknown_log_format_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-test-server"))
        .args(["--log-format", "xml", "verify"])
        .output()
        .expect("run ledger-test-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("xml") && stderr.contains("json"), "{stderr}");
}
