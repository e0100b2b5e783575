//! What the aggregates' GraphQL files share: money on the wire, the enums of
//! entries and transactions, id and cursor parsing, one page of a Relay
//! connection, and what every mutation parses first (amounts, references,
//! annotations) and the [`Call`] it hands to a service.
//!
//! Money is always `{ amount, currency }`: `amount` is a decimal string with
//! exactly the asset's number of decimals (`"12.34"` USD, `"5"` SWORD), never a
//! float, so no client loses a cent to binary rounding.

use async_graphql::connection::{Connection, Edge, OpaqueCursor};
use async_graphql::{Context, Enum, ID, InputObject, Json, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::context::request;
use super::error::{BAD_USER_INPUT, OrCoded, coded};
use super::ledger;
use crate::core::payments::payment::Annotations;
use crate::core::posting::Call;
use crate::domain::money::format_minor;
use crate::domain::transaction::MAX_REFERENCE_LEN;
use crate::domain::{self, Amount, Asset, AssetCode, MerchantId};

/// An amount of one asset: `amount` is a decimal string in the asset's major
/// unit with exactly its exponent's decimals; `currency` is the ISO 4217 or
/// registered asset code.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Decimal string, e.g. `"12.34"`; negative only for balances.
    pub amount: String,
    /// Asset code, e.g. `USD`.
    pub currency: String,
}

impl Money {
    /// Formats signed minor units of `asset`. Errors: unknown asset (never for
    /// stored data), or a balance beyond i64 (reported as `AMOUNT_OVERFLOW`).
    pub async fn of(ctx: &Context<'_>, asset: &str, minor: i128) -> async_graphql::Result<Money> {
        let exponent = ledger(ctx)?.asset(asset).await.or_coded()?.exponent;
        let minor = i64::try_from(minor).map_err(|_| domain::DomainError::AmountOverflow).or_coded()?;
        Ok(Money { amount: format_minor(minor, exponent), currency: asset.to_owned() })
    }
}

/// An amount given by a caller: `amount` is a positive decimal string with at
/// most the asset's exponent of decimals; `currency` an asset code.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct MoneyInput {
    /// Decimal string, e.g. `"12.34"`. More decimals than the asset allows is an
    /// error (`AMOUNT_PRECISION_EXCEEDED`), never rounded.
    pub amount: String,
    /// Asset code (ISO 4217 or registered).
    pub currency: String,
}

/// Side of an entry, or the normal balance of an account.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[graphql(remote = "domain::Direction")]
pub enum DirectionType {
    /// Debit (left) side.
    Debit,
    /// Credit (right) side.
    Credit,
}

/// Which totals an entry moves: posted, or a pending hold or release.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::Layer")]
pub enum LayerType {
    /// Settled money: moves the posted totals.
    Posted,
    /// Money held pending (an authorization): adds to the pending totals.
    Hold,
    /// A hold taken back out of the pending totals (capture, void, expiry).
    Release,
}

/// What a transaction records.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::TransactionKind")]
pub enum TransactionKindType {
    /// A general balanced transaction (`postTransaction`).
    Transfer,
    /// Money received for a merchant (`recordPayment`).
    Payment,
    /// Money paid out to a merchant (`recordPayout`).
    Payout,
    /// The inverse of an earlier transaction (`reverseTransaction`).
    Reversal,
    /// A payment authorized: money held pending (`authorizePayment`).
    Authorization,
    /// Part or all of an authorization posted (`capturePayment`).
    Capture,
    /// The uncaptured rest of an authorization released (`voidAuthorization`).
    Void,
    /// The uncaptured rest of an expired authorization released.
    Expiry,
    /// Captured money returned to the buyer (`refundPayment`).
    Refund,
    /// A chargeback opened (`openDispute`).
    DisputeOpened,
    /// A chargeback won by the merchant (`resolveDispute`).
    DisputeWon,
    /// A chargeback lost by the merchant (`resolveDispute`).
    DisputeLost,
    /// An exchange between two merchants (`recordDeal`).
    Deal,
    /// Available balance moved into payouts in transit (`createPayout`).
    PayoutCreated,
    /// A payout arrived at the merchant's bank (`settlePayout`).
    PayoutSettled,
    /// A payout bounced back to available (`failPayout`).
    PayoutFailed,
    /// A processor's deposit settled captures: `processor_clearing` to `bank`,
    /// its fee to `processor_fees` (`matchBankStatementLines`).
    Settlement,
    /// A bank line written off to `suspense` (`writeOffBankStatementLine`).
    BankWriteOff,
}

/// Parses a GraphQL `ID` as a UUID. Errors: `BAD_USER_INPUT`.
pub fn parse_uuid(id: &ID, what: &str) -> async_graphql::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| coded(super::error::BAD_USER_INPUT, format!("{what} is not a UUID")))
}

/// Parses a merchant id.
pub fn parse_merchant_id(id: &ID) -> async_graphql::Result<MerchantId> {
    parse_uuid(id, "merchant id").map(MerchantId)
}

/// The optional `merchantId` argument of a lookup by id: the merchant whose
/// books hold the row, when the caller knows it, so that on Citus the lookup
/// reads that merchant's shard alone (a merchant key's lookups use its own
/// merchant without it). Errors: `BAD_USER_INPUT` for a malformed id.
pub fn parse_partition(merchant_id: Option<&ID>) -> async_graphql::Result<Option<MerchantId>> {
    merchant_id.map(parse_merchant_id).transpose()
}

/// Decodes an opaque id cursor (a UUID) of the merchants, payments and payouts
/// connections. Errors: `BAD_USER_INPUT`.
pub fn decode_id_cursor(raw: Option<String>) -> async_graphql::Result<Option<uuid::Uuid>> {
    use async_graphql::connection::CursorType;
    let Some(raw) = raw else { return Ok(None) };
    let c = OpaqueCursor::<String>::decode_cursor(&raw)
        .map_err(|_| coded(super::error::BAD_USER_INPUT, "invalid cursor"))?;
    parse_uuid(&ID(c.0), "cursor").map(Some)
}

/// Decodes an opaque sequence cursor. Errors: `BAD_USER_INPUT`.
pub fn decode_cursor(raw: &str) -> async_graphql::Result<i64> {
    use async_graphql::connection::CursorType;
    OpaqueCursor::<i64>::decode_cursor(raw)
        .map(|c| c.0)
        .map_err(|_| coded(super::error::BAD_USER_INPUT, "invalid cursor"))
}

/// One page of a Relay connection from rows fetched with `limit + 1`: the
/// extra row only tells whether a next page exists.
pub fn page_of<C, T, N>(
    mut rows: Vec<T>,
    limit: u64,
    has_previous: bool,
    cursor: impl Fn(&T) -> C,
    node: impl Fn(T) -> N,
) -> Connection<C, N>
where
    C: async_graphql::connection::CursorType + Send + Sync,
    N: async_graphql::OutputType,
{
    let has_next = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut conn = Connection::new(has_previous, has_next);
    conn.edges.extend(rows.into_iter().map(|r| Edge::new(cursor(&r), node(r))));
    conn
}

/// Parses a money input against its asset. Errors: `UNKNOWN_ASSET` and the
/// amount errors of [`Amount::parse`].
pub(crate) async fn money(ctx: &Context<'_>, m: &MoneyInput) -> async_graphql::Result<(Asset, Amount)> {
    // An asset missing from the cache is read through the pool: end this
    // request's reads first so it never holds a connection while taking another.
    request(ctx)?.finish_reads().await;
    let asset = ledger(ctx)?.asset(&m.currency).await.or_coded()?;
    let amount = Amount::parse(&m.amount, &asset).or_coded()?;
    Ok((asset, amount))
}

pub(super) async fn optional_money(
    ctx: &Context<'_>,
    m: Option<&MoneyInput>,
) -> async_graphql::Result<Option<(AssetCode, Amount)>> {
    match m {
        None => Ok(None),
        Some(m) => {
            let (asset, amount) = money(ctx, m).await?;
            Ok(Some((asset.code, amount)))
        }
    }
}

pub(super) fn reference(r: Option<String>) -> async_graphql::Result<Option<String>> {
    match r {
        Some(s) if s.chars().count() > MAX_REFERENCE_LEN => {
            Err(coded(BAD_USER_INPUT, format!("externalRef is longer than {MAX_REFERENCE_LEN} characters")))
        }
        // PostgreSQL text cannot hold NUL; refused here, not by the database.
        Some(s) if s.contains('\0') => Err(coded(BAD_USER_INPUT, "externalRef contains a NUL character")),
        other => Ok(other),
    }
}

pub(super) fn annotations(
    external_ref: Option<String>,
    metadata: Option<Json<serde_json::Value>>,
    effective_at: Option<DateTime<Utc>>,
) -> async_graphql::Result<Annotations> {
    Ok(Annotations { external_ref: reference(external_ref)?, metadata: metadata.map(|j| j.0), effective_at })
}

/// The [`Call`] of this request's caller for mutation `operation` under
/// idempotency key `key`, fingerprinting `input` as sent. Ends the request's
/// reads first: the write takes its own connection, and a request must never
/// hold one while waiting for another. Errors: `IDEMPOTENCY_KEY_INVALID`.
pub(super) async fn call(
    ctx: &Context<'_>,
    key: &str,
    operation: &'static str,
    input: &impl Serialize,
) -> async_graphql::Result<Call> {
    let rc = request(ctx)?;
    let call = Call::new(&rc.caller, rc.request_id.clone(), key, operation, input).or_coded()?;
    rc.finish_reads().await;
    Ok(call)
}
