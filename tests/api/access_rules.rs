//! Access rules: every root field answers every kind of caller as the README's
//! authorization table says (service keys with and without the field's scope
//! included). One table, one test: a field missing from the README, the
//! schema, the server's rules or this file's invocations fails it.

use std::collections::BTreeSet;

use ledger_server::core::access::rules::{Scope, ServiceAccess, field_access};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_USERNAME, TestApp, code, fresh, spawn_app, transfer};

/// The README's outcome for a call that the guard lets through.
const OK: &str = "ok";

/// The outcomes a README cell may hold.
const OUTCOMES: [&str; 4] = [OK, "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"];

/// The README's caller columns, after `field` and `scope`, in order.
const COLUMNS: [&str; 8] =
    ["anonymous", "merchant A", "merchant B", "viewer", "support", "admin", "service, scoped", "service, other scopes"];

/// The README's `scope` cell of a field no service key may call.
const NO_SERVICE: &str = "—";
/// The README's `scope` cell of a field every service key may call.
const ANY_SERVICE: &str = "any";

/// Every root field [`invocation`] knows how to call.
const INVOKED: &[&str] = &[
    // Queries.
    "me",
    "assets",
    "merchant",
    "merchants",
    "account",
    "transaction",
    "transactions",
    "entries",
    "payment",
    "payments",
    "payout",
    "payouts",
    "events",
    "trialBalance",
    "platformBalances",
    "auditLog",
    "apiKeys",
    "serviceKeys",
    "staffUsers",
    "monthlyRollup",
    "rollupMonths",
    "refundPreview",
    "reversalPreview",
    "conversionRates",
    "bankAccounts",
    "bankStatements",
    "bankStatementLines",
    "unconfirmedLedgerItems",
    "reconciliationReport",
    // Mutations.
    "login",
    "logout",
    "openAccount",
    "postTransaction",
    "postTransactions",
    "recordPayment",
    "recordPayout",
    "authorizePayment",
    "capturePayment",
    "voidAuthorization",
    "createPayout",
    "setPayoutSettings",
    "refundPayment",
    "reverseTransaction",
    "resolveDispute",
    "createMerchant",
    "registerAsset",
    "setFeeSchedule",
    "openDispute",
    "settlePayout",
    "failPayout",
    "recordDeal",
    "createApiKey",
    "createServiceKey",
    "rotateApiKey",
    "revokeApiKey",
    "createStaffUser",
    "setBalanceLimit",
    "registerBankAccount",
    "importBankStatement",
    "matchBankStatementLines",
    "matchBankStatementLine",
    "matchBankDeposit",
    "unmatchBankStatementLine",
    "writeOffBankStatementLine",
    "writeOffLedgerItem",
];

/// A column of the table: who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    MerchantA,
    MerchantB,
    Viewer,
    Support,
    Admin,
    /// A service key holding exactly the field's scope (every scope when the
    /// field names none).
    ServiceScoped,
    /// A service key holding every scope but the field's.
    ServiceOther,
}

const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::MerchantA,
    Caller::MerchantB,
    Caller::Viewer,
    Caller::Support,
    Caller::Admin,
    Caller::ServiceScoped,
    Caller::ServiceOther,
];

impl Caller {
    /// The README column header.
    fn column(self) -> &'static str {
        match self {
            Caller::Anonymous => COLUMNS[0],
            Caller::MerchantA => COLUMNS[1],
            Caller::MerchantB => COLUMNS[2],
            Caller::Viewer => COLUMNS[3],
            Caller::Support => COLUMNS[4],
            Caller::Admin => COLUMNS[5],
            Caller::ServiceScoped => COLUMNS[6],
            Caller::ServiceOther => COLUMNS[7],
        }
    }

    fn index(self) -> usize {
        CALLERS.iter().position(|c| *c == self).expect("a caller")
    }
}

/// What every invocation targets: merchant A's resources, and who calls.
struct Fixtures {
    /// Merchant A (whose ids every call uses).
    a: String,
    /// Merchant A's name, for `merchants(search)`.
    a_name: String,
    /// Merchant B, the other tenant.
    b: String,
    /// Merchant C, the buyer of A's deals.
    c: String,
    /// A's `available` USD account.
    account_a: String,
    /// One of A's transactions.
    transaction_a: String,
    /// One of A's payments.
    payment_a: String,
    /// One of A's payouts.
    payout_a: String,
    /// A goods asset A sells in deals.
    goods: String,
    /// One of the platform's bank accounts (USD), and its account number.
    bank_account: String,
    bank_account_number: String,
    /// An unmatched deposit (credit) line, and a captured payment it could settle.
    bank_deposit_line: String,
    bank_capture: String,
    /// A line written off to suspense.
    bank_written_off_line: String,
    /// An unmatched debit line of that account, for a hand match.
    bank_line: String,
    /// A staff user whose credentials every caller's `login` uses.
    login_user: String,
    /// Usernames of the viewer and support callers (to log in again for `logout`).
    viewer_user: String,
    support_user: String,
    /// Bearer token per caller kind, in [`CALLERS`] order, for the six
    /// callers that are the same for every field.
    tokens: [Option<String>; 6],
    /// Service keys: one holding exactly each scope, in [`Scope::ALL`] order.
    only: Vec<String>,
    /// Service keys: one holding every scope but one, in [`Scope::ALL`] order.
    all_but: Vec<String>,
    /// A service key holding every scope.
    every_scope: String,
}

impl Fixtures {
    /// The token `caller` sends when calling a field that needs `scope`.
    fn token(&self, caller: Caller, scope: Option<Scope>) -> Option<&str> {
        let at = |s: Scope| Scope::ALL.iter().position(|x| *x == s).expect("a scope");
        match (caller, scope) {
            (Caller::ServiceScoped, Some(s)) => Some(&self.only[at(s)]),
            (Caller::ServiceOther, Some(s)) => Some(&self.all_but[at(s)]),
            (Caller::ServiceScoped | Caller::ServiceOther, None) => Some(&self.every_scope),
            _ => self.tokens[caller.index()].as_deref(),
        }
    }
}

/// A fresh idempotency key.
fn key() -> String {
    format!("authz-{}", fresh())
}

/// The reason every caller gives to `refundPayment`, `resolveDispute` and
/// `reverseTransaction` (staff must give one; merchant keys may).
const REASON: &str = "authorization table check";

/// Funds `merchant` with a fee-free USD payment, as the admin.
async fn fund(app: &TestApp, merchant: &str, amount: &str) -> String {
    let body = app.pay(merchant, amount, None, "USD", &key()).await;
    assert!(body.get("errors").is_none(), "funding payment refused: {body}");
    body["data"]["recordPayment"]["transaction"]["id"].as_str().expect("transaction id").to_owned()
}

/// A fresh captured payment of `merchant` with an open dispute, as the admin.
async fn disputed(app: &TestApp, merchant: &str, amount: &str) -> String {
    let p = app.captured_payment(merchant, amount, &key()).await;
    app.ok(
        "mutation($i: OpenDisputeInput!) { openDispute(input: $i) { payment { id } } }",
        json!({ "i": { "paymentId": p, "idempotencyKey": key() } }),
    )
    .await;
    p
}

/// A fresh payout in transit of `merchant`, as the admin.
async fn in_transit(app: &TestApp, merchant: &str) -> String {
    fund(app, merchant, "3.00").await;
    let data = app
        .ok(
            "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id state } } }",
            json!({ "i": { "merchantId": merchant, "asset": "USD", "idempotencyKey": key() } }),
        )
        .await;
    assert_eq!(data["createPayout"]["payout"]["state"], "IN_TRANSIT", "{data}");
    data["createPayout"]["payout"]["id"].as_str().expect("payout id").to_owned()
}

/// A fresh API key of `merchant`, as the admin: (id, secret).
async fn api_key(app: &TestApp, merchant: &str) -> (String, String) {
    let data = app
        .ok(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id } } }",
            json!({ "i": { "merchantId": merchant, "name": "authz", "idempotencyKey": key() } }),
        )
        .await;
    (
        data["createApiKey"]["apiKey"]["id"].as_str().expect("api key id").to_owned(),
        data["createApiKey"]["key"].as_str().expect("api key secret").to_owned(),
    )
}

/// Password of a staff user made by [`TestApp::staff`].
fn password_of(user: &str) -> String {
    format!("{user}-password-1")
}

/// The token `caller` uses for `logout`: a fresh one, since logout consumes it.
async fn fresh_token(app: &TestApp, fx: &Fixtures, caller: Caller) -> Option<String> {
    match caller {
        Caller::Anonymous => None,
        Caller::MerchantA => Some(api_key(app, &fx.a).await.1),
        Caller::MerchantB => Some(api_key(app, &fx.b).await.1),
        Caller::Viewer => Some(app.login(&fx.viewer_user, &password_of(&fx.viewer_user)).await),
        Caller::Support => Some(app.login(&fx.support_user, &password_of(&fx.support_user)).await),
        Caller::Admin => Some(app.login(ADMIN_USERNAME, &app.admin_password).await),
        // A service key cannot log out: its token is the same for every field.
        Caller::ServiceScoped | Caller::ServiceOther => fx.token(caller, None).map(str::to_owned),
    }
}

/// A valid call of `field` aimed at merchant A, with fresh fixtures (made by the
/// admin) for mutations that consume their target. None: no invocation known.
async fn invocation(app: &TestApp, fx: &Fixtures, field: &str) -> Option<(String, Value)> {
    let a = fx.a.as_str();
    let (q, vars): (&str, Value) = match field {
        // Queries.
        "me" => ("{ me { kind merchantId username role keyPrefix service scopes } }", json!({})),
        "assets" => ("{ assets { code } }", json!({})),
        "merchant" => ("query($id: ID!) { merchant(id: $id) { id name } }", json!({ "id": a })),
        "merchants" => {
            ("query($s: String) { merchants(search: $s) { edges { node { id } } } }", json!({ "s": fx.a_name }))
        }
        "account" => ("query($id: ID!) { account(id: $id) { id code } }", json!({ "id": fx.account_a })),
        "transaction" => ("query($id: ID!) { transaction(id: $id) { id kind } }", json!({ "id": fx.transaction_a })),
        "transactions" => {
            ("query($m: ID!) { transactions(merchantId: $m, filter: {}) { edges { node { id } } } }", json!({ "m": a }))
        }
        "entries" => (
            "query($id: ID!) { entries(accountId: $id, first: 5) { edges { node { id } } } }",
            json!({ "id": fx.account_a }),
        ),
        "payment" => ("query($id: ID!) { payment(id: $id) { id state } }", json!({ "id": fx.payment_a })),
        "payments" => {
            ("query($m: ID!) { payments(merchantId: $m, first: 5) { edges { node { id } } } }", json!({ "m": a }))
        }
        "payout" => ("query($id: ID!) { payout(id: $id) { id state } }", json!({ "id": fx.payout_a })),
        "payouts" => {
            ("query($m: ID!) { payouts(merchantId: $m, first: 5) { edges { node { id } } } }", json!({ "m": a }))
        }
        "events" => ("query($m: ID) { events(merchantId: $m, first: 5) { sequence kind } }", json!({ "m": a })),
        "trialBalance" => ("{ trialBalance { code asset platform } }", json!({})),
        "platformBalances" => ("{ platformBalances { code asset accounts } }", json!({})),
        "auditLog" => (
            "{ auditLog(first: 5) { edges { cursor node { id action actor } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        ),
        "apiKeys" => ("query($m: ID!) { apiKeys(merchantId: $m) { id prefix } }", json!({ "m": a })),
        "serviceKeys" => {
            ("query($s: String) { serviceKeys(service: $s) { id prefix service scopes } }", json!({ "s": "authz" }))
        }
        "staffUsers" => ("{ staffUsers { id username role } }", json!({})),
        "monthlyRollup" => {
            ("query($m: String!) { monthlyRollup(month: $m) { month closed } }", json!({ "m": "2020-01" }))
        }
        "rollupMonths" => ("{ rollupMonths { month } }", json!({})),
        "refundPreview" => {
            let p = app.captured_payment(a, "2.00", &key()).await;
            ("query($p: ID!) { refundPreview(paymentId: $p) { amount { amount } } }", json!({ "p": p }))
        }
        "conversionRates" => ("query($m: String!) { conversionRates(month: $m) { base } }", json!({ "m": "2020-01" })),
        // Mutations.
        "login" => (
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token expiresAt user { username } } }",
            json!({ "u": fx.login_user, "p": password_of(&fx.login_user) }),
        ),
        "logout" => ("mutation { logout }", json!({})),
        "openAccount" => (
            "mutation($i: OpenAccountInput!) { openAccount(input: $i) { account { id } } }",
            json!({ "i": { "merchantId": a, "code": format!("authz_{}", &fresh()[..16]), "asset": "USD",
                "normalBalance": "CREDIT", "idempotencyKey": key() } }),
        ),
        "postTransaction" => {
            fund(app, a, "5.00").await;
            (
                "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }",
                json!({ "i": transfer(a, "0.01", &key()) }),
            )
        }
        "postTransactions" => {
            fund(app, a, "5.00").await;
            // A batch is let through to every merchant key; each item then
            // answers for itself, so B's items carry NOT_FOUND in `results`.
            (
                "mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { posted results { index error { code } } } }",
                json!({ "i": { "transactions": [transfer(a, "0.01", &key())] } }),
            )
        }
        "recordPayment" => (
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }",
            json!({ "i": { "merchantId": a, "gross": { "amount": "1.00", "currency": "USD" }, "idempotencyKey": key() } }),
        ),
        "recordPayout" => {
            fund(app, a, "5.00").await;
            (
                "mutation($i: RecordPayoutInput!) { recordPayout(input: $i) { transaction { id } } }",
                json!({ "i": { "merchantId": a, "amount": { "amount": "0.50", "currency": "USD" }, "idempotencyKey": key() } }),
            )
        }
        "authorizePayment" => (
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
            json!({ "i": { "merchantId": a, "amount": { "amount": "1.00", "currency": "USD" }, "idempotencyKey": key() } }),
        ),
        "capturePayment" => {
            let p = app.authorize(a, "2.00", &key()).await;
            (
                "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { id state } } }",
                json!({ "i": { "paymentId": p, "idempotencyKey": key() } }),
            )
        }
        "voidAuthorization" => {
            let p = app.authorize(a, "2.00", &key()).await;
            (
                "mutation($i: VoidAuthorizationInput!) { voidAuthorization(input: $i) { payment { id state } } }",
                json!({ "i": { "paymentId": p, "idempotencyKey": key() } }),
            )
        }
        "createPayout" => {
            fund(app, a, "5.00").await;
            (
                "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id } } }",
                json!({ "i": { "merchantId": a, "asset": "USD", "idempotencyKey": key() } }),
            )
        }
        "setPayoutSettings" => (
            "mutation($i: SetPayoutSettingsInput!) { setPayoutSettings(input: $i) { asset } }",
            json!({ "i": { "merchantId": a, "asset": "USD", "reserve": "0", "idempotencyKey": key() } }),
        ),
        "refundPayment" => {
            // Funds first, so an earlier payout or dispute cannot leave too little to refund.
            fund(app, a, "5.00").await;
            let p = app.captured_payment(a, "2.00", &key()).await;
            (
                "mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { payment { id state } } }",
                json!({ "i": { "paymentId": p, "reason": REASON, "idempotencyKey": key() } }),
            )
        }
        "reversalPreview" => {
            fund(app, a, "5.00").await;
            let t = fund(app, a, "1.00").await;
            (
                "query($id: ID!) { reversalPreview(transactionId: $id) { transactionId entries { accountId direction } } }",
                json!({ "id": t }),
            )
        }
        "reverseTransaction" => {
            fund(app, a, "5.00").await;
            let t = fund(app, a, "1.00").await;
            (
                "mutation($id: ID!, $r: String!, $k: String!) { reverseTransaction(transactionId: $id, reason: $r, idempotencyKey: $k) { transaction { id kind } } }",
                json!({ "id": t, "r": REASON, "k": key() }),
            )
        }
        "resolveDispute" => {
            let p = disputed(app, a, "2.00").await;
            (
                "mutation($i: ResolveDisputeInput!) { resolveDispute(input: $i) { payment { id state } } }",
                json!({ "i": { "paymentId": p, "outcome": "WON", "reason": REASON, "idempotencyKey": key() } }),
            )
        }
        "createMerchant" => (
            "mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { merchant { id } } }",
            json!({ "i": { "name": format!("Authz {}", fresh()), "idempotencyKey": key() } }),
        ),
        "registerAsset" => (
            "mutation($i: RegisterAssetInput!) { registerAsset(input: $i) { asset { code } } }",
            json!({ "i": { "code": format!("AZ{}", fresh()[..12].to_uppercase()), "exponent": 0, "idempotencyKey": key() } }),
        ),
        "setBalanceLimit" => (
            "mutation($i: SetBalanceLimitInput!) { setBalanceLimit(input: $i) { limit { source } } }",
            json!({ "i": { "accountCode": "authz_limit", "asset": "USD", "lowerBound": "0", "idempotencyKey": key() } }),
        ),
        "setFeeSchedule" => (
            "mutation($i: SetFeeScheduleInput!) { setFeeSchedule(input: $i) { percentBps } }",
            json!({ "i": { "merchantId": a, "asset": "USD", "percentBps": 0, "idempotencyKey": key() } }),
        ),
        "openDispute" => {
            let p = app.captured_payment(a, "2.00", &key()).await;
            (
                "mutation($i: OpenDisputeInput!) { openDispute(input: $i) { payment { id state } } }",
                json!({ "i": { "paymentId": p, "idempotencyKey": key() } }),
            )
        }
        "settlePayout" | "failPayout" => {
            let p = in_transit(app, a).await;
            let q = if field == "settlePayout" {
                "mutation($i: PayoutStepInput!) { settlePayout(input: $i) { payout { id state } } }"
            } else {
                "mutation($i: PayoutStepInput!) { failPayout(input: $i) { payout { id state } } }"
            };
            (q, json!({ "i": { "payoutId": p, "idempotencyKey": key() } }))
        }
        "recordDeal" => {
            app.stock(a, "1", &fx.goods, &key()).await;
            fund(app, &fx.c, "5.00").await;
            (
                "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id kind } } }",
                json!({ "i": { "sellerId": a, "buyerId": fx.c, "idempotencyKey": key(),
                    "buyerGives": [{ "amount": "5.00", "currency": "USD" }],
                    "sellerGives": [{ "amount": "1", "currency": fx.goods }] } }),
            )
        }
        "createApiKey" => (
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id } } }",
            json!({ "i": { "merchantId": a, "name": "authz", "idempotencyKey": key() } }),
        ),
        "createServiceKey" => (
            "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) { key apiKey { id scopes } } }",
            json!({ "i": { "service": "authz", "scopes": ["ledger:read"], "idempotencyKey": key() } }),
        ),
        "rotateApiKey" => {
            let (id, _) = api_key(app, a).await;
            (
                "mutation($id: ID!, $k: String!) { rotateApiKey(id: $id, idempotencyKey: $k) { key apiKey { id } } }",
                json!({ "id": id, "k": key() }),
            )
        }
        "revokeApiKey" => {
            let (id, _) = api_key(app, a).await;
            (
                "mutation($id: ID!, $k: String!) { revokeApiKey(id: $id, idempotencyKey: $k) { apiKey { id revokedAt } } }",
                json!({ "id": id, "k": key() }),
            )
        }
        "createStaffUser" => {
            let user = format!("authz_{}", &fresh()[..12]);
            (
                "mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) { user { id username } } }",
                json!({ "i": { "username": user, "password": password_of(&user), "role": "VIEWER", "idempotencyKey": key() } }),
            )
        }
        "bankAccounts" => ("{ bankAccounts { id currency } }", json!({})),
        // A dry run: the fixtures' line and payout stay as they are.
        "matchBankStatementLine" => (
            "mutation($l: ID!, $p: ID!) { matchBankStatementLine(lineId: $l, payoutId: $p, reason: \"authz\", dryRun: true) { action } }",
            json!({ "l": fx.bank_line, "p": fx.payout_a }),
        ),
        "matchBankStatementLines" => (
            "mutation($b: ID!) { matchBankStatementLines(bankAccountId: $b, dryRun: true) { payouts { action } } }",
            json!({ "b": fx.bank_account }),
        ),
        "bankStatements" => (
            "query($b: ID!) { bankStatements(bankAccountId: $b) { id statementRef } }",
            json!({ "b": fx.bank_account }),
        ),
        "bankStatementLines" => (
            "query($b: ID!) { bankStatementLines(bankAccountId: $b, first: 5) { edges { node { id state } } } }",
            json!({ "b": fx.bank_account }),
        ),
        "unconfirmedLedgerItems" => (
            "query($b: ID!) { unconfirmedLedgerItems(bankAccountId: $b, first: 5) { kind id } }",
            json!({ "b": fx.bank_account }),
        ),
        "reconciliationReport" => (
            "query($b: ID!) { reconciliationReport(bankAccountId: $b) { lineCount matchedShare } }",
            json!({ "b": fx.bank_account }),
        ),
        // Dry runs: the fixtures' lines and capture stay as they are.
        "matchBankDeposit" => (
            "mutation($l: ID!, $p: ID!) { matchBankDeposit(lineIds: [$l], paymentIds: [$p], reason: \"authz\", dryRun: true) { fee { amount } } }",
            json!({ "l": fx.bank_deposit_line, "p": fx.bank_capture }),
        ),
        "unmatchBankStatementLine" => (
            "mutation($l: ID!) { unmatchBankStatementLine(lineId: $l, reason: \"authz\", dryRun: true) { reverses } }",
            json!({ "l": fx.bank_written_off_line }),
        ),
        "writeOffLedgerItem" => (
            "mutation($b: ID!, $p: ID!) { writeOffLedgerItem(bankAccountId: $b, paymentId: $p, reason: \"authz\", dryRun: true) { transactionId } }",
            json!({ "b": fx.bank_account, "p": fx.bank_capture }),
        ),
        "writeOffBankStatementLine" => (
            "mutation($l: ID!) { writeOffBankStatementLine(lineId: $l, reason: \"authz\", dryRun: true) { transactionIds } }",
            json!({ "l": fx.bank_line }),
        ),
        "registerBankAccount" => (
            "mutation($i: RegisterBankAccountInput!) { registerBankAccount(input: $i) { id } }",
            json!({ "i": { "name": "authz", "accountNumber": crate::reconciliation::fresh_account_number(),
                "currency": "USD" } }),
        ),
        // Sent as a multipart upload (see the loop below): `file` is the
        // statement of `fx.bank_account`, the same one every time (a replay
        // after the first caller that is let through).
        "importBankStatement" => (
            "mutation($b: ID!, $file: Upload!) { importBankStatement(bankAccountId: $b, file: $file) { replayed } }",
            json!({ "b": fx.bank_account }),
        ),
        _ => return None,
    };
    Some((q.to_owned(), vars))
}

/// One row of the README's authorization table.
struct Row {
    /// The root field.
    field: String,
    /// The `scope` cell: a scope name, [`NO_SERVICE`] or [`ANY_SERVICE`].
    scope: String,
    /// The outcome per caller, in [`CALLERS`] order.
    outcomes: [String; 8],
}

/// The README's authorization table.
fn readme_table() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let section = readme
        .split_once("### The authorization table")
        .unwrap_or_else(|| panic!("README.md has no \"### The authorization table\" section"))
        .1;
    let section = section.split("\n#").next().unwrap_or_default();
    let cells = |line: &str| -> Vec<String> {
        line.trim().trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect()
    };
    let header = section
        .lines()
        .find(|l| l.trim_start().starts_with("| field"))
        .unwrap_or_else(|| panic!("the authorization table has no header row"));
    let mut expected_header = vec!["field".to_owned(), "scope".to_owned()];
    expected_header.extend(COLUMNS.iter().map(|c| (*c).to_owned()));
    assert_eq!(cells(header), expected_header, "the authorization table's columns changed");
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.trim_start().starts_with("| `")) {
        let cells = cells(line);
        assert_eq!(cells.len(), 10, "README row {line:?} should have a field, a scope and 8 outcomes");
        let outcomes: [String; 8] = std::array::from_fn(|i| cells[i + 2].clone());
        for o in &outcomes {
            assert!(
                OUTCOMES.contains(&o.as_str()),
                "README row `{}`: unknown outcome {o:?} (want one of {OUTCOMES:?})",
                cells[0]
            );
        }
        rows.push(Row { field: cells[0].clone(), scope: cells[1].clone(), outcomes });
    }
    assert!(!rows.is_empty(), "the authorization table has no rows");
    rows
}

/// The README's `scope` cell for the server's rule of `field` (its one place,
/// `domain::auth::FIELD_ACCESS`); `None` when the server has no rule.
fn scope_cell(field: &str) -> Option<String> {
    Some(match field_access(field)?.service {
        ServiceAccess::Denied => NO_SERVICE.to_owned(),
        ServiceAccess::AnyKey => ANY_SERVICE.to_owned(),
        ServiceAccess::Scope(scope) => scope.as_str().to_owned(),
    })
}

/// Field names of type `name` in `sdl` (lines `name(` or `name:` at the top level
/// of the type's block; doc strings and multi-line argument lists skipped).
fn sdl_type_fields(sdl: &str, name: &str) -> Vec<String> {
    let mut lines = sdl.lines();
    let opens = |l: &str| {
        let l = l.trim();
        l.strip_prefix("type ")
            .map(|rest| rest.trim_start())
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
    };
    lines.by_ref().find(|l| opens(l)).unwrap_or_else(|| panic!("no `type {name}` in the SDL"));
    let mut fields = Vec::new();
    let (mut in_doc, mut depth) = (false, 0i32);
    for line in lines {
        let t = line.trim();
        if in_doc {
            if t.ends_with("\"\"\"") {
                in_doc = false;
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("\"\"\"") {
            // A one-line block string closes on the same line.
            in_doc = !(rest.len() >= 3 && rest.ends_with("\"\"\""));
            continue;
        }
        if t.starts_with('"') || t.starts_with('#') || t.is_empty() {
            continue;
        }
        if depth == 0 && t.starts_with('}') {
            break;
        }
        if depth == 0 {
            let ident: String = t.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let next = t[ident.len()..].trim_start().chars().next();
            if !ident.is_empty() && matches!(next, Some('(' | ':')) {
                fields.push(ident);
            }
        }
        depth += t.matches('(').count() as i32 - t.matches(')').count() as i32;
    }
    fields
}

/// The root operation type names from the `schema { … }` block, or the defaults.
fn root_type_names(sdl: &str) -> (String, String) {
    let (mut query, mut mutation) = ("QueryRoot".to_owned(), "MutationRoot".to_owned());
    let Some(start) = sdl.lines().position(|l| l.trim().starts_with("schema") && l.contains('{')) else {
        return (query, mutation);
    };
    for line in sdl.lines().skip(start + 1) {
        let t = line.trim();
        if t.starts_with('}') {
            break;
        }
        if let Some((k, v)) = t.split_once(':') {
            match k.trim() {
                "query" => query = v.trim().to_owned(),
                "mutation" => mutation = v.trim().to_owned(),
                _ => {}
            }
        }
    }
    (query, mutation)
}

/// Every root field of the schema: (query fields, mutation fields).
fn schema_root_fields() -> (Vec<String>, Vec<String>) {
    let sdl = ledger_server::graphql::sdl();
    let (query, mutation) = root_type_names(&sdl);
    (sdl_type_fields(&sdl, &query), sdl_type_fields(&sdl, &mutation))
}

/// Names in `left` but not in `right`.
fn missing(left: &BTreeSet<String>, right: &BTreeSet<String>) -> Vec<String> {
    left.difference(right).cloned().collect()
}

/// `ok` when the response has no errors, else the first error's code.
fn outcome(body: &Value) -> String {
    match body.get("errors") {
        None | Some(Value::Null) => OK.to_owned(),
        Some(Value::Array(errors)) if errors.is_empty() => OK.to_owned(),
        Some(_) => code(body),
    }
}

fn excerpt(body: &Value) -> String {
    let s = body.to_string();
    let cut: String = s.chars().take(400).collect();
    if cut.len() < s.len() { format!("{cut}…") } else { cut }
}

/// Builds merchants A, B and C, A's resources, and a token per caller.
async fn fixtures(app: &TestApp) -> Fixtures {
    let a_name = format!("Authz Alpha {}", &fresh()[..8]);
    let a = app.merchant(&a_name).await;
    let b = app.merchant("Authz Bravo").await;
    let c = app.merchant("Authz Charlie").await;
    let goods = format!("AZGOODS{}", fresh()[..6].to_uppercase());
    app.ok(
        "mutation($i: RegisterAssetInput!) { registerAsset(input: $i) { asset { code } } }",
        json!({ "i": { "code": goods, "exponent": 0, "idempotencyKey": key() } }),
    )
    .await;
    app.open_reserve(&a, &key()).await;
    let transaction_a = fund(app, &a, "100.00").await;
    let payment_a = app.captured_payment(&a, "5.00", &key()).await;
    let payout_a = in_transit(app, &a).await;
    let accounts =
        app.ok("query($id: ID!) { merchant(id: $id) { accounts { id code asset } } }", json!({ "id": a })).await;
    let account_a = accounts["merchant"]["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|acc| acc["code"] == "available" && acc["asset"] == "USD")
        .and_then(|acc| acc["id"].as_str())
        .unwrap_or_else(|| panic!("A has no available USD account: {accounts}"))
        .to_owned();

    let key_a = app.merchant_key(&a).await;
    let key_b = app.merchant_key(&b).await;
    let (viewer_user, support_user, login_user) = ("authz_viewer", "authz_support", "authz_login");
    let viewer = app.staff(viewer_user, "VIEWER").await;
    let support = app.staff(support_user, "SUPPORT").await;
    app.staff(login_user, "VIEWER").await;
    let mut only = Vec::new();
    let mut all_but = Vec::new();
    for scope in Scope::ALL {
        only.push(app.service_key("authz", &[scope.as_str()]).await);
        let others: Vec<&str> = Scope::ALL.iter().filter(|s| **s != scope).map(|s| s.as_str()).collect();
        all_but.push(app.service_key("authz", &others).await);
    }
    let every_scope = app.service_key("authz", &Scope::ALL.map(Scope::as_str)).await;
    let bank_account_number = crate::reconciliation::fresh_account_number();
    let bank = app
        .ok(
            "mutation($i: RegisterBankAccountInput!) { registerBankAccount(input: $i) { id } }",
            json!({ "i": { "name": "authz bank", "accountNumber": bank_account_number, "currency": "USD" } }),
        )
        .await;
    let bank_account = bank["registerBankAccount"]["id"].as_str().expect("bank account id").to_owned();
    let file = crate::reconciliation::one_debit_statement(&bank_account_number, "authz-line", "AUTHZ-1");
    let imported = app.upload_statement(Some(&app.token), &bank_account, &file).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    let lines = app
        .ok(
            "query($b: ID!) { bankStatementLines(bankAccountId: $b) { edges { node { id } } } }",
            json!({ "b": bank_account }),
        )
        .await;
    let bank_line = lines["bankStatementLines"]["edges"][0]["node"]["id"].as_str().expect("a line").to_owned();
    // A deposit line of 3.00 and a capture of 4.00 it could settle, and a
    // second debit, written off.
    let bank_capture = app.captured_payment(&a, "4.00", &key()).await;
    let file = crate::reconciliation_deposits::deposit_and_debit(&bank_account_number, &bank_capture);
    let imported = app.upload_statement(Some(&app.token), &bank_account, &file).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    let lines = app
        .ok(
            "query($b: ID!) { bankStatementLines(bankAccountId: $b, state: UNMATCHED) { edges { node { id direction accountServicerRef } } } }",
            json!({ "b": bank_account }),
        )
        .await;
    let edges = lines["bankStatementLines"]["edges"].as_array().expect("edges").clone();
    let id_of = |r: &str| {
        edges
            .iter()
            .find(|e| e["node"]["accountServicerRef"] == r)
            .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_owned())
            .expect(r)
    };
    let (bank_deposit_line, bank_written_off_line) = (id_of("AUTHZ-DEP"), id_of("AUTHZ-OFF"));
    app.ok(
        "mutation($l: ID!) { writeOffBankStatementLine(lineId: $l, reason: \"fixture\") { transactionIds } }",
        json!({ "l": bank_written_off_line }),
    )
    .await;
    Fixtures {
        bank_deposit_line,
        bank_capture,
        bank_written_off_line,
        a,
        a_name,
        bank_account,
        bank_account_number,
        bank_line,
        b,
        c,
        account_a,
        transaction_a,
        payment_a,
        payout_a,
        goods,
        login_user: login_user.to_owned(),
        viewer_user: viewer_user.to_owned(),
        support_user: support_user.to_owned(),
        tokens: [None, Some(key_a), Some(key_b), Some(viewer), Some(support), Some(app.token.clone())],
        only,
        all_but,
        every_scope,
    }
}

#[tokio::test]
async fn every_root_field_follows_the_readme_table() {
    // Arrange: the table, the schema's root fields, and what this test can call.
    let table = readme_table();
    let readme_fields: BTreeSet<String> = table.iter().map(|r| r.field.clone()).collect();
    assert_eq!(readme_fields.len(), table.len(), "the README table lists a field twice");
    let (query_fields, mutation_fields) = schema_root_fields();
    assert!(!query_fields.is_empty() && !mutation_fields.is_empty(), "no root fields parsed from the SDL");
    let schema_fields: BTreeSet<String> = query_fields.iter().chain(&mutation_fields).cloned().collect();
    let invoked: BTreeSet<String> = INVOKED.iter().map(|f| (*f).to_owned()).collect();
    let mut coverage = Vec::new();
    for f in missing(&schema_fields, &readme_fields) {
        coverage.push(format!("root field `{f}` is in the schema but has no row in README.md's authorization table"));
    }
    for f in missing(&readme_fields, &schema_fields) {
        coverage.push(format!(
            "README.md's authorization table has a row for `{f}`, which is not a root field of the schema"
        ));
    }
    for f in missing(&schema_fields, &invoked) {
        coverage.push(format!("root field `{f}` has no invocation in tests/api/access_rules.rs"));
    }
    for f in missing(&invoked, &schema_fields) {
        coverage.push(format!("tests/api/access_rules.rs invokes `{f}`, which is not a root field of the schema"));
    }
    // The README's scope column says what the server's one table says.
    for row in &table {
        match scope_cell(&row.field) {
            None => coverage.push(format!("root field `{}` has no rule in domain::auth::FIELD_ACCESS", row.field)),
            Some(cell) if cell != row.scope => coverage.push(format!(
                "README.md gives `{}` the scope {:?}, domain::auth::FIELD_ACCESS {cell:?}",
                row.field, row.scope
            )),
            Some(_) => {}
        }
    }
    assert!(coverage.is_empty(), "schema, README table and test disagree:\n{}", coverage.join("\n"));

    let app = spawn_app().await;
    let fx = fixtures(&app).await;

    // Act: every field as every caller.
    let mut mismatches = Vec::new();
    for row in &table {
        let (field, expected) = (&row.field, &row.outcomes);
        let scope = Scope::parse(&row.scope);
        for caller in CALLERS {
            let Some((query, vars)) = invocation(&app, &fx, field).await else {
                mismatches.push(format!("{field} / {}: no invocation", caller.column()));
                continue;
            };
            let token = if field == "logout" {
                fresh_token(&app, &fx, caller).await
            } else {
                fx.token(caller, scope).map(str::to_owned)
            };
            let body = if field == "importBankStatement" {
                let file = crate::reconciliation::empty_statement(&fx.bank_account_number, "authz-statement");
                app.gql_upload_as(token.as_deref(), &query, vars, "file", &file).await
            } else {
                app.gql_as(token.as_deref(), &query, vars).await
            };
            let got = outcome(&body);
            let want = &expected[caller.index()];
            if &got != want {
                mismatches.push(format!(
                    "{field} / {}: expected {want}, got {got}; response: {}",
                    caller.column(),
                    excerpt(&body)
                ));
            }
        }
    }

    // Assert
    assert!(
        mismatches.is_empty(),
        "{} of {} calls do not follow README.md's authorization table:\n{}",
        mismatches.len(),
        table.len() * CALLERS.len(),
        mismatches.join("\n")
    );
}
