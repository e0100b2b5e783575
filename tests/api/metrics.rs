//! Prometheus metrics at `/metrics`: a server process's own counts, read from
//! its text exposition and through a real Prometheus server (Debian's
//! `prometheus`, installed by `scripts/test`) scraping it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{Operation, QUIET_JOBS, ServerProcess, TestApp, gql_at, spawn_app, ws_client};

/// The payment the tests post through the server process.
const PAY: &str = "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id sequence } } }";

/// POSTs `query` to the server process at `base` as the admin of `app`.
async fn gql(app: &TestApp, base: &str, query: &str, variables: Value) -> Value {
    gql_at(&reqwest::Client::new(), base, Some(&app.token), query, variables).await
}

async fn pay(app: &TestApp, base: &str, merchant: &str, key: &str) -> Value {
    let input =
        json!({ "merchantId": merchant, "gross": { "amount": "2.00", "currency": "USD" }, "idempotencyKey": key });
    gql(app, base, PAY, json!({ "i": input })).await
}

/// The exposition at `base`/metrics, as (series, value) pairs.
async fn scrape(base: &str) -> (String, Vec<(String, f64)>) {
    let r = reqwest::get(format!("{base}/metrics")).await.expect("GET /metrics");
    assert_eq!(r.status(), 200);
    let media = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(media.starts_with("text/plain; version=0.0.4"), "{media}");
    let text = r.text().await.expect("text");
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample line: {l}"));
            (series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {l}")))
        })
        .collect();
    (text, series)
}

/// The sum of every series of metric `name` whose labels include all of `labels`.
fn sum(series: &[(String, f64)], name: &str, labels: &[&str]) -> Option<f64> {
    let matching: Vec<f64> = series
        .iter()
        .filter(|(s, _)| {
            let metric = s.split('{').next().unwrap_or_default();
            metric == name && labels.iter().all(|l| s.contains(l))
        })
        .map(|(_, v)| *v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

#[tokio::test]
async fn payments_are_counted_by_operation_and_code_and_prometheus_scrapes_the_same_count() {
    // Arrange: a server process with metrics on (the default), a merchant.
    let app = spawn_app().await;
    let m = app.merchant("Metered Shop").await;
    let server = ServerProcess::start(&app.database_url, QUIET_JOBS).await;

    // Act: twelve payments, four at a time; one with a bad amount, one
    // document that does not parse, one that does not validate.
    let paid: Vec<Value> = futures::stream::iter(0..12)
        .map(|i| {
            let (app, base, m) = (&app, &server.base, &m);
            async move { pay(app, base, m, &format!("metered-{i}")).await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for body in &paid {
        assert!(body["data"]["recordPayment"]["transaction"]["id"].is_string(), "payment refused: {body}");
    }
    let bad = gql(
        &app,
        &server.base,
        PAY,
        json!({ "i": { "merchantId": m, "gross": { "amount": "2.001", "currency": "USD" }, "idempotencyKey": "metered-bad" } }),
    )
    .await;
    let bad_code = crate::helpers::code(&bad);
    assert_ne!(bad_code, "<no code>", "{bad}");
    gql(&app, &server.base, "mutation { recordPayment(", json!({})).await;
    gql(&app, &server.base, "{ noSuchField }", json!({})).await;

    // And this month's report twice: computed once, then served from the cache.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    for _ in 0..2 {
        let report = gql(
            &app,
            &server.base,
            "query($m: String!) { monthlyRollup(month: $m) { month closed } }",
            json!({ "m": month }),
        )
        .await;
        assert_eq!(report["data"]["monthlyRollup"]["closed"], false, "{report}");
    }

    // Assert: the exposition counts them.
    let (text, series) = scrape(&server.base).await;
    let cache = |result: &str| {
        sum(&series, "ledger_report_cache_requests_total", &["cache=\"local\"", &format!("result=\"{result}\"")])
    };
    assert_eq!((cache("miss"), cache("hit")), (Some(1.0), Some(1.0)), "{text}");
    let op = "operation=\"mutation recordPayment\"";
    assert_eq!(sum(&series, "ledger_graphql_requests_total", &[op, "code=\"OK\""]), Some(12.0), "{text}");
    let bad_label = format!("code=\"{bad_code}\"");
    assert_eq!(sum(&series, "ledger_graphql_requests_total", &[op, &bad_label]), Some(1.0), "{text}");
    let unparsed = ["operation=\"unparsed\"", "code=\"GRAPHQL_PARSE_FAILED\""];
    assert_eq!(sum(&series, "ledger_graphql_requests_total", &unparsed), Some(1.0), "{text}");
    let invalid = ["operation=\"invalid\"", "code=\"GRAPHQL_VALIDATION_FAILED\""];
    assert_eq!(sum(&series, "ledger_graphql_requests_total", &invalid), Some(1.0), "{text}");
    // No label carries the made-up field name.
    assert!(!text.contains("noSuchField"), "{text}");
    assert_eq!(sum(&series, "ledger_graphql_request_duration_seconds_count", &[op]), Some(13.0), "{text}");
    assert!(text.contains("# TYPE ledger_graphql_requests_total counter"), "{text}");
    assert!(text.contains("# TYPE ledger_graphql_request_duration_seconds histogram"), "{text}");
    // Group commit: every payment went through a batch and its queue emptied.
    assert_eq!(sum(&series, "ledger_group_commit_batch_requests_sum", &[]), Some(12.0), "{text}");
    assert_eq!(sum(&series, "ledger_group_commit_wait_seconds_count", &[]), Some(12.0), "{text}");
    let batches = sum(&series, "ledger_group_commit_commit_seconds_count", &[]).expect("commit times");
    assert!((1.0..=12.0).contains(&batches), "{text}");
    assert_eq!(sum(&series, "ledger_group_commit_queue_depth", &[]), Some(0.0), "{text}");
    assert!(sum(&series, "ledger_group_commit_lanes", &[]).is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(sum(&series, "ledger_group_commit_lanes_committing", &[]), Some(0.0), "{text}");
    // The pools: the request pool's size is the test's --pool-size.
    assert_eq!(sum(&series, "ledger_db_pool_max_connections", &["pool=\"requests\""]), Some(10.0), "{text}");
    assert!(
        sum(&series, "ledger_db_pool_connections", &["pool=\"group_commit\"", "state=\"idle\""]).is_some(),
        "{text}"
    );
    assert_eq!(sum(&series, "ledger_db_pool_waiting", &[]), Some(0.0), "{text}");

    // And a real Prometheus scraping the server sees the same count.
    let Some(prometheus) = Prometheus::start(&server.base).await else { return };
    let query = "sum(ledger_graphql_requests_total{operation=\"mutation recordPayment\",code=\"OK\"})";
    let deadline = Instant::now() + Duration::from_secs(90);
    let value = loop {
        if let Some(v) = prometheus.query(query).await {
            break v;
        }
        assert!(Instant::now() < deadline, "Prometheus never scraped the server");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(value, "12", "Prometheus's count of the payments");
    let batched = prometheus.query("sum(ledger_group_commit_batch_requests_sum)").await;
    assert_eq!(batched.as_deref(), Some("12"));
}

#[tokio::test]
async fn relay_lag_subscriptions_and_a_server_with_metrics_off() {
    // Arrange: a server process relaying to NATS, a merchant with a key.
    let app = spawn_app().await;
    let m = app.merchant("Metered Relay Shop").await;
    let key = app.merchant_key(&m).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("LEDGER_METRICS_{}", tag.to_uppercase());
    let prefix = format!("ledgermetrics.{tag}");
    let nats = std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let mut flags = vec!["--nats-url", nats.as_str(), "--nats-stream", stream.as_str(), "--nats-subject-prefix"];
    flags.push(prefix.as_str());
    flags.extend_from_slice(QUIET_JOBS);
    let server = ServerProcess::start(&app.database_url, &flags).await;

    // Act: two subscriptions (one resuming after 0), three payments.
    let ws = ws_client(&server.base, Some(&key)).await.expect("connected");
    let feed =
        "subscription($m: ID!, $after: Int) { transactionPosted(merchantId: $m, afterSequence: $after) { sequence } }";
    let mut live = ws.subscribe(Operation::new(feed, json!({ "m": m }))).await.expect("subscribed");
    let mut resumed = ws.subscribe(Operation::new(feed, json!({ "m": m, "after": 0 }))).await.expect("subscribed");
    for i in 0..3 {
        let body = pay(&app, &server.base, &m, &format!("relayed-{i}")).await;
        assert!(body["data"]["recordPayment"]["transaction"]["id"].is_string(), "{body}");
    }
    for sub in [&mut live, &mut resumed] {
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(30), sub.next()).await.expect("an event in time");
        }
    }

    // Assert: both subscriptions are live, one resumed; the relay published
    // the three events and has no lag left.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (text, series) = loop {
        let (text, series) = scrape(&server.base).await;
        if sum(&series, "ledger_relay_published_events_total", &[]) == Some(3.0)
            && sum(&series, "ledger_outbox_unpublished_events", &[]) == Some(0.0)
        {
            break (text, series);
        }
        assert!(Instant::now() < deadline, "the relay never caught up: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(sum(&series, "ledger_outbox_oldest_unpublished_age_seconds", &[]), Some(0.0), "{text}");
    assert_eq!(sum(&series, "ledger_subscriptions_live", &[]), Some(2.0), "{text}");
    assert_eq!(sum(&series, "ledger_subscribers_resumed_total", &[]), Some(1.0), "{text}");
    drop(live);
    drop(resumed);
    ws.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (text, series) = scrape(&server.base).await;
        if sum(&series, "ledger_subscriptions_live", &[]) == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the subscriptions never ended: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Ok(client) = async_nats::connect(&nats).await {
        let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
    }

    // A server with metrics off answers 404 with a code, and records nothing.
    let off = ServerProcess::start(&app.database_url, &["--metrics", "false"]).await;
    let r = reqwest::get(format!("{}/metrics", off.base)).await.expect("GET /metrics");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("a coded error");
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    // A flag that is not a boolean is refused at start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-test-server"))
        .args(["--metrics", "maybe", "verify"])
        .output()
        .expect("run ledger-test-server");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("maybe"));
}

/// A Prometheus server (Debian's `prometheus`) scraping one target every
/// 250 ms, killed when dropped. `None` (the test then says SKIPPED) only
/// outside CI when it is not installed; `scripts/test` installs it.
struct Prometheus {
    base: String,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Prometheus {
    async fn start(target: &str) -> Option<Prometheus> {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(str::to_owned);
        let Some(binary) = binary else {
            assert!(std::env::var_os("CI").is_none(), "prometheus is not installed; scripts/test installs it");
            eprintln!("SKIPPED: Prometheus's scrape (no prometheus binary; scripts/test installs Debian's)");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("ledger-prometheus-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let target = target.trim_start_matches("http://");
        let config = format!(
            "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: ledger\n    \
             static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus config");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("prometheus log"))
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { base: format!("http://127.0.0.1:{port}"), child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !reqwest::get(format!("{}/-/ready", p.base)).await.is_ok_and(|r| r.status().is_success()) {
            let log = std::fs::read_to_string(p.dir.join("prometheus.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "prometheus did not become ready: {log}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(p)
    }

    /// The value of an instant query's single sample, as Prometheus prints it.
    async fn query(&self, query: &str) -> Option<String> {
        let body: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", query)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        assert_eq!(body["status"], "success", "{body}");
        body["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
