//! The audit trail: every transaction records who wrote it (actor), in which
//! request (request id) and under which idempotency key; staff refunds and
//! reversals land in the audit log with their reason and result, a staff
//! refund needs a reason, and only staff read the log.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_USERNAME, TestApp, code, spawn_app, txn_id};

const RECORD: &str = "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed transaction { id actor requestId idempotencyKey } } }";

#[tokio::test]
async fn a_transaction_records_its_actor_request_id_and_idempotency_key() {
    let app = spawn_app().await;
    let m = app.merchant("Traced").await;
    // Payments come from the card processing service's key (a merchant key may not record them).
    let created = app
        .ok(
            "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) { key apiKey { prefix } } }",
            json!({ "i": { "service": "card-processing", "scopes": ["payments:write"], "idempotencyKey": "trace-sk" } }),
        )
        .await;
    let key = created["createServiceKey"]["key"].as_str().expect("service key").to_owned();
    let prefix = created["createServiceKey"]["apiKey"]["prefix"].as_str().expect("prefix").to_owned();
    let input = |k: &str| json!({ "i": { "merchantId": m, "gross": { "amount": "4.00", "currency": "USD" }, "idempotencyKey": k } });
    let stored = "query($t: ID!) { transaction(id: $t) { actor requestId idempotencyKey } }";

    for (who, token, actor, idem) in [
        ("service key", key.as_str(), format!("service:card-processing:{prefix}"), "trace-key"),
        ("admin", app.token.as_str(), "staff:admin".to_owned(), "trace-admin"),
    ] {
        let r = app.post_raw(Some(token), json!({ "query": RECORD, "variables": input(idem) })).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        assert!(r.body.get("errors").is_none(), "{who}: {}", r.body);
        let rid = r.request_id().unwrap_or_else(|| panic!("{who}: no x-request-id"));
        let t = &r.body["data"]["recordPayment"]["transaction"];
        assert_eq!(t["actor"], actor.as_str(), "{who}: {t}");
        assert_eq!(t["requestId"], rid.as_str(), "{who}: {t}");
        assert_eq!(t["idempotencyKey"], idem, "{who}: {t}");
        // Stored so: read back later by the admin.
        let back = app.ok(stored, json!({ "t": t["id"] })).await;
        assert_eq!(back["transaction"]["actor"], actor.as_str());
        assert_eq!(back["transaction"]["requestId"], rid.as_str());
        assert_eq!(back["transaction"]["idempotencyKey"], idem);
        // A replay answers with the first transaction: its request id stays the first one's.
        let again = app.post_raw(Some(token), json!({ "query": RECORD, "variables": input(idem) })).await;
        assert_eq!(again.body["data"]["recordPayment"]["replayed"], true, "{who}: {}", again.body);
        assert_ne!(again.request_id().as_deref(), Some(rid.as_str()));
        assert_eq!(again.body["data"]["recordPayment"]["transaction"]["requestId"], rid.as_str(), "{who}");
    }
}

// ---------------------------------------------------------------- audit log

const AUDIT: &str = "query($first: Int, $after: String, $actor: String, $target: String) {
    auditLog(first: $first, after: $after, actor: $actor, target: $target) {
        edges { cursor node { id sequence at actor action targetType targetId merchantId reason result requestId } }
        pageInfo { hasNextPage endCursor } } }";

const REFUND: &str = "mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { payment { id refunded { amount } } transaction { id actor } } }";
const REVERSE: &str = "mutation($id: ID!, $reason: String!, $k: String!) { reverseTransaction(transactionId: $id, reason: $reason, idempotencyKey: $k) { transaction { id actor } } }";

/// A merchant with a captured payment and a recorded payment, a support user
/// `sam` who refunds part of the payment and reverses the recorded one, then
/// tries to reverse it again; and a second merchant the admin writes to.
struct Audited {
    app: TestApp,
    m: String,
    other: String,
    payment: String,
    reversed: String,
    refund_request_id: String,
}

async fn audited() -> Audited {
    let app = spawn_app().await;
    let m = app.merchant("Audited").await;
    let other = app.merchant("Elsewhere").await;
    let payment = app.authorize(&m, "10.00", "auth").await;
    app.capture(&payment, None, "cap").await;
    let reversed = txn_id(&app.pay(&m, "5.00", None, "USD", "pay").await);
    assert!(app.pay(&other, "3.00", None, "USD", "other-pay").await.get("errors").is_none());

    let sam = app.staff("sam", "SUPPORT").await;
    let refund = app.post_raw(Some(&sam),
        json!({ "query": REFUND, "variables": { "i": { "paymentId": payment, "amount": { "amount": "2.00", "currency": "USD" }, "reason": "customer asked", "idempotencyKey": "refund-1" } } }),
    )
    .await;
    assert!(refund.body.get("errors").is_none(), "{}", refund.body);
    assert_eq!(refund.body["data"]["refundPayment"]["transaction"]["actor"], "staff:sam");
    let refund_request_id = refund.request_id().expect("x-request-id");
    let rev =
        app.ok_as(Some(&sam), REVERSE, json!({ "id": reversed, "reason": "duplicate charge", "k": "rev-1" })).await;
    assert_eq!(rev["reverseTransaction"]["transaction"]["actor"], "staff:sam");
    let twice = app.gql_as(Some(&sam), REVERSE, json!({ "id": reversed, "reason": "again", "k": "rev-2" })).await;
    assert_eq!(code(&twice), "ALREADY_REVERSED", "{twice}");
    Audited { app, m, other, payment, reversed, refund_request_id }
}

fn nodes(data: &Value) -> Vec<Value> {
    data["auditLog"]["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect()
}

fn position(rows: &[Value], action: &str, result: &str) -> usize {
    rows.iter()
        .position(|r| r["actor"] == "sam" && r["action"] == action && r["result"] == result)
        .unwrap_or_else(|| panic!("no audit row by sam for {action} with result {result}: {rows:#?}"))
}

#[tokio::test]
async fn staff_refunds_and_reversals_are_audited_with_who_why_and_result() {
    let w = audited().await;
    let viewer = w.app.staff("vic", "VIEWER").await;
    let rows = nodes(&w.app.ok_as(Some(&viewer), AUDIT, json!({ "first": 100 })).await);

    let refund = &rows[position(&rows, "refundPayment", "ok")];
    assert_eq!(refund["reason"], "customer asked", "{refund}");
    assert_eq!(refund["targetType"], "payment", "{refund}");
    assert_eq!(refund["targetId"], w.payment.as_str(), "{refund}");
    assert_eq!(refund["merchantId"], w.m.as_str(), "{refund}");
    assert_eq!(refund["requestId"], w.refund_request_id.as_str(), "{refund}");

    let reversal = &rows[position(&rows, "reverseTransaction", "ok")];
    assert_eq!(reversal["reason"], "duplicate charge", "{reversal}");
    assert_eq!(reversal["targetType"], "transaction", "{reversal}");
    assert_eq!(reversal["targetId"], w.reversed.as_str(), "{reversal}");
    assert_eq!(reversal["merchantId"], w.m.as_str(), "{reversal}");

    let refused = &rows[position(&rows, "reverseTransaction", "ALREADY_REVERSED")];
    assert_eq!(refused["reason"], "again", "{refused}");
    assert_eq!(refused["targetId"], w.reversed.as_str(), "{refused}");

    // Newest first.
    assert!(
        position(&rows, "reverseTransaction", "ALREADY_REVERSED") < position(&rows, "reverseTransaction", "ok")
            && position(&rows, "reverseTransaction", "ok") < position(&rows, "refundPayment", "ok"),
        "newest first: {rows:#?}"
    );
    let seqs: Vec<i64> = rows.iter().map(|r| r["sequence"].as_i64().expect("sequence")).collect();
    assert!(seqs.windows(2).all(|p| p[0] > p[1]), "sequences descend: {seqs:?}");

    // The admin reads the same log.
    let as_admin = nodes(&w.app.ok(AUDIT, json!({ "first": 100 })).await);
    assert_eq!(as_admin, rows);
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_and_by_target() {
    let w = audited().await;
    let app = &w.app;

    let by_sam = nodes(&app.ok(AUDIT, json!({ "first": 100, "actor": "sam" })).await);
    assert!(by_sam.iter().all(|r| r["actor"] == "sam"), "{by_sam:#?}");
    position(&by_sam, "refundPayment", "ok");
    position(&by_sam, "reverseTransaction", "ok");
    position(&by_sam, "reverseTransaction", "ALREADY_REVERSED");

    let by_admin = nodes(&app.ok(AUDIT, json!({ "first": 100, "actor": ADMIN_USERNAME })).await);
    assert!(!by_admin.is_empty(), "the admin's own mutations are audited");
    assert!(by_admin.iter().all(|r| r["actor"] == ADMIN_USERNAME), "{by_admin:#?}");
    assert!(by_admin.iter().any(|r| r["action"] == "createStaffUser"), "{by_admin:#?}");

    let by_nobody = nodes(&app.ok(AUDIT, json!({ "first": 100, "actor": "nobody" })).await);
    assert!(by_nobody.is_empty(), "{by_nobody:#?}");

    let on_m = nodes(&app.ok(AUDIT, json!({ "first": 100, "target": w.m })).await);
    assert!(
        on_m.iter().all(|r| r["targetId"] == w.m.as_str() || r["merchantId"] == w.m.as_str()),
        "target filter: {on_m:#?}"
    );
    position(&on_m, "refundPayment", "ok");
    position(&on_m, "reverseTransaction", "ok");
    let on_other = nodes(&app.ok(AUDIT, json!({ "first": 100, "target": w.other })).await);
    assert!(!on_other.is_empty(), "the admin's writes on the other merchant are audited");
    assert!(
        on_other.iter().all(|r| r["targetId"] == w.other.as_str() || r["merchantId"] == w.other.as_str()),
        "{on_other:#?}"
    );
    assert!(on_other.iter().all(|r| r["actor"] != "sam"), "{on_other:#?}");
    let on_payment = nodes(&app.ok(AUDIT, json!({ "first": 100, "target": w.payment })).await);
    assert!(on_payment.iter().all(|r| r["targetId"] == w.payment.as_str()), "{on_payment:#?}");
    position(&on_payment, "refundPayment", "ok");

    // Pages follow on without overlap.
    let all = nodes(&app.ok(AUDIT, json!({ "first": 100 })).await);
    let first = app.ok(AUDIT, json!({ "first": 2 })).await;
    assert_eq!(first["auditLog"]["pageInfo"]["hasNextPage"], true, "{first}");
    let next = app.ok(AUDIT, json!({ "first": 2, "after": first["auditLog"]["pageInfo"]["endCursor"] })).await;
    let paged: Vec<Value> = nodes(&first).into_iter().chain(nodes(&next)).collect();
    assert_eq!(paged[..], all[..4]);
}

#[tokio::test]
async fn merchant_keys_cannot_read_the_audit_log() {
    let w = audited().await;
    let key = w.app.merchant_key(&w.m).await;
    let body = w.app.gql_as(Some(&key), AUDIT, json!({ "first": 10 })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("customer asked"), "{body}");
    let filtered = w.app.gql_as(Some(&key), AUDIT, json!({ "first": 10, "target": w.m })).await;
    assert_eq!(code(&filtered), "FORBIDDEN", "{filtered}");
    let anonymous = w.app.gql_as(None, AUDIT, json!({ "first": 10 })).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
}

#[tokio::test]
async fn a_staff_refund_without_a_reason_is_refused() {
    let w = audited().await;
    let app = &w.app;
    let sam = app.login("sam", "sam-password-1").await;
    let refunded = "query($p: ID!) { payment(id: $p) { refunded { amount } } }";
    let before = app.ok(refunded, json!({ "p": w.payment })).await;
    let txns = app.count("transactions").await;
    let input = |k: &str| json!({ "i": { "paymentId": w.payment, "amount": { "amount": "1.00", "currency": "USD" }, "idempotencyKey": k } });

    let support = app.gql_as(Some(&sam), REFUND, input("no-reason-sam")).await;
    assert_eq!(code(&support), "REASON_REQUIRED", "support without reason: {support}");
    let admin = app.gql(REFUND, input("no-reason-admin")).await;
    assert_eq!(code(&admin), "REASON_REQUIRED", "admin (staff) without reason: {admin}");
    assert_eq!(app.count("transactions").await, txns, "nothing was written");
    assert_eq!(app.ok(refunded, json!({ "p": w.payment })).await, before);

    // Control: a merchant key may refund its own payment without a reason.
    let key = app.merchant_key(&w.m).await;
    let own = app.gql_as(Some(&key), REFUND, input("no-reason-key")).await;
    assert!(own.get("errors").is_none(), "a merchant key needs no reason: {own}");
    assert_eq!(app.count("transactions").await, txns + 1);
}
