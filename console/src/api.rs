//! Every call the console makes to the Ledger API, and nothing else does.
//!
//! Queries and mutations go to `POST /graphql` as JSON (the GraphQL over HTTP
//! spec), with the staff session token as `Authorization: Bearer <token>`.
//! Subscriptions go to `/graphql/ws` with the `graphql-transport-ws` protocol
//! (the GraphQL over WebSocket RFC), through `graphql-ws-client`; the token
//! goes in `connection_init`. Errors come back as [`ApiError`] with the
//! server's stable `extensions.code`, and [`ApiError::plain`] says it in words
//! a support agent can act on.

use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::session::Session;

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The server's `extensions.code` (`INSUFFICIENT_FUNDS`, …), or
    /// [`OFFLINE`] when the server could not be reached, or `BAD_RESPONSE`
    /// when its answer could not be read.
    pub code: String,
    /// The server's message, for the detail line.
    pub message: String,
}

/// The code of a call that never reached the server.
pub const OFFLINE: &str = "OFFLINE";

impl ApiError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into() }
    }

    /// True when the server was not reached (the connection is lost).
    pub fn is_offline(&self) -> bool {
        self.code == OFFLINE
    }

    /// The error in plain words, saying whether anything changed.
    pub fn plain(&self) -> String {
        let words = match self.code.as_str() {
            OFFLINE => "Cannot reach the ledger server. Check your connection; the console keeps retrying.",
            "UNAUTHENTICATED" => "Your session has ended. Please log in again.",
            "INVALID_CREDENTIALS" => "That username and password do not match.",
            "FORBIDDEN" => "Your role does not allow this action. Nothing was changed.",
            "NOT_FOUND" => "Not found: it does not exist, or you may not see it.",
            "INSUFFICIENT_FUNDS" => "The merchant's available balance is too low for this. Nothing was changed.",
            "ALREADY_REVERSED" => "This transaction has already been reversed. Nothing was changed.",
            "PAYMENT_STEP_NOT_REVERSIBLE" => {
                "This is a step of a payment: refund the payment instead of reversing the step. Nothing was changed."
            }
            "REFUND_EXCEEDS_CAPTURED" => "That is more than is left to refund on this payment. Nothing was changed.",
            "PAYMENT_NOT_CAPTURED" => "Nothing has been captured on this payment yet, so there is nothing to refund.",
            "AMOUNT_PRECISION_EXCEEDED" => "The amount has more decimals than the currency allows.",
            "AMOUNT_NOT_POSITIVE" => "The amount must be more than zero.",
            "AMOUNT_MALFORMED" => "The amount is not a number, e.g. 12.50.",
            "REASON_REQUIRED" => "Please give a reason; it goes in the audit log.",
            "IDEMPOTENCY_KEY_REUSED" => "This request was already used for a different action. Start again.",
            "RATE_LIMITED" => "Too many requests at once. Wait a moment and try again.",
            "TRY_AGAIN" | "TIMEOUT" => "The ledger was busy and did nothing. Try again.",
            "BAD_USER_INPUT" => return format!("Please check the input: {}", self.message),
            _ => return format!("The request failed ({}): {}", self.code, self.message),
        };
        words.to_owned()
    }
}

/// Result of a call.
pub type ApiResult<T> = Result<T, ApiError>;

fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// Sends one GraphQL operation and decodes `data` into `T`. Errors: the first
/// GraphQL error's code and message; [`OFFLINE`] when the request did not
/// reach the server.
pub async fn gql<T: DeserializeOwned>(session: Option<&Session>, query: &str, variables: Value) -> ApiResult<T> {
    let mut request = gloo_net::http::Request::post(&format!("{}/graphql", origin()));
    if let Some(s) = session {
        request = request.header("Authorization", &format!("Bearer {}", s.token));
    }
    let request = request
        .json(&json!({ "query": query, "variables": variables }))
        .map_err(|e| ApiError::new("BAD_REQUEST", e.to_string()))?;
    let response = request.send().await.map_err(|e| ApiError::new(OFFLINE, e.to_string()))?;
    let body: Value = response.json().await.map_err(|e| ApiError::new("BAD_RESPONSE", e.to_string()))?;
    decode(body)
}

/// Splits a GraphQL response into `data` or its first error.
fn decode<T: DeserializeOwned>(body: Value) -> ApiResult<T> {
    if let Some(first) = body.get("errors").and_then(Value::as_array).and_then(|e| e.first()) {
        let code = first.pointer("/extensions/code").and_then(Value::as_str).unwrap_or("INTERNAL_SERVER_ERROR");
        let message = first.get("message").and_then(Value::as_str).unwrap_or_default();
        return Err(ApiError::new(code, message));
    }
    serde_json::from_value(body.get("data").cloned().unwrap_or(Value::Null))
        .map_err(|e| ApiError::new("BAD_RESPONSE", e.to_string()))
}

/// A new idempotency key: a random UUID from the browser's `crypto`, made
/// once per dialog so a double click or a retry sends the same key.
pub fn new_idempotency_key() -> String {
    web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| format!("console-{}", c.random_uuid()))
        .unwrap_or_else(|| format!("console-{}", js_sys::Date::now()))
}

/// A GraphQL subscription for `graphql-ws-client`: responses are the raw
/// `{ data, errors }` payloads.
#[derive(serde::Serialize, Clone)]
struct Operation {
    query: String,
    variables: Value,
}

impl graphql_ws_client::graphql::GraphqlOperation for Operation {
    type Response = Value;
    type Error = serde_json::Error;
    fn decode(&self, data: Value) -> Result<Value, serde_json::Error> {
        Ok(data)
    }
}

/// Opens `/graphql/ws`, authenticates with the session and starts one
/// subscription. The stream yields each payload's `data`, or its error, and
/// ends when the connection drops. Errors: the connection or the
/// subscription was refused.
pub async fn subscribe(
    session: &Session,
    query: &str,
    variables: Value,
) -> ApiResult<impl Stream<Item = ApiResult<Value>> + use<>> {
    let url = format!("{}/graphql/ws", origin().replacen("http", "ws", 1));
    let socket = ws_stream_wasm::WsMeta::connect(&url, Some(vec!["graphql-transport-ws"]))
        .await
        .map_err(|e| ApiError::new(OFFLINE, e.to_string()))?;
    let connection = graphql_ws_client::ws_stream_wasm::Connection::new(socket).await;
    let stream = graphql_ws_client::Client::build(connection)
        .payload(json!({ "Authorization": format!("Bearer {}", session.token) }))
        .map_err(|e| ApiError::new("BAD_REQUEST", e.to_string()))?
        .subscribe(Operation { query: query.to_owned(), variables })
        .await
        .map_err(|e| ApiError::new(OFFLINE, e.to_string()))?;
    Ok(stream.map(|item| match item {
        Ok(body) => decode::<Value>(body),
        Err(e) => Err(ApiError::new(OFFLINE, e.to_string())),
    }))
}

/// How long to wait before reconnection attempt `attempt` (0-based):
/// doubling from half a second, at most [`MAX_RECONNECT_DELAY`].
pub fn reconnect_delay(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << attempt.min(8));
    Duration::from_millis(ms).min(MAX_RECONNECT_DELAY)
}

/// The longest wait between reconnection attempts: a support agent should
/// not look at a stale page for more than this after the network returns.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Typed calls. Every query string of the console is here.
// ---------------------------------------------------------------------------

use crate::session::Ctx;
use serde::Deserialize;

/// An amount: decimal string in the asset's major unit, and the asset code.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Money {
    /// E.g. `"12.34"`.
    pub amount: String,
    /// E.g. `USD`.
    pub currency: String,
}

/// One page of a Relay connection (Relay Cursor Connections spec).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items.
    pub nodes: Vec<T>,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

/// Relay `PageInfo`, forward paging only.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// More items after this page.
    pub has_next_page: bool,
    /// Cursor of the last item, for `after`.
    pub end_cursor: Option<String>,
}

/// Items per page in every list of the console: a screenful.
pub const PAGE_SIZE: i32 = 20;

/// A merchant in search results.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantSummary {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The platform's own id for it.
    pub external_id: Option<String>,
    /// Merchant class.
    pub class: String,
}

/// One asset's balances of a merchant.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AssetBalance {
    /// Asset code.
    pub asset: String,
    /// Settled.
    pub posted: Money,
    /// Posted plus what is not yet posted.
    pub pending: Money,
    /// What can be paid out now.
    pub available: Money,
}

/// An account, as entries show it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// UUID.
    pub id: String,
    /// Account code (`available`, `fee_revenue`, …).
    pub code: String,
    /// Asset code.
    pub asset: String,
    /// `DEBIT` or `CREDIT`.
    pub normal_balance: crate::preview::Direction,
    /// A platform account (no merchant).
    pub platform: bool,
    /// Its merchant, for a merchant account.
    pub merchant: Option<Named>,
}

/// Something with an id and a name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Named {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A merchant's page header, balances and accounts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantDetail {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The platform's own id.
    pub external_id: Option<String>,
    /// Merchant class.
    pub class: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Balances per asset.
    pub balances: Vec<AssetBalance>,
    /// Its accounts.
    pub accounts: Vec<AccountRef>,
}

/// An entry of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryRow {
    /// UUID.
    pub id: String,
    /// Ledger-wide entry sequence.
    pub sequence: i64,
    /// `DEBIT` or `CREDIT`.
    pub direction: crate::preview::Direction,
    /// `POSTED`, `HOLD` or `RELEASE`.
    pub layer: String,
    /// Positive amount.
    pub amount: Money,
    /// The account.
    pub account: Option<AccountRef>,
    /// The transaction, when listed by account.
    #[serde(default)]
    pub transaction: Option<TxLink>,
}

/// A link to a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TxLink {
    /// UUID.
    pub id: String,
    /// `PAYMENT`, `REVERSAL`, …
    pub kind: String,
    /// Ledger sequence.
    pub sequence: i64,
}

/// A link to a payment.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentLink {
    /// UUID.
    pub id: String,
    /// Its state.
    pub state: String,
}

/// A transaction with its entries and links.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// UUID.
    pub id: String,
    /// Ledger sequence.
    pub sequence: i64,
    /// `PAYMENT`, `REVERSAL`, `REFUND`, …
    pub kind: String,
    /// The merchant.
    pub merchant: Option<Named>,
    /// The caller's reference.
    pub external_ref: Option<String>,
    /// JSON object (a reversal keeps its reason here).
    pub metadata: Value,
    /// When it happened (RFC 3339).
    pub effective_at: String,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    /// Who posted it: a key prefix or `staff:<username>`.
    pub actor: String,
    /// The transaction this one reverses.
    pub reverses: Option<TxLink>,
    /// The transaction that reversed this one.
    pub reversed_by: Option<TxLink>,
    /// The payment it belongs to.
    pub payment: Option<PaymentLink>,
    /// Its entries.
    pub entries: Vec<EntryRow>,
}

/// A payment and its life cycle.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// UUID.
    pub id: String,
    /// `AUTHORIZED`, `CAPTURED`, `REFUNDED`, …
    pub state: String,
    /// The merchant paid.
    pub merchant: Option<Named>,
    /// The caller's reference.
    pub external_ref: Option<String>,
    /// Authorized in all.
    pub authorized: Money,
    /// Captured in all.
    pub captured: Money,
    /// Fee taken.
    pub fee: Money,
    /// Still held.
    pub pending: Money,
    /// Released.
    pub voided: Money,
    /// Refunded in all.
    pub refunded: Money,
    /// Under chargeback.
    pub disputed: Money,
    /// RFC 3339.
    pub created_at: String,
    /// Every transaction of the payment, oldest first.
    #[serde(default)]
    pub transactions: Vec<TxLink>,
}

/// A payout.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payout {
    /// UUID.
    pub id: String,
    /// `IN_TRANSIT`, `SETTLED` or `FAILED`.
    pub state: String,
    /// Amount paid out.
    pub amount: Money,
    /// Payout period, when scheduled.
    pub period: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    /// UUID.
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// Staff username.
    pub actor: String,
    /// Mutation name, e.g. `reverseTransaction`.
    pub action: String,
    /// What it acted on.
    pub target_type: String,
    /// Its id.
    pub target_id: Option<String>,
    /// The merchant concerned.
    pub merchant_id: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
    /// `ok` or the error code.
    pub result: String,
}

const ACCOUNT: &str = "id code asset normalBalance platform merchant { id name }";
const MONEY: &str = "amount currency";

fn transaction_fields() -> String {
    format!(
        "id sequence kind merchant {{ id name }} externalRef metadata effectiveAt createdAt actor \
         reverses {{ id kind sequence }} reversedBy {{ id kind sequence }} payment {{ id state }} \
         entries {{ id sequence direction layer amount {{ {MONEY} }} account {{ {ACCOUNT} }} }}"
    )
}

fn payment_fields() -> String {
    format!(
        "id state merchant {{ id name }} externalRef authorized {{ {MONEY} }} captured {{ {MONEY} }} \
         fee {{ {MONEY} }} pending {{ {MONEY} }} voided {{ {MONEY} }} refunded {{ {MONEY} }} \
         disputed {{ {MONEY} }} createdAt"
    )
}

fn field<T: DeserializeOwned>(mut data: Value, name: &str) -> ApiResult<T> {
    serde_json::from_value(data.get_mut(name).map(Value::take).unwrap_or(Value::Null))
        .map_err(|e| ApiError::new("BAD_RESPONSE", e.to_string()))
}

/// What `login` returns.
#[derive(Clone, Debug, Deserialize)]
struct LoginPayload {
    token: String,
    user: LoginUser,
}

#[derive(Clone, Debug, Deserialize)]
struct LoginUser {
    username: String,
    role: String,
}

/// Logs in. Errors: `INVALID_CREDENTIALS`, `RATE_LIMITED`.
pub async fn login(ctx: &Ctx, username: &str, password: &str) -> ApiResult<crate::session::Session> {
    let data: Value = ctx
        .call(
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token user { username role } } }",
            json!({ "u": username, "p": password }),
        )
        .await?;
    let payload: LoginPayload = field(data, "login")?;
    Ok(crate::session::Session { token: payload.token, username: payload.user.username, role: payload.user.role })
}

/// Revokes the session on the server.
pub async fn logout(ctx: &Ctx) -> ApiResult<()> {
    let _: Value = ctx.call("mutation { logout }", json!({})).await?;
    Ok(())
}

/// Every asset, for formatting.
pub async fn assets(ctx: &Ctx) -> ApiResult<Vec<crate::money::AssetInfo>> {
    field(ctx.call("{ assets { code exponent symbol } }", json!({})).await?, "assets")
}

/// Merchants matching `search` (name substring, external id or id).
pub async fn search_merchants(ctx: &Ctx, search: &str, after: Option<String>) -> ApiResult<Page<MerchantSummary>> {
    let search = if search.trim().is_empty() { Value::Null } else { json!(search.trim()) };
    let data = ctx
        .call(
            "query($s: String, $f: Int, $a: String) { merchants(search: $s, first: $f, after: $a) { \
             nodes { id name externalId class } pageInfo { hasNextPage endCursor } } }",
            json!({ "s": search, "f": PAGE_SIZE, "a": after }),
        )
        .await?;
    field(data, "merchants")
}

/// A merchant with balances and accounts; None when it does not exist.
pub async fn merchant(ctx: &Ctx, id: &str) -> ApiResult<Option<MerchantDetail>> {
    let query = format!(
        "query($id: ID!) {{ merchant(id: $id) {{ id name externalId class createdAt \
         balances {{ asset posted {{ {MONEY} }} pending {{ {MONEY} }} available {{ {MONEY} }} }} \
         accounts {{ {ACCOUNT} }} }} }}"
    );
    field(ctx.call(&query, json!({ "id": id })).await?, "merchant")
}

/// Balances of a merchant only (for live refresh).
pub async fn balances(ctx: &Ctx, id: &str) -> ApiResult<Vec<AssetBalance>> {
    let query = format!(
        "query($id: ID!) {{ merchant(id: $id) {{ balances {{ asset posted {{ {MONEY} }} pending {{ {MONEY} }} \
         available {{ {MONEY} }} }} }} }}"
    );
    let data: Value = ctx.call(&query, json!({ "id": id })).await?;
    field(data.get("merchant").cloned().unwrap_or(Value::Null), "balances")
}

/// A page of a merchant's transactions, newest first.
pub async fn merchant_transactions(ctx: &Ctx, id: &str, after: Option<String>) -> ApiResult<Page<Transaction>> {
    let query = format!(
        "query($id: ID!, $f: Int, $a: String) {{ merchant(id: $id) {{ transactions(first: $f, after: $a) {{ \
         nodes {{ {} }} pageInfo {{ hasNextPage endCursor }} }} }} }}",
        transaction_fields()
    );
    let data: Value = ctx.call(&query, json!({ "id": id, "f": PAGE_SIZE, "a": after })).await?;
    field(data.get("merchant").cloned().unwrap_or(Value::Null), "transactions")
}

/// A page of a merchant's payments, newest first.
pub async fn merchant_payments(ctx: &Ctx, id: &str, after: Option<String>) -> ApiResult<Page<Payment>> {
    let query = format!(
        "query($id: ID!, $f: Int, $a: String) {{ payments(merchantId: $id, first: $f, after: $a) {{ \
         nodes {{ {} }} pageInfo {{ hasNextPage endCursor }} }} }}",
        payment_fields()
    );
    field(ctx.call(&query, json!({ "id": id, "f": PAGE_SIZE, "a": after })).await?, "payments")
}

/// A page of a merchant's payouts, newest first.
pub async fn merchant_payouts(ctx: &Ctx, id: &str, after: Option<String>) -> ApiResult<Page<Payout>> {
    let query = format!(
        "query($id: ID!, $f: Int, $a: String) {{ payouts(merchantId: $id, first: $f, after: $a) {{ \
         nodes {{ id state amount {{ {MONEY} }} period createdAt }} pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    field(ctx.call(&query, json!({ "id": id, "f": PAGE_SIZE, "a": after })).await?, "payouts")
}

/// A page of an account's entries, in sequence order.
pub async fn account_entries(ctx: &Ctx, account: &str, after: Option<String>) -> ApiResult<Page<EntryRow>> {
    let query = format!(
        "query($id: ID!, $f: Int, $a: String) {{ entries(accountId: $id, first: $f, after: $a) {{ \
         nodes {{ id sequence direction layer amount {{ {MONEY} }} account {{ {ACCOUNT} }} \
         transaction {{ id kind sequence }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    field(ctx.call(&query, json!({ "id": account, "f": PAGE_SIZE, "a": after })).await?, "entries")
}

/// A transaction; None when it does not exist.
pub async fn transaction(ctx: &Ctx, id: &str) -> ApiResult<Option<Transaction>> {
    let query = format!("query($id: ID!) {{ transaction(id: $id) {{ {} }} }}", transaction_fields());
    field(ctx.call(&query, json!({ "id": id })).await?, "transaction")
}

/// A payment with its transactions; None when it does not exist.
pub async fn payment(ctx: &Ctx, id: &str) -> ApiResult<Option<Payment>> {
    let query = format!(
        "query($id: ID!) {{ payment(id: $id) {{ {} transactions {{ id kind sequence }} }} }}",
        payment_fields()
    );
    field(ctx.call(&query, json!({ "id": id })).await?, "payment")
}

/// A page of the audit log, newest first, by staff member and/or target
/// (an id, or a merchant's id for everything about it).
pub async fn audit_log(ctx: &Ctx, actor: &str, target: &str, after: Option<String>) -> ApiResult<Page<AuditRow>> {
    let opt = |s: &str| if s.trim().is_empty() { Value::Null } else { json!(s.trim()) };
    let data = ctx
        .call(
            "query($f: Int, $a: String, $actor: String, $target: String) { \
             auditLog(first: $f, after: $a, actor: $actor, target: $target) { \
             nodes { id at actor action targetType targetId merchantId reason result } \
             pageInfo { hasNextPage endCursor } } }",
            json!({ "f": PAGE_SIZE, "a": after, "actor": opt(actor), "target": opt(target) }),
        )
        .await?;
    field(data, "auditLog")
}

/// Reverses a transaction with a reason, under `key`. Errors:
/// `ALREADY_REVERSED`, `INSUFFICIENT_FUNDS`, `PAYMENT_STEP_NOT_REVERSIBLE`,
/// `REASON_REQUIRED`, `FORBIDDEN`, `IDEMPOTENCY_KEY_REUSED`.
pub async fn reverse(ctx: &Ctx, id: &str, reason: &str, key: &str) -> ApiResult<TxLink> {
    let data: Value = ctx
        .call(
            "mutation($id: ID!, $r: String!, $k: String!) { reverseTransaction(transactionId: $id, reason: $r, \
             idempotencyKey: $k) { transaction { id kind sequence } } }",
            json!({ "id": id, "r": reason, "k": key }),
        )
        .await?;
    field(data.get("reverseTransaction").cloned().unwrap_or(Value::Null), "transaction")
}

/// Refunds `amount` (decimal string, major unit) of a payment, or all that
/// is left when None. Errors: `REFUND_EXCEEDS_CAPTURED`,
/// `INSUFFICIENT_FUNDS`, `AMOUNT_PRECISION_EXCEEDED`, `REASON_REQUIRED`,
/// `FORBIDDEN`, `IDEMPOTENCY_KEY_REUSED`.
pub async fn refund(
    ctx: &Ctx,
    payment: &str,
    amount: Option<(&str, &str)>,
    reason: &str,
    key: &str,
) -> ApiResult<TxLink> {
    let amount = amount.map(|(a, c)| json!({ "amount": a, "currency": c }));
    let data: Value = ctx
        .call(
            "mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { transaction { id kind sequence } } }",
            json!({ "i": { "paymentId": payment, "amount": amount, "reason": reason, "idempotencyKey": key } }),
        )
        .await?;
    field(data.get("refundPayment").cloned().unwrap_or(Value::Null), "transaction")
}

/// One class and asset of a month's rollup (see `RollupLine` in the schema).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupLine {
    /// Merchant class.
    pub class: String,
    /// Asset code.
    pub asset: String,
    /// Captures and recorded payments.
    pub captured_count: i64,
    /// Their gross.
    pub gross_volume: Money,
    /// Gross ÷ count; None with no captures.
    pub average_ticket: Option<Money>,
    /// Authorizations ended this month.
    pub authorizations_ended: i64,
    /// Accepted ÷ ended, a decimal fraction; None when none ended.
    pub acceptance_rate: Option<String>,
    /// Refunds ÷ captures.
    pub refund_rate_by_count: Option<String>,
    /// Refunded ÷ gross.
    pub refund_rate_by_amount: Option<String>,
    /// Chargebacks ÷ captures.
    pub chargeback_rate_by_count: Option<String>,
    /// Fees earned.
    pub fees: Money,
    /// Payouts made.
    pub payout_volume: Money,
    /// Net movement of the class's merchant accounts.
    pub net_movement: Money,
}

/// A month's rollup.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyRollup {
    /// `YYYY-MM`.
    pub month: String,
    /// Stored by the job; will not change.
    pub closed: bool,
    /// Per class and asset.
    pub lines: Vec<RollupLine>,
    /// Backdated postings reported this month.
    pub adjustments: Vec<RollupLine>,
}

/// A month's rollup (`monthlyRollup`). Errors: `BAD_USER_INPUT` for a
/// malformed month or one not begun, `FORBIDDEN` for non-staff.
pub async fn monthly_rollup(ctx: &Ctx, month: &str) -> ApiResult<MonthlyRollup> {
    const LINE: &str = "class asset capturedCount grossVolume { amount currency } averageTicket { amount currency } \
        authorizationsEnded acceptanceRate refundRateByCount refundRateByAmount chargebackRateByCount \
        fees { amount currency } payoutVolume { amount currency } netMovement { amount currency }";
    let query = format!(
        "query($m: String!) {{ monthlyRollup(month: $m) {{ month closed lines {{ {LINE} }} adjustments {{ {LINE} }} }} }}"
    );
    field(ctx.call(&query, json!({ "m": month })).await?, "monthlyRollup")
}

/// One entry a planned refund would post (`PlannedEntry`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedEntry {
    /// A platform account (else the merchant's).
    pub platform: bool,
    /// Account code.
    pub account_code: String,
    /// The account's normal balance.
    pub normal_balance: Option<crate::preview::Direction>,
    /// Debit or credit.
    pub direction: crate::preview::Direction,
    /// `POSTED`, `HOLD` or `RELEASE`.
    pub layer: String,
    /// Positive amount.
    pub amount: Money,
}

/// What a refund would post (`refundPreview`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPreview {
    /// The amount the buyer gets back.
    pub amount: Money,
    /// The fee share the platform gives back.
    pub fee_returned: Money,
    /// The entries.
    pub entries: Vec<PlannedEntry>,
}

/// The server's plan of a refund of `amount` (decimal string, major unit)
/// of `currency`, without posting it. Errors: those of [`refund`].
pub async fn refund_preview(ctx: &Ctx, payment: &str, amount: &str, currency: &str) -> ApiResult<RefundPreview> {
    let data = ctx
        .call(
            "query($p: ID!, $a: MoneyInput) { refundPreview(paymentId: $p, amount: $a) { amount { amount currency } \
             feeReturned { amount currency } entries { platform accountCode normalBalance direction layer \
             amount { amount currency } } } }",
            json!({ "p": payment, "a": { "amount": amount, "currency": currency } }),
        )
        .await?;
    field(data, "refundPreview")
}

/// Live balance updates of a merchant: the stream yields once per update
/// (the first is a snapshot). See [`subscribe`].
pub async fn balance_updates(
    session: &crate::session::Session,
    merchant: &str,
) -> ApiResult<impl Stream<Item = ApiResult<Value>> + use<>> {
    subscribe(
        session,
        "subscription($m: ID!) { balanceUpdated(merchantId: $m) { sequence snapshot asset accountCode } }",
        json!({ "m": merchant }),
    )
    .await
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_back_with_their_code_and_plain_words() {
        let body =
            json!({ "data": null, "errors": [{ "message": "no", "extensions": { "code": "ALREADY_REVERSED" } }] });
        let err = decode::<Value>(body).expect_err("an error");
        assert_eq!(err.code, "ALREADY_REVERSED");
        assert!(err.plain().contains("already been reversed"));
        let unknown = ApiError::new("SOMETHING_NEW", "detail");
        assert_eq!(unknown.plain(), "The request failed (SOMETHING_NEW): detail");
    }

    #[test]
    fn reconnection_backs_off_to_a_ceiling() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(500));
        assert_eq!(reconnect_delay(1), Duration::from_secs(1));
        assert_eq!(reconnect_delay(30), MAX_RECONNECT_DELAY);
    }
}
