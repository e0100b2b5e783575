//! Row-level security, tried directly in SQL through the application role's
//! pool (PostgreSQL): no tenant sees nothing, a tenant sees only its own rows,
//! a pooled connection forgets its tenant, and the application role can neither
//! own a table nor rewrite history.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// Every table with row-level security, with the column naming its merchant.
const TABLES: [(&str, &str); 12] = [
    ("merchants", "id"),
    ("accounts", "merchant_id"),
    ("balances", "merchant_id"),
    ("transactions", "merchant_id"),
    ("entries", "merchant_id"),
    ("idempotency_keys", "merchant_id"),
    ("payments", "merchant_id"),
    ("payouts", "merchant_id"),
    ("fee_schedules", "merchant_id"),
    ("payout_settings", "merchant_id"),
    ("api_keys", "merchant_id"),
    ("audit_log", "merchant_id"),
];

fn stmt(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql.to_owned())
}

async fn scalar_i64(conn: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(stmt(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index::<i64>(0).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn scalar_text(conn: &impl ConnectionTrait, sql: &str) -> Option<String> {
    let row = conn
        .query_one_raw(stmt(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index::<Option<String>>(0).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A pool of ONE connection acting as the application role, so consecutive
/// transactions run on the same server connection.
async fn app_pool(app: &TestApp) -> DatabaseConnection {
    ledger_server::core::connect_app(&app.database_url, 1).await.expect("connect as the application role")
}

/// Starts a transaction; with `tenant`, sets `ledger.tenant` for it.
async fn begin(pool: &DatabaseConnection, tenant: Option<&str>) -> DatabaseTransaction {
    let txn = pool.begin().await.expect("begin");
    if let Some(t) = tenant {
        txn.execute_unprepared(&format!("SELECT set_config('ledger.tenant', '{t}', true)")).await.expect("set tenant");
    }
    txn
}

/// Two merchants, each with payments, a captured payment, a reversal by staff,
/// a payout, a fee schedule, payout settings, an API key and a write made with
/// that key.
async fn populate(app: &TestApp) -> (String, String) {
    let a = app.merchant("Alpha").await;
    let b = app.merchant("Beta").await;
    for (m, tag) in [(&a, "a"), (&b, "b")] {
        let kept = app.pay(m, "10.00", Some("1.00"), "USD", &format!("{tag}-p1")).await;
        assert!(kept.get("errors").is_none(), "{kept}");
        let undone = app.pay(m, "3.00", None, "USD", &format!("{tag}-p2")).await;
        let undone_id = undone["data"]["recordPayment"]["transaction"]["id"].as_str().expect("txn id").to_owned();
        app.ok(
            "mutation($id: ID!, $k: String!) { reverseTransaction(transactionId: $id, reason: \"rls test\", idempotencyKey: $k) { transaction { id } } }",
            json!({ "id": undone_id, "k": format!("{tag}-rev") }),
        )
        .await;
        let auth = app
            .ok(
                "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
                json!({ "i": { "merchantId": m, "amount": { "amount": "5.00", "currency": "USD" }, "idempotencyKey": format!("{tag}-auth") } }),
            )
            .await;
        app.ok(
            "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { id } } }",
            json!({ "i": { "paymentId": auth["authorizePayment"]["payment"]["id"], "idempotencyKey": format!("{tag}-cap") } }),
        )
        .await;
        app.ok(
            "mutation($i: SetFeeScheduleInput!) { setFeeSchedule(input: $i) { percentBps } }",
            json!({ "i": { "merchantId": m, "asset": "USD", "percentBps": 100, "idempotencyKey": format!("{tag}-fees") } }),
        )
        .await;
        app.ok(
            "mutation($i: SetPayoutSettingsInput!) { setPayoutSettings(input: $i) { asset } }",
            json!({ "i": { "merchantId": m, "asset": "USD", "reserve": "1.00", "idempotencyKey": format!("{tag}-settings") } }),
        )
        .await;
        app.ok(
            "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id } } }",
            json!({ "i": { "merchantId": m, "asset": "USD", "idempotencyKey": format!("{tag}-payout") } }),
        )
        .await;
        // A write with the merchant's own key: idempotency records are scoped to
        // the caller, so this gives the merchant rows in `idempotency_keys`.
        // (A merchant key records no payments; setting its payout reserve is
        // one of its own writes.)
        let key = app.merchant_key(m).await;
        app.ok_as(
            Some(&key),
            "mutation($i: SetPayoutSettingsInput!) { setPayoutSettings(input: $i) { asset } }",
            json!({ "i": { "merchantId": m, "asset": "USD", "reserve": "1.00", "idempotencyKey": format!("{tag}-own") } }),
        )
        .await;
    }
    (a, b)
}

#[tokio::test]
async fn with_no_tenant_set_the_app_role_sees_no_rows() {
    let app = spawn_app().await;
    populate(&app).await;
    // Control: the rows exist (the superuser sees them).
    for (table, _) in TABLES {
        let n = scalar_i64(&app.db, &format!("SELECT count(*) FROM {table}")).await;
        assert!(n > 0, "setup: {table} has rows for the superuser");
    }
    let pool = app_pool(&app).await;
    let txn = begin(&pool, None).await;
    for (table, _) in TABLES {
        let n = scalar_i64(&txn, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n, 0, "with no tenant set, the app role sees {n} rows of {table}");
    }
    txn.commit().await.expect("commit");
    // Outside any explicit transaction, too.
    for (table, _) in TABLES {
        let n = scalar_i64(&pool, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n, 0, "with no tenant set (autocommit), the app role sees {n} rows of {table}");
    }
}

#[tokio::test]
async fn with_tenant_a_set_no_row_of_b_is_visible() {
    let app = spawn_app().await;
    let (a, b) = populate(&app).await;
    let pool = app_pool(&app).await;
    for (me, other) in [(&a, &b), (&b, &a)] {
        let txn = begin(&pool, Some(me)).await;
        for (table, col) in TABLES {
            let mine = scalar_i64(&txn, &format!("SELECT count(*) FROM {table} WHERE {col} = '{me}'")).await;
            let theirs = scalar_i64(&txn, &format!("SELECT count(*) FROM {table} WHERE {col} = '{other}'")).await;
            // Nothing but the tenant's own rows (a deal's counterparty also sees it; there are none here).
            let not_mine =
                scalar_i64(&txn, &format!("SELECT count(*) FROM {table} WHERE {col} IS DISTINCT FROM '{me}'")).await;
            let superuser_mine =
                scalar_i64(&app.db, &format!("SELECT count(*) FROM {table} WHERE {col} = '{me}'")).await;
            assert_eq!(theirs, 0, "tenant {me} sees {theirs} rows of the other merchant in {table}");
            assert_eq!(
                not_mine, 0,
                "tenant {me} sees {not_mine} rows of {table} that are not its own (other tenants or the platform)"
            );
            assert!(superuser_mine > 0, "setup: {table} has rows of {me}");
            assert_eq!(mine, superuser_mine, "tenant {me} sees all its own rows of {table}");
        }
        txn.commit().await.expect("commit");
    }
    // Control: with `*` the app role sees both merchants.
    let txn = begin(&pool, Some("*")).await;
    let both = scalar_i64(&txn, &format!("SELECT count(*) FROM merchants WHERE id IN ('{a}', '{b}')")).await;
    assert_eq!(both, 2);
    txn.commit().await.expect("commit");
}

#[tokio::test]
async fn a_pooled_connection_does_not_keep_the_tenant() {
    let app = spawn_app().await;
    let (a, _b) = populate(&app).await;
    let pool = app_pool(&app).await;

    let txn = begin(&pool, Some(&a)).await;
    let pid1 = scalar_i64(&txn, "SELECT pg_backend_pid()::bigint").await;
    assert!(scalar_i64(&txn, "SELECT count(*) FROM transactions").await > 0, "tenant A sees its transactions");
    assert!(scalar_i64(&txn, "SELECT count(*) FROM merchants").await == 1, "tenant A sees its merchant");
    txn.commit().await.expect("commit");

    let txn = begin(&pool, None).await;
    let pid2 = scalar_i64(&txn, "SELECT pg_backend_pid()::bigint").await;
    assert_eq!(pid1, pid2, "setup: both transactions ran on the same connection");
    let tenant = scalar_text(&txn, "SELECT current_setting('ledger.tenant', true)").await;
    assert!(tenant.as_deref().unwrap_or("").is_empty(), "the next transaction inherited tenant {tenant:?}");
    for (table, _) in TABLES {
        let n = scalar_i64(&txn, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n, 0, "the next transaction on the connection sees {n} rows of {table}");
    }
    txn.commit().await.expect("commit");

    // A rolled-back transaction leaves no tenant behind either.
    let txn = begin(&pool, Some(&a)).await;
    assert!(scalar_i64(&txn, "SELECT count(*) FROM entries").await > 0);
    txn.rollback().await.expect("rollback");
    let txn = begin(&pool, None).await;
    assert_eq!(scalar_i64(&txn, "SELECT pg_backend_pid()::bigint").await, pid1);
    assert_eq!(scalar_i64(&txn, "SELECT count(*) FROM entries").await, 0, "after a rollback the tenant is gone");
    let tenant = scalar_text(&txn, "SELECT current_setting('ledger.tenant', true)").await;
    assert!(tenant.as_deref().unwrap_or("").is_empty(), "after a rollback the tenant is {tenant:?}");
    txn.commit().await.expect("commit");
}

/// Rows of the append-only tables, and audit rows with the reason the test tries to write.
async fn history(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("transactions").await,
        app.count("entries").await,
        app.count("audit_log").await,
        scalar_i64(&app.db, "SELECT count(*) FROM audit_log WHERE reason = 'x'").await,
    )
}

#[tokio::test]
async fn the_app_role_owns_no_table_and_cannot_rewrite_history() {
    let app = spawn_app().await;
    let (a, _b) = populate(&app).await;
    let role = ledger_server::core::APP_ROLE;
    assert_eq!(role, "ledger_app");

    // It exists, owns nothing, and cannot bypass row-level security.
    let exists = scalar_i64(
        &app.db,
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}' AND NOT rolsuper AND NOT rolbypassrls"),
    )
    .await;
    assert_eq!(exists, 1, "role {role} exists, is no superuser and does not bypass RLS");
    let owned = scalar_i64(
        &app.db,
        &format!("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = '{role}'"),
    )
    .await;
    assert_eq!(owned, 0, "{role} owns {owned} tables");
    let owned_any = scalar_i64(
        &app.db,
        &format!("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = '{role}'"),
    )
    .await;
    assert_eq!(owned_any, 0, "{role} owns {owned_any} relations");
    for (table, _) in TABLES {
        let rls = scalar_i64(
            &app.db,
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{table}' AND relnamespace = 'public'::regnamespace AND relrowsecurity"),
        )
        .await;
        assert_eq!(rls, 1, "row-level security is enabled on {table}");
    }

    let pool = app_pool(&app).await;
    let txn = begin(&pool, None).await;
    assert_eq!(scalar_text(&txn, "SELECT current_user::text").await.as_deref(), Some(role));
    txn.commit().await.expect("commit");

    let before = history(&app).await;
    assert!(before.2 > 0, "setup: the audit log has rows");

    // Control: with `*` the app role sees the rows it will try to change.
    let txn = begin(&pool, Some("*")).await;
    assert!(scalar_i64(&txn, "SELECT count(*) FROM transactions").await > 0);
    assert!(scalar_i64(&txn, "SELECT count(*) FROM entries").await > 0);
    assert!(scalar_i64(&txn, "SELECT count(*) FROM audit_log").await > 0);
    assert!(scalar_i64(&txn, &format!("SELECT count(*) FROM audit_log WHERE merchant_id = '{a}'")).await > 0);
    txn.commit().await.expect("commit");

    for sql in [
        "UPDATE transactions SET kind = kind",
        "DELETE FROM transactions",
        "UPDATE entries SET amount = amount",
        "DELETE FROM entries",
        "TRUNCATE entries",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET reason = 'x'",
        "TRUNCATE audit_log",
    ] {
        let txn = begin(&pool, Some("*")).await;
        let result = txn.execute_unprepared(sql).await;
        assert!(result.is_err(), "the app role ran `{sql}`: {result:?}");
        txn.rollback().await.expect("rollback");
    }
    assert_eq!(history(&app).await, before, "nothing was changed");
    // The connection is still usable after the refusals.
    let txn = begin(&pool, Some("*")).await;
    assert!(scalar_i64(&txn, "SELECT count(*) FROM transactions").await > 0);
    txn.commit().await.expect("commit");
}

#[tokio::test]
async fn the_owners_balance_totals_answer_only_a_reader_who_sees_every_merchant() {
    // Arrange: two merchants' books; the function runs as the tables' owner,
    // past row-level security, so it must refuse to widen anyone's view.
    let app = spawn_app().await;
    let (a, _) = populate(&app).await;
    let pool = app_pool(&app).await;
    let rows = "SELECT count(*) FROM ledger_balance_totals(NULL, false)";
    let accounts = "SELECT CAST(coalesce(sum(accounts), 0) AS BIGINT) FROM ledger_balance_totals(NULL, false)";

    // Act and assert: a merchant's tenant, or none, gets no totals at all.
    for tenant in [Some(a.as_str()), None, Some("")] {
        let txn = begin(&pool, tenant).await;
        assert_eq!(scalar_i64(&txn, rows).await, 0, "tenant {tenant:?} got totals past row-level security");
        txn.commit().await.expect("commit");
    }
    // Staff (`*`) get the totals of every balance row, as the owner sees them.
    let txn = begin(&pool, Some("*")).await;
    let counted = scalar_i64(&txn, accounts).await;
    txn.commit().await.expect("commit");
    assert_eq!(counted, scalar_i64(&app.db, "SELECT count(*) FROM balances").await, "every balance row summed once");
}
