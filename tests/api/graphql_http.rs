//! The GraphQL over HTTP spec's own audit (npm `graphql-http`'s
//! `auditServer`, run by `tests/browser/audit.mjs` with a bearer token)
//! against a real server: every MUST and every SHOULD passes. And, one by
//! one, the answers the audit once warned about: a POST that is not JSON is
//! 415 and runs nothing; a document that does not parse or validate has no
//! `data` entry; a caller without a token asking for what needs one gets
//! 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3).
//!
//! `scripts/test` installs Node.js and the pinned npm packages
//! (`tests/browser/package-lock.json`); without node this test fails, never
//! skips.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::console::repo;
use crate::helpers::{code, spawn_app};

/// One audit's line of `audit.mjs`: its status (`ok`, `warn`, `error`,
/// `notice`) and its name (which starts with MUST, SHOULD or MAY).
fn audit_lines(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| {
            let (status, rest) = l.split_once(' ')?;
            let (_, name) = rest.split_once(' ')?;
            matches!(status, "ok" | "warn" | "error" | "notice").then(|| (status.to_owned(), name.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn the_graphql_over_http_audit_passes_every_must_and_every_should() {
    // Arrange: a server (development mode: the audit's own queries use
    // `__type`, which production mode refuses) and the admin's token.
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base);
    let script = repo().join("tests/browser/audit.mjs");

    // Act: the audit, in node, off the test's runtime.
    let token = app.token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("URL", url)
            .env("TOKEN", token)
            .stdin(Stdio::null())
            .output()
            .expect("run node (scripts/test installs it and tests/browser's npm packages)")
    })
    .await
    .expect("the audit's thread");

    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "audit.mjs failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{}", stdout.lines().last().unwrap_or_default());
    let lines = audit_lines(&stdout);
    let required: Vec<&(String, String)> =
        lines.iter().filter(|(_, name)| name.starts_with("MUST") || name.starts_with("SHOULD")).collect();
    assert!(required.len() >= 30, "the audit ran too few MUST and SHOULD audits: {stdout}");
    let failing: Vec<&&(String, String)> = required.iter().filter(|(status, _)| status != "ok").collect();
    assert!(failing.is_empty(), "audits that did not pass: {failing:#?}\n{stdout}");
}

#[tokio::test]
async fn a_post_that_is_not_json_is_415_and_runs_nothing() {
    let app = spawn_app().await;
    let mutation = json!({ "query": "mutation { createMerchant(input: {name: \"Plain\", idempotencyKey: \"plain-1\"}) { replayed } }" })
        .to_string();
    for content_type in [None, Some("text/plain;charset=UTF-8"), Some("application/x-www-form-urlencoded")] {
        let mut req = app.http.post(format!("{}/graphql", app.base)).bearer_auth(&app.token).body(mutation.clone());
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let r = req.send().await.expect("send");
        assert_eq!(r.status(), 415, "{content_type:?}");
        let body: Value = r.json().await.expect("a coded body");
        assert_eq!(code(&body), "UNSUPPORTED_MEDIA_TYPE", "{content_type:?}: {body}");
    }
    assert_eq!(app.count("merchants").await, 1, "only the platform row: nothing ran");
    // The same body as JSON, with parameters in the media type, runs.
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(mutation)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(app.count("merchants").await, 2);
}

#[tokio::test]
async fn request_errors_have_no_data_entry_and_field_errors_keep_it() {
    let app = spawn_app().await;
    let post = |query: &'static str, accept: &'static str| {
        app.http
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&app.token)
            .header("accept", accept)
            .json(&json!({ "query": query }))
            .send()
    };
    for accept in ["application/graphql-response+json", "application/json"] {
        // Parse and validation failures: no `data` at all; 400 under the
        // GraphQL response media type, 200 under application/json.
        for (query, expected) in
            [("{ merchant(id: ", "GRAPHQL_PARSE_FAILED"), ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED")]
        {
            let r = post(query, accept).await.expect("send");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            assert_eq!(status, if accept == "application/json" { 200 } else { 400 }, "{accept} {query}: {body}");
            assert_eq!(code(&body), expected, "{body}");
            assert!(body.get("data").is_none(), "{accept} {query}: a request error has no data entry: {body}");
        }
        // A field error (an unknown merchant) leaves `data` in place, and 200.
        let r = post("{ merchant(id: \"00000000-0000-4000-8000-000000000000\") { id } }", accept).await.expect("send");
        assert_eq!(r.status(), 200, "{accept}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
        assert!(body.get("data").is_some(), "{accept}: a field error keeps data: {body}");
    }
}

#[tokio::test]
async fn a_caller_without_a_token_gets_401_with_the_bearer_scheme() {
    let app = spawn_app().await;
    // Arrange: a merchant the anonymous caller may not list.
    app.merchant("Anonymous Eyes").await;

    // Act
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "{ merchants(first: 5) { edges { node { name } } } }" }))
        .send()
        .await
        .expect("send");

    // Assert: 401, the scheme, the code; nothing of the merchant.
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert!(!body.to_string().contains("Anonymous Eyes"), "{body}");
    // What needs no caller still answers 200 without one.
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    // A token that is not one: 401 too, before GraphQL runs.
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth("not-a-token")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
}
