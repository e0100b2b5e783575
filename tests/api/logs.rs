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
