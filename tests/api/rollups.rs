//! Monthly rollups: known answers on a constructed month, deal conversion
//! rates, closed months that stay closed with backdated postings reported as
//! adjustments, the open month's cache, and bad input.

use chrono::{Datelike, TimeZone, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{RECORD_PAYOUT, TestApp, code, payout_input, spawn_app, spawn_app_with};

const ROLLUP: &str = "query($m: String!, $c: String, $a: String) { monthlyRollup(month: $m, class: $c, asset: $a) { \
    month closed throughPosition \
    lines { class asset capturedCount grossVolume { amount } averageTicket { amount } authorizationsEnded \
      authorizationsAccepted acceptanceRate refundCount refundVolume { amount } refundRateByCount refundRateByAmount \
      chargebackCount chargebackVolume { amount } chargebackRateByCount chargebackRateByAmount fees { amount } \
      payoutCount payoutVolume { amount } netMovement { amount } } \
    adjustments { class asset capturedCount grossVolume { amount } } } }";

fn this_month() -> String {
    Utc::now().format("%Y-%m").to_string()
}

/// The month `back` months before this one, `YYYY-MM`.
fn months_ago(back: u32) -> (i32, u32) {
    let now = Utc::now();
    let total = now.year() * 12 + now.month0() as i32 - back as i32;
    (total.div_euclid(12), total.rem_euclid(12) as u32 + 1)
}

async fn merchant_of_class(app: &TestApp, name: &str, class: &str) -> String {
    let data = app
        .ok(
            "mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { merchant { id } } }",
            json!({ "i": { "name": name, "class": class, "idempotencyKey": format!("m-{}", name.replace(' ', "_")) } }),
        )
        .await;
    data["createMerchant"]["merchant"]["id"].as_str().expect("id").to_owned()
}

async fn rollup(app: &TestApp, month: &str, class: Option<&str>) -> Value {
    app.ok(ROLLUP, json!({ "m": month, "c": class, "a": null })).await["monthlyRollup"].clone()
}

fn line<'a>(report: &'a Value, class: &str) -> &'a Value {
    report["lines"].as_array().expect("lines").iter().find(|l| l["class"] == class).expect("a line of the class")
}

/// Records a payment of `amount` USD for `merchant`, effective `at`.
async fn pay_at(app: &TestApp, merchant: &str, amount: &str, at: chrono::DateTime<Utc>, key: &str) {
    app.ok(
        "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }",
        json!({ "i": { "merchantId": merchant, "gross": { "amount": amount, "currency": "USD" }, "effectiveAt": at, "idempotencyKey": key } }),
    )
    .await;
}

async fn step(app: &TestApp, mutation: &str, input: Value) {
    let query = format!("mutation($i: {}Input!) {{ {mutation}(input: $i) {{ payment {{ id }} }} }}", {
        let mut c = mutation.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    });
    app.ok(&query, json!({ "i": input })).await;
}

#[tokio::test]
async fn a_constructed_month_gives_known_acceptance_refund_and_chargeback_rates() {
    let app = spawn_app().await;
    let shop = merchant_of_class(&app, "ShirtyPuff", "apparel").await;
    let toys = merchant_of_class(&app, "Toy Box", "toys").await;
    let a: Vec<String> = futures::future::join_all((1..=4).map(|i| {
        let (app, shop) = (&app, &shop);
        async move { app.authorize(shop, "100.00", &format!("auth-{i}")).await }
    }))
    .await;
    step(&app, "capturePayment", json!({ "paymentId": a[0], "idempotencyKey": "cap-1" })).await;
    step(&app, "capturePayment", json!({ "paymentId": a[1], "idempotencyKey": "cap-2" })).await;
    step(
        &app,
        "capturePayment",
        json!({ "paymentId": a[2], "amount": { "amount": "50.00", "currency": "USD" }, "idempotencyKey": "cap-3" }),
    )
    .await;
    step(&app, "voidAuthorization", json!({ "paymentId": a[3], "idempotencyKey": "void-4" })).await;
    // Voiding the rest of a part-captured authorization does not end it twice.
    step(&app, "voidAuthorization", json!({ "paymentId": a[2], "idempotencyKey": "void-3" })).await;
    step(&app, "refundPayment", json!({ "paymentId": a[0], "amount": { "amount": "25.00", "currency": "USD" }, "reason": "late", "idempotencyKey": "ref-1" })).await;
    step(
        &app,
        "openDispute",
        json!({ "paymentId": a[1], "amount": { "amount": "40.00", "currency": "USD" }, "idempotencyKey": "dis-2" }),
    )
    .await;
    let body = app.pay(&toys, "10.00", Some("1.00"), "USD", "toy-1").await;
    assert!(body.get("errors").is_none(), "{body}");
    app.ok(RECORD_PAYOUT, payout_input(&toys, "2.00", "toy-out")).await;

    let report = rollup(&app, &this_month(), None).await;
    assert_eq!(report["closed"], false, "the open month is computed on demand");
    let l = line(&report, "apparel");
    assert_eq!(l["asset"], "USD");
    assert_eq!((l["capturedCount"].as_i64(), l["grossVolume"]["amount"].as_str()), (Some(3), Some("250.00")));
    assert_eq!(l["averageTicket"]["amount"], "83.33", "25000 / 3 minor units, half to even");
    assert_eq!((l["authorizationsEnded"].as_i64(), l["authorizationsAccepted"].as_i64()), (Some(4), Some(3)));
    assert_eq!(l["acceptanceRate"], "0.750000", "3 captured of 4 ended; the void counts as not accepted");
    assert_eq!((l["refundCount"].as_i64(), l["refundVolume"]["amount"].as_str()), (Some(1), Some("25.00")));
    assert_eq!(
        (l["refundRateByCount"].as_str(), l["refundRateByAmount"].as_str()),
        (Some("0.333333"), Some("0.100000"))
    );
    assert_eq!((l["chargebackCount"].as_i64(), l["chargebackVolume"]["amount"].as_str()), (Some(1), Some("40.00")));
    assert_eq!(
        (l["chargebackRateByCount"].as_str(), l["chargebackRateByAmount"].as_str()),
        (Some("0.333333"), Some("0.160000"))
    );
    let t = line(&report, "toys");
    assert_eq!(
        (t["capturedCount"].as_i64(), t["grossVolume"]["amount"].as_str(), t["fees"]["amount"].as_str()),
        (Some(1), Some("10.00"), Some("1.00"))
    );
    assert_eq!(t["acceptanceRate"], Value::Null, "no authorization ended: no rate, not 0 %");
    assert_eq!((t["payoutCount"].as_i64(), t["payoutVolume"]["amount"].as_str()), (Some(1), Some("2.00")));
    assert_eq!(t["netMovement"]["amount"], "7.00", "9.00 earned less 2.00 paid out");

    let only = rollup(&app, &this_month(), Some("toys")).await;
    assert_eq!(only["lines"].as_array().map(Vec::len), Some(1), "the class filter");

    // The CSV export: one row per class and asset, the same figures.
    let csv_url = format!("{}/reports/monthly-rollup.csv?month={}", app.base, this_month());
    let res = app.http.get(&csv_url).bearer_auth(&app.token).send().await.expect("csv");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let text = res.text().await.expect("body");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    assert_eq!(&header[..6], ["month", "line", "class", "asset", "capturedCount", "grossVolume"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 2, "apparel and toys");
    let apparel = rows.iter().find(|r| &r[2] == "apparel").expect("apparel row");
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");
    assert_eq!((&apparel[col("grossVolume")], &apparel[col("acceptanceRate")]), ("250.00", "0.750000"));
    assert_eq!(&rows.iter().find(|r| &r[2] == "toys").expect("toys")[col("acceptanceRate")], "", "no rate is empty");
    for (url, token, status) in [
        (format!("{}/reports/monthly-rollup.csv?month=2026-13", app.base), Some(app.token.clone()), 400),
        (format!("{}/reports/monthly-rollup.csv", app.base), Some(app.token.clone()), 400),
        (csv_url.clone(), None, 401),
    ] {
        let mut req = app.http.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.expect("csv").status(), status, "{url}");
    }

    // Bad input and callers.
    for bad in ["2026-13", "26-01", "2999-01"] {
        let body = app.gql(ROLLUP, json!({ "m": bad })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
    }
    let key = app.merchant_key(&shop).await;
    let body = app.gql_as(Some(&key), ROLLUP, json!({ "m": this_month() })).await;
    assert_eq!(code(&body), "FORBIDDEN", "a merchant key may not read reports: {body}");
    let res = app.http.get(&csv_url).bearer_auth(&key).send().await.expect("csv");
    assert_eq!(res.status(), 403, "nor export them");
    let viewer = app.staff("vera", "VIEWER").await;
    let body = app.gql_as(Some(&viewer), ROLLUP, json!({ "m": this_month() })).await;
    assert!(body.get("errors").is_none(), "staff viewers read reports: {body}");
}

#[tokio::test]
async fn staff_traded_against_swords_give_a_conversion_rate_with_its_deals_and_spread() {
    let app = spawn_app().await;
    for code in ["STAFF", "SWORD"] {
        app.ok(
            "mutation($i: RegisterAssetInput!) { registerAsset(input: $i) { asset { code } } }",
            json!({ "i": { "code": code, "exponent": 0, "idempotencyKey": code } }),
        )
        .await;
    }
    let smith = app.merchant("Staff Smith").await;
    let hero = app.merchant("Hero").await;
    let stock = "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }";
    for (who, asset, amount) in [(&smith, "STAFF", "10"), (&hero, "SWORD", "20")] {
        app.ok(
            stock,
            json!({ "i": { "merchantId": who, "idempotencyKey": format!("stock-{asset}"), "entries": [
                { "accountCode": "goods_clearing", "platform": true, "direction": "DEBIT", "amount": { "amount": amount, "currency": asset } },
                { "accountCode": "available", "direction": "CREDIT", "amount": { "amount": amount, "currency": asset } },
            ] } }),
        )
        .await;
    }
    for (i, (staff, swords)) in [("1", "3"), ("2", "5"), ("1", "4")].iter().enumerate() {
        app.ok(
            "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id } } }",
            json!({ "i": { "sellerId": smith, "buyerId": hero, "idempotencyKey": format!("deal-{i}"),
                "buyerGives": [{ "amount": swords, "currency": "SWORD" }],
                "sellerGives": [{ "amount": staff, "currency": "STAFF" }] } }),
        )
        .await;
    }
    let rates = app
        .ok(
            "query($m: String!) { conversionRates(month: $m) { base quote deals rate low high spread } }",
            json!({ "m": this_month() }),
        )
        .await;
    assert_eq!(
        rates["conversionRates"],
        json!([{ "base": "STAFF", "quote": "SWORD", "deals": 3, "rate": "3.166667", "low": "2.5", "high": "4", "spread": "1.5" }]),
        "1 STAFF traded for 3, 2.5 and 4 SWORD: on average 3.166667"
    );
    let body = app.gql("query { conversionRates(month: \"2026-1\") { base } }", json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_posting_that_commits_while_a_month_closes_is_counted_once_in_the_next_months_adjustments() {
    use sea_orm::TransactionTrait;
    let app = spawn_app().await;
    let shop = merchant_of_class(&app, "Late Shelf", "books").await;
    let (y1, m1) = months_ago(1);
    let last = format!("{y1:04}-{m1:02}");
    pay_at(&app, &shop, "10.00", Utc.with_ymd_and_hms(y1, m1, 3, 12, 0, 0).unwrap(), "early").await;
    // The watermark is the whole PostgreSQL cluster's: other tests' open
    // transactions hold it too, so wait until it has passed every event.
    let watermark_passed = async || {
        let passed = "SELECT CAST(CASE WHEN pg_snapshot_xmin(pg_current_snapshot())::text::bigint > MAX(writer_xid) \
                      THEN 1 ELSE 0 END AS BIGINT) FROM ledger_events";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while app.scalar(passed).await == 0 {
            assert!(std::time::Instant::now() < deadline, "the watermark never passed the last posting");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    watermark_passed().await;

    // A database transaction that has taken an id stays open while a posting
    // dated last month commits and the month closes: the month is computed
    // below the watermark, so the posting is not in it (the old bound, the
    // last sequence, would have let a posting still committing under it be
    // lost between two months).
    let holder = app.db.begin().await.expect("begin");
    holder.execute_unprepared("SELECT pg_current_xact_id()").await.expect("take an xid");
    pay_at(&app, &shop, "7.00", Utc.with_ymd_and_hms(y1, m1, 20, 12, 0, 0).unwrap(), "late").await;
    app.reports.close_due_months(Utc::now()).await.expect("close last month");
    let closed = rollup(&app, &last, None).await;
    assert_eq!(line(&closed, "books")["grossVolume"]["amount"], "10.00", "{closed}");
    holder.rollback().await.expect("end the holder");

    // Once every transaction before it has ended, this month counts it once,
    // as an adjustment.
    watermark_passed().await;
    let next_start = {
        let now = Utc::now();
        let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap()
    };
    app.reports.close_due_months(next_start).await.expect("close this month");
    let this = rollup(&app, &this_month(), None).await;
    assert_eq!(
        this["adjustments"],
        json!([{ "class": "books", "asset": "USD", "capturedCount": 1, "grossVolume": { "amount": "7.00" } }]),
        "{this}"
    );
    assert_eq!(rollup(&app, &last, None).await, closed, "the closed month never changes");
}

#[tokio::test]
async fn a_closed_month_stays_the_same_after_a_backdated_posting_which_shows_next_month_as_an_adjustment() {
    let app = spawn_app().await;
    let shop = merchant_of_class(&app, "Book Nook", "books").await;
    let (y2, m2) = months_ago(2);
    let (y1, m1) = months_ago(1);
    let (two_ago, last) = (format!("{y2:04}-{m2:02}"), format!("{y1:04}-{m1:02}"));
    pay_at(&app, &shop, "100.00", Utc.with_ymd_and_hms(y2, m2, 10, 12, 0, 0).unwrap(), "p1").await;
    pay_at(&app, &shop, "50.00", Utc.with_ymd_and_hms(y1, m1, 5, 12, 0, 0).unwrap(), "p2").await;

    // The job closes both past months, once.
    let closed = app.reports.close_due_months(Utc::now()).await.expect("close");
    assert_eq!(closed.iter().map(ToString::to_string).collect::<Vec<_>>(), vec![two_ago.clone(), last.clone()]);
    assert!(app.reports.close_due_months(Utc::now()).await.expect("again").is_empty(), "never recomputed");
    let months = app.ok("{ rollupMonths { month throughPosition } }", json!({})).await;
    assert_eq!(months["rollupMonths"].as_array().map(Vec::len), Some(2));
    let before = rollup(&app, &two_ago, None).await;
    assert_eq!(before["closed"], true);
    assert_eq!(line(&before, "books")["grossVolume"]["amount"], "100.00");

    // A posting backdated into the closed month does not change it...
    pay_at(&app, &shop, "7.00", Utc.with_ymd_and_hms(y2, m2, 20, 12, 0, 0).unwrap(), "late").await;
    assert_eq!(rollup(&app, &two_ago, None).await, before, "a closed month stays the same");
    // ...it is an adjustment of the next month reported: this one.
    let open = rollup(&app, &this_month(), None).await;
    assert_eq!(open["lines"], json!([]), "nothing dated this month");
    assert_eq!(
        open["adjustments"],
        json!([{ "class": "books", "asset": "USD", "capturedCount": 1, "grossVolume": { "amount": "7.00" } }])
    );

    // Closing this month (a clock at the next month's start) keeps the adjustment.
    let next_start = {
        let now = Utc::now();
        let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap()
    };
    app.reports.close_due_months(next_start).await.expect("close this month");
    let stored = rollup(&app, &this_month(), None).await;
    assert_eq!(stored["closed"], true);
    assert_eq!(stored["adjustments"], open["adjustments"]);

    // Stored rollups are append-only.
    let refused = app.db.execute_unprepared("UPDATE rollup_lines SET captured_minor = 0").await;
    assert!(refused.is_err(), "a stored month cannot be edited");
}

#[tokio::test]
async fn the_scheduled_job_closes_last_month_by_itself() {
    let app = spawn_app_with(&["--rollup-interval-secs", "1"]).await;
    let shop = merchant_of_class(&app, "Late Shop", "late").await;
    let (y, m) = months_ago(1);
    pay_at(&app, &shop, "3.00", Utc.with_ymd_and_hms(y, m, 2, 0, 0, 0).unwrap(), "late-1").await;
    let want = format!("{y:04}-{m:02}");
    for _ in 0..50 {
        let months = app.ok("{ rollupMonths { month } }", json!({})).await;
        if months["rollupMonths"].as_array().is_some_and(|a| a.iter().any(|x| x["month"] == want.as_str())) {
            let report = rollup(&app, &want, None).await;
            assert_eq!(report["closed"], true);
            assert_eq!(line(&report, "late")["grossVolume"]["amount"], "3.00");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the job did not close {want} within 10 s");
}

#[tokio::test]
async fn two_instances_closing_the_same_months_at_once_store_each_month_once() {
    let a = spawn_app().await;
    let b = crate::helpers::spawn_flags(Some(a.database_url.clone()), &[]).await;
    let shop = merchant_of_class(&a, "Twin Shop", "twins").await;
    let (y, m) = months_ago(2);
    pay_at(&a, &shop, "8.00", Utc.with_ymd_and_hms(y, m, 2, 0, 0, 0).unwrap(), "twin-1").await;
    let now = Utc::now();
    let (ra, rb) = tokio::join!(a.reports.close_due_months(now), b.reports.close_due_months(now));
    let (ra, rb) = (ra.expect("a closes"), rb.expect("b closes"));
    assert!(ra.len() + rb.len() >= 2, "between them they closed both past months: {ra:?} {rb:?}");
    assert_eq!(a.count("rollup_months").await, 2, "each month stored once");
    let report = rollup(&b, &format!("{y:04}-{m:02}"), None).await;
    assert_eq!(line(&report, "twins")["grossVolume"]["amount"], "8.00");
}

#[tokio::test]
async fn the_open_months_cache_shows_a_new_posting_within_the_ttl() {
    let app = spawn_app_with(&["--report-cache-ttl-secs", "2"]).await;
    let shop = merchant_of_class(&app, "Cafe", "food").await;
    app.pay(&shop, "5.00", None, "USD", "c1").await;
    let count = |r: &Value| line(r, "food")["capturedCount"].as_i64();
    assert_eq!(count(&rollup(&app, &this_month(), None).await), Some(1));
    app.pay(&shop, "6.00", None, "USD", "c2").await;
    assert_eq!(count(&rollup(&app, &this_month(), None).await), Some(1), "served from the cache within the TTL");
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    assert_eq!(count(&rollup(&app, &this_month(), None).await), Some(2), "fresh once the TTL has passed");
}

#[tokio::test]
async fn with_redis_two_instances_share_the_open_months_cache_and_a_bad_redis_url_stops_start_up() {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("ledger-test-{}", uuid::Uuid::new_v4().simple());
    let flags = ["--redis-url", redis.as_str(), "--redis-key-prefix", prefix.as_str(), "--report-cache-ttl-secs", "3"];
    let a = spawn_app_with(&flags).await;
    let b = crate::helpers::spawn_flags(Some(a.database_url.clone()), &flags).await;
    let shop = merchant_of_class(&a, "Shared Cafe", "food").await;
    a.pay(&shop, "5.00", None, "USD", "s1").await;
    let count = |r: &Value| line(r, "food")["capturedCount"].as_i64();
    assert_eq!(count(&rollup(&a, &this_month(), None).await), Some(1), "instance A computes and caches");
    a.pay(&shop, "6.00", None, "USD", "s2").await;
    assert_eq!(count(&rollup(&b, &this_month(), None).await), Some(1), "instance B is served A's cached figures");
    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    assert_eq!(count(&rollup(&b, &this_month(), None).await), Some(2), "fresh once the TTL has passed");

    let settings = crate::helpers::settings_for(&a.database_url, &["--redis-url", "redis://127.0.0.1:1"]);
    let refused = ledger_server::startup::Application::build(&settings).await;
    assert!(
        refused.err().is_some_and(|e| e.to_string().contains("REDIS_URL")),
        "a configured cache that does not work stops start-up"
    );
}
