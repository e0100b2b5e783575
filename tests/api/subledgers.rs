//! The platform's accounts as control accounts kept per merchant (issue 17):
//! each merchant's payments post to the platform's subsidiary accounts in
//! that merchant's books, the trial balance's platform lines sum them, and no
//! merchant can see or open them.

use serde_json::json;

use crate::helpers::{code, spawn_app};

const TRIAL: &str =
    "{ trialBalance { code asset platform accounts debitsPosted { amount } creditsPosted { amount } } }";

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
    let fee_a = app
        .scalar(&format!(
            "SELECT b.credits_posted FROM balances b JOIN accounts a ON a.id = b.account_id \
             WHERE a.code = 'fee_revenue' AND a.platform AND a.merchant_id = '{a}'"
        ))
        .await;
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
