//! The platform's accounts as control accounts kept per merchant (issue 17):
//! each merchant's payments post to the platform's subsidiary accounts in
//! that merchant's books, the trial balance's platform lines sum them, and no
//! merchant can see or open them.

use serde_json::json;

use crate::helpers::{code, spawn_app};

const TRIAL: &str =
    "{ trialBalance { code asset platform accounts debitsPosted { amount } creditsPosted { amount } } }";

/// One figure (`column` of `balances`, minor units) of the platform's
/// subsidiary account with `code` in `merchant`'s books.
async fn subsidiary(app: &crate::helpers::TestApp, code: &str, column: &str, merchant: &str) -> i64 {
    app.scalar(&format!(
        "SELECT b.{column} FROM balances b JOIN accounts a ON a.id = b.account_id \
         WHERE a.code = '{code}' AND a.platform AND a.merchant_id = '{merchant}'"
    ))
    .await
}

#[tokio::test]
async fn each_merchants_payments_post_to_the_platforms_accounts_in_its_own_books() {
    // Arrange
    let app = spawn_app().await;
    let a = app.merchant("Sub A").await;
    let b = app.merchant("Sub B").await;

    // Act
    app.pay(&a, "10.00", Some("1.00"), "USD", "sub-a1").await;
    app.pay(&a, "5.00", Some("0.50"), "USD", "sub-a2").await;
    app.pay(&b, "20.00", Some("2.00"), "USD", "sub-b1").await;

    // Assert: every entry of a merchant's transaction is on an account of
    // that merchant's books, its own or the platform's subsidiary for it.
    let strays = app
        .scalar(
            "SELECT COUNT(*) FROM entries e JOIN transactions t ON t.seq = e.transaction_seq \
             JOIN accounts a ON a.id = e.account_id WHERE a.merchant_id <> t.merchant_id",
        )
        .await;
    assert_eq!(strays, 0, "an entry left its merchant's books");
    // No balance row is shared: the platform's own books were not touched.
    let platform_own = app.count("accounts WHERE merchant_id = '00000000-0000-0000-0000-000000000000'").await;
    assert_eq!(platform_own, 0);
    // The control account is the sum of its subsidiary accounts.
    let data = app.ok(TRIAL, json!({})).await;
    let lines = data["trialBalance"].as_array().expect("lines");
    let line = |code: &str, platform: bool| {
        lines
            .iter()
            .find(|l| l["code"] == code && l["asset"] == "USD" && l["platform"] == platform)
            .unwrap_or_else(|| panic!("no {code} line: {data}"))
            .clone()
    };
    let fees = line("fee_revenue", true);
    assert_eq!(fees["creditsPosted"]["amount"], "3.50");
    assert_eq!(fees["accounts"], 2, "one fee account per merchant");
    let clearing = line("processor_clearing", true);
    assert_eq!(clearing["debitsPosted"]["amount"], "35.00");
    assert_eq!(line("available", false)["creditsPosted"]["amount"], "31.50");
    let fee_a = subsidiary(&app, "fee_revenue", "credits_posted", &a).await;
    assert_eq!(fee_a, 150, "A's subsidiary holds A's fees only");
    // platformBalances answers the same control accounts, one asset at a time.
    let platform = app
        .ok(
            "query($a: String) { platformBalances(asset: $a) { code asset accounts creditsPosted { amount } } }",
            json!({ "a": "USD" }),
        )
        .await;
    let controls = platform["platformBalances"].as_array().expect("lines");
    assert!(controls.iter().all(|l| l["asset"] == "USD"), "{platform}");
    let fee_line = controls.iter().find(|l| l["code"] == "fee_revenue").expect("fee_revenue");
    assert_eq!(fee_line["creditsPosted"]["amount"], "3.50");
    assert_eq!(fee_line["accounts"], 2);
    assert_eq!(controls.len(), lines.iter().filter(|l| l["platform"] == true).count());
    let unknown = app.gql("{ platformBalances(asset: \"XYZ\") { code } }", json!({})).await;
    assert_eq!(code(&unknown), "UNKNOWN_ASSET", "{unknown}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_merchant_key_neither_sees_nor_opens_the_platforms_accounts_in_its_books() {
    // Arrange
    let app = spawn_app().await;
    let a = app.merchant("Sub Key").await;
    let key = app.merchant_key(&a).await;
    let paid = app.pay(&a, "10.00", Some("1.00"), "USD", "sub-key-1").await;
    let entries = paid["data"]["recordPayment"]["transaction"]["entries"].as_array().expect("entries").clone();
    let platform_ids: Vec<String> = entries
        .iter()
        .filter(|e| e["account"]["code"] != "available")
        .map(|e| e["account"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(platform_ids.len(), 2, "clearing and fee: {paid}");
    let before = app.count("accounts").await;

    // Act
    let lookups: Vec<serde_json::Value> = {
        let mut out = Vec::new();
        for id in &platform_ids {
            out.push(
                app.gql_as(Some(&key), "query($id: ID!) { account(id: $id) { id code } }", json!({ "id": id })).await,
            );
        }
        out
    };
    let listed =
        app.ok_as(Some(&key), "query($id: ID!) { merchant(id: $id) { accounts { code } } }", json!({ "id": a })).await;
    let open = |code: &str, normal: &str, key_name: &str| json!({ "i": { "merchantId": a, "code": code, "asset": "USD", "normalBalance": normal, "idempotencyKey": key_name } });
    let opened = "mutation($i: OpenAccountInput!) { openAccount(input: $i) { account { id } } }";
    let by_key = app.gql_as(Some(&key), opened, open("fee_revenue", "CREDIT", "sub-open-1")).await;
    let by_staff = app.gql(opened, open("processor_clearing", "DEBIT", "sub-open-2")).await;

    // Assert
    for body in &lookups {
        assert_eq!(code(body), "NOT_FOUND", "{body}");
    }
    let codes: Vec<&str> = listed["merchant"]["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter_map(|x| x["code"].as_str())
        .collect();
    assert_eq!(codes, vec!["available"], "only the merchant's own accounts are listed");
    assert_eq!(code(&by_key), "ACCOUNT_CODE_RESERVED", "{by_key}");
    assert_eq!(code(&by_staff), "ACCOUNT_CODE_RESERVED", "{by_staff}");
    assert_eq!(app.count("accounts").await, before, "a refused open wrote an account");
    assert_eq!(app.count("idempotency_keys WHERE key LIKE 'sub-open-%'").await, 0);
}

#[tokio::test]
async fn verify_catches_a_balance_row_filed_under_another_code() {
    // Arrange
    let app = spawn_app().await;
    let m = app.merchant("Sub Verify").await;
    app.pay(&m, "10.00", Some("1.00"), "USD", "sub-verify-1").await;
    let clean = ledger_server::core::reports::verify(&app.db).await.expect("verify");
    assert!(clean.is_clean(), "{clean:?}");

    // Act: the copy of the code that the control accounts group by, edited
    // behind the ledger's back.
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared("UPDATE balances SET code = 'bank' WHERE code = 'fee_revenue'").await.expect("update");
    let report = ledger_server::core::reports::verify(&app.db).await.expect("verify");

    // Assert
    assert!(!report.is_clean());
    assert!(report.balance_mismatches.iter().any(|l| l.contains("filed as bank")), "{report:?}");
    // Repaired, so the closing check of every test finds clean books.
    app.db.execute_unprepared("UPDATE balances SET code = 'fee_revenue' WHERE code = 'bank'").await.expect("repair");
    assert!(ledger_server::core::reports::verify(&app.db).await.expect("verify").is_clean());
}

/// The platform's accounts in the books, one line per code and asset: the
/// control account's posted and pending totals over `accounts` (a filter on
/// `a`), and how many accounts it sums.
async fn platform_figures(app: &crate::helpers::TestApp, accounts: &str) -> Vec<String> {
    app.lines(&format!(
        "SELECT a.code || ' ' || a.asset || ' ' || CAST(SUM(b.debits_posted) AS TEXT) || ' ' \
           || CAST(SUM(b.credits_posted) AS TEXT) || ' ' || CAST(SUM(b.debits_pending) AS TEXT) || ' ' \
           || CAST(SUM(b.credits_pending) AS TEXT) AS line \
         FROM accounts a JOIN balances b ON b.account_id = a.id WHERE {accounts} \
         GROUP BY a.code, a.asset ORDER BY 1"
    ))
    .await
}

/// Every merchant's own balances, one line per account.
async fn merchant_figures(app: &crate::helpers::TestApp) -> Vec<String> {
    app.lines(
        "SELECT CAST(a.id AS TEXT) || ' ' || CAST(a.merchant_id AS TEXT) || ' ' || a.code || ' ' || a.asset || ' ' \
           || CAST(b.debits_posted AS TEXT) || ' ' || CAST(b.credits_posted AS TEXT) || ' ' \
           || CAST(b.debits_pending AS TEXT) || ' ' || CAST(b.credits_pending AS TEXT) AS line \
         FROM accounts a JOIN balances b ON b.account_id = a.id WHERE NOT a.platform ORDER BY 1",
    )
    .await
}

/// The platform's own pseudo-merchant.
const NIL: &str = "'00000000-0000-0000-0000-000000000000'";

/// The platform's chart, as migration 10 names it.
const PLATFORM_CODES: &str =
    "('processor_clearing', 'fee_revenue', 'bank', 'disputes', 'payouts_in_transit', 'goods_clearing')";

/// Turns books of today's write path, on the schema before migration 10,
/// into books as that schema's server wrote them: each platform code and
/// asset is one account of the platform's own (the nil merchant) that holds
/// every merchant's platform legs. The subsidiary accounts' entries move to
/// it and their balances add up into its row. Entries are append-only, so
/// this runs with triggers off (`session_replication_role = replica`), as
/// only a test may.
fn fold_into_shared_platform_accounts() -> String {
    format!(
        "BEGIN;
SET LOCAL session_replication_role = replica;
CREATE TEMP TABLE subsidiaries ON COMMIT DROP AS
  SELECT id AS sub_id, code, asset, normal_balance, CAST(NULL AS uuid) AS shared_id
  FROM accounts WHERE merchant_id <> {NIL} AND code IN {PLATFORM_CODES};
INSERT INTO accounts (id, merchant_id, code, asset, normal_balance, created_at)
  SELECT gen_random_uuid(), {NIL}, code, asset, MIN(normal_balance), now() FROM subsidiaries s
  WHERE NOT EXISTS (SELECT 1 FROM accounts n WHERE n.merchant_id = {NIL} AND n.code = s.code AND n.asset = s.asset)
  GROUP BY code, asset;
UPDATE subsidiaries s SET shared_id = n.id FROM accounts n
  WHERE n.merchant_id = {NIL} AND n.code = s.code AND n.asset = s.asset;
INSERT INTO balances (account_id, merchant_id, asset)
  SELECT n.id, {NIL}, n.asset FROM accounts n
  WHERE n.merchant_id = {NIL} AND NOT EXISTS (SELECT 1 FROM balances b WHERE b.account_id = n.id);
UPDATE entries e SET account_id = s.shared_id FROM subsidiaries s WHERE e.account_id = s.sub_id;
UPDATE balances b SET debits_posted = b.debits_posted + t.dp, credits_posted = b.credits_posted + t.cp,
    debits_pending = b.debits_pending + t.dq, credits_pending = b.credits_pending + t.cq,
    last_transaction_seq = GREATEST(b.last_transaction_seq, t.last_seq)
  FROM (SELECT s.shared_id, SUM(x.debits_posted) AS dp, SUM(x.credits_posted) AS cp,
          SUM(x.debits_pending) AS dq, SUM(x.credits_pending) AS cq, MAX(x.last_transaction_seq) AS last_seq
        FROM balances x JOIN subsidiaries s ON s.sub_id = x.account_id GROUP BY s.shared_id) t
  WHERE b.account_id = t.shared_id;
DELETE FROM balances WHERE account_id IN (SELECT sub_id FROM subsidiaries);
DELETE FROM accounts WHERE id IN (SELECT sub_id FROM subsidiaries);
COMMIT;"
    )
}

/// Issue 17's migration of existing books: a database written when the
/// platform kept one account per code and asset for all merchants is
/// migrated in place. Every transaction and entry is kept, every merchant
/// balance is identical, each control account equals the old platform
/// account, `verify` is clean, the append-only triggers are back, and new
/// payments post to the merchant's subsidiary accounts under the same control
/// account.
#[tokio::test]
async fn books_with_shared_platform_accounts_migrate_in_place_and_each_control_account_equals_the_old_one() {
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;
    // Arrange: every kind of transaction, then the schema before migration
    // 10 and the books as its server wrote them.
    let app = spawn_app().await;
    let (shop, _smith) = crate::journals::every_kind_of_transaction(&app).await;
    let merchants = merchant_figures(&app).await;
    let controls = platform_figures(&app, "a.platform").await;
    assert!(controls.len() >= 4, "the fixture touches the platform's chart: {controls:?}");
    let (transactions, entries) = (app.count("transactions").await, app.count("entries").await);
    let steps = crate::helpers::steps_back_to("m20261202_000010_platform_subledgers");
    migration::Migrator::down(&app.db, Some(steps)).await.expect("down to before the subsidiary ledgers");
    app.db.execute_unprepared(&fold_into_shared_platform_accounts()).await.expect("fold into shared accounts");
    let old = platform_figures(&app, &format!("a.merchant_id = {NIL}")).await;
    assert_eq!(old, controls, "the old books hold the same platform figures, one account each");
    let shared = app.count(&format!("accounts WHERE merchant_id = {NIL}")).await;
    assert_eq!(shared, controls.len() as i64, "one platform account per code and asset");
    let subsidiaries = app.count(&format!("accounts WHERE merchant_id <> {NIL} AND code IN {PLATFORM_CODES}")).await;
    assert_eq!(subsidiaries, 0);

    // Act
    migration::Migrator::up(&app.db, None).await.expect("migrate up");

    // Assert: all kept, merchants identical, each control account the old
    // account, verify clean, append-only again.
    assert_eq!(app.count("transactions").await, transactions);
    assert_eq!(app.count("entries").await, entries);
    assert_eq!(merchant_figures(&app).await, merchants);
    assert_eq!(platform_figures(&app, "a.platform").await, old);
    assert_eq!(app.count("accounts WHERE platform").await, shared, "the old accounts are the platform's own");
    app.assert_books_consistent().await;
    for table in ["entries", "transactions"] {
        let refused = app.db.execute_unprepared(&format!("UPDATE {table} SET merchant_id = merchant_id")).await;
        let refused = refused.expect_err("an update of the journal went through").to_string();
        assert!(refused.contains("append-only"), "{table} is append-only again after the migration: {refused}");
    }
    // The API answers the control accounts from the migrated rows.
    const CONTROLS: &str = "{ platformBalances(asset: \"USD\") { code accounts debitsPosted { amount } } }";
    let clearing = |data: serde_json::Value| {
        let lines = data["platformBalances"].as_array().expect("lines").clone();
        lines.into_iter().find(|l| l["code"] == "processor_clearing").unwrap_or_else(|| panic!("{data}"))
    };
    let before = clearing(app.ok(CONTROLS, json!({})).await);
    assert_eq!(before["accounts"], 1, "{before}");
    // A new payment posts to the shop's subsidiary account, under the same
    // control account.
    app.pay(&shop, "10.00", Some("1.00"), "USD", "after-migration").await;
    let after = clearing(app.ok(CONTROLS, json!({})).await);
    assert_eq!(after["accounts"], 2, "the old account and the shop's subsidiary: {after}");
    let cents = |v: &serde_json::Value| {
        v["debitsPosted"]["amount"].as_str().expect("amount").replace('.', "").parse::<i64>().expect("cents")
    };
    assert_eq!(cents(&after) - cents(&before), 1000, "the new payment went to the control account");
    let held = subsidiary(&app, "processor_clearing", "debits_posted", &shop).await;
    assert_eq!(held, 1000, "in the shop's subsidiary account");
    let unknown = app.gql("{ platformBalances(asset: \"XYZ\") { code } }", json!({})).await;
    assert_eq!(code(&unknown), "UNKNOWN_ASSET", "{unknown}");
}
