//! Reports read only the reporting database: a real PostgreSQL streaming
//! replica of the test cluster (`scripts/test` starts one on 127.0.0.1:5433
//! and sets `TEST_REPLICA_URL`). The check is PostgreSQL's own per-server
//! statistics: scans of `entries` and `transactions` (what a rollup reads)
//! grow on the replica and not at all on the primary while reports run.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::json;

use crate::helpers::{TestApp, spawn_flags};

/// Longer than PostgreSQL's idle flush of statistics (10 s).
const STATS_SETTLE: Duration = Duration::from_secs(11);

fn replica_url_for(database: &str) -> String {
    let base = std::env::var("TEST_REPLICA_URL")
        .expect("TEST_REPLICA_URL: a streaming replica of the test PostgreSQL (scripts/test starts one)");
    let (server, _) = base.rsplit_once('/').expect("the URL names a database");
    format!("{server}/{database}")
}

/// Sequential plus index scans of the tables a rollup reads, on one server.
async fn report_table_scans(db: &DatabaseConnection) -> i64 {
    // A backend flushes its statistics to the shared view when it goes idle,
    // but at most once a second; what it could not flush then waits for its
    // idle timeout (PGSTAT_IDLE_INTERVAL, 10 s in PostgreSQL 15). Wait that out.
    tokio::time::sleep(STATS_SETTLE).await;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(SUM(seq_scan + COALESCE(idx_scan, 0)), 0) AS BIGINT) FROM pg_stat_user_tables \
             WHERE relname IN ('entries', 'transactions')"
                .to_owned(),
        ))
        .await
        .expect("stats")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("scans")
}

async fn count_on(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

async fn replica_catches_up(replica: &DatabaseConnection, app: &TestApp) {
    let want = app.count("transactions").await;
    for _ in 0..100 {
        if count_on(replica, "transactions").await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replica did not catch up with {want} transactions");
}

#[tokio::test]
async fn with_a_reporting_replica_every_report_query_reads_the_replica_and_none_the_primary() {
    // The database is created on the primary; the replica follows it.
    let admin_url = crate::helpers::admin_url();
    let server = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("admin url has a database");
    let database = format!("ledger_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await.expect("connect to PostgreSQL");
    admin.execute_unprepared(&format!("CREATE DATABASE {database}")).await.expect("create test database");
    let replica_url = replica_url_for(&database);
    let mut tries = 0;
    let replica = loop {
        match Database::connect(&replica_url).await {
            Ok(db) => break db,
            Err(e) => {
                tries += 1;
                assert!(tries < 100, "connect to the replica: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let app = spawn_flags(
        Some(format!("{server}/{database}")),
        &["--reporting-database-url", &replica_url, "--report-cache-ttl-secs", "1"],
    )
    .await;
    let shop = app.merchant("Replica Shop").await;
    for i in 0..5 {
        app.pay(&shop, "12.00", Some("0.12"), "USD", &format!("r-{i}")).await;
    }
    replica_catches_up(&replica, &app).await;

    let (primary_before, replica_before) = tokio::join!(report_table_scans(&app.db), report_table_scans(&replica));
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let report = app
        .ok(
            "query($m: String!) { monthlyRollup(month: $m) { lines { class capturedCount grossVolume { amount } } } \
             conversionRates(month: $m) { base } rollupMonths { month } }",
            json!({ "m": month }),
        )
        .await;
    assert_eq!(report["monthlyRollup"]["lines"][0]["capturedCount"], 5, "{report}");
    assert_eq!(report["monthlyRollup"]["lines"][0]["grossVolume"]["amount"], "60.00");
    let res = app
        .http
        .get(format!("{}/reports/monthly-rollup.csv?month={month}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("csv");
    assert_eq!(res.status(), 200);
    let (primary_after, replica_after) = tokio::join!(report_table_scans(&app.db), report_table_scans(&replica));
    assert_eq!(primary_after, primary_before, "no report query touched the primary's ledger tables");
    assert!(replica_after > replica_before, "the reports read the replica ({replica_before} → {replica_after})");

    // The replica is read-only: a write sent there would fail, so the job's
    // store of a closed month goes to the primary.
    let refused = replica.execute_unprepared("CREATE TABLE should_fail (x INT)").await;
    assert!(refused.is_err(), "the reporting database is a read-only standby");
}
