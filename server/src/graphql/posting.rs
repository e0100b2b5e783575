//! GraphQL of the posting aggregate: transactions and their entries, the
//! `transaction` query and `reversalPreview`, and the mutations that post a
//! transaction (`postTransaction`, `postTransactions`, `recordDeal`) or
//! reverse one (`reverseTransaction`).

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::accounts::AccountNode;
use super::common::{
    DirectionType, LayerType, Money, MoneyInput, TransactionKindType, annotations, call, decode_cursor, money, page_of,
    parse_merchant_id, parse_uuid, reference,
};
use super::context::{caller, not_found, reads, sees, visible};
use super::error::{BAD_USER_INPUT, OrCoded, coded};
use super::merchants::{MerchantNode, merchant_node};
use super::payments::PaymentNode;
use super::{access, ledger, page_size};
use crate::core::LedgerError;
use crate::core::payments::payment;
use crate::core::posting::{self, EntryRecord, Posted, TransactionRecord};
use crate::domain::transaction::MAX_ENTRIES_PER_TRANSACTION;
use crate::domain::{
    AccountCode, AccountId, AccountRef, Amount, AssetCode, DomainError, EntryDraft, Layer, Owner, TransactionDraft,
    TransactionId, TransactionKind,
};

/// A transaction: a balanced set of entries, append-only. The second field
/// holds what a dry run saw (its entries and their accounts exist nowhere
/// else); `None` reads the entries.
pub struct TransactionNode(pub TransactionRecord, pub Option<std::sync::Arc<posting::DryRun>>);

impl TransactionNode {
    /// The node of a stored transaction.
    pub fn of(record: TransactionRecord) -> Self {
        Self(record, None)
    }
}

#[Object(name = "Transaction")]
impl TransactionNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its number in its merchant's journal: gap-free and in commit order
    /// within that merchant (each merchant counts 1, 2, 3…; since issue 17,
    /// not across the ledger). Order a merchant's transactions by this, not by
    /// time; `asOf: {sequence}` takes it.
    async fn sequence(&self) -> i64 {
        self.0.number
    }
    /// A deal's number in the counterparty's journal; null without one.
    async fn counterparty_sequence(&self) -> Option<i64> {
        self.0.counterparty_number
    }
    /// What it records.
    async fn kind(&self) -> TransactionKindType {
        self.0.kind.into()
    }
    /// Its merchant.
    async fn merchant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        merchant_node(ctx, self.0.merchant).await
    }
    /// The caller's reference.
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    /// The caller's metadata, a JSON object.
    async fn metadata(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.metadata.clone())
    }
    /// When the movement happened (may be backdated).
    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.effective_at
    }
    /// When it was committed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Who posted it: `key:<prefix>` (a merchant API key),
    /// `service:<name>:<prefix>` (a platform service's key), `staff:<username>`,
    /// `system:<job>` (the server's own jobs), or `unrecorded` (before actors were kept).
    async fn actor(&self) -> String {
        self.0.actor.to_string()
    }
    /// The id of the HTTP request that posted it (its `x-request-id`).
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// The idempotency key it was posted under; none for the server's own jobs.
    async fn idempotency_key(&self) -> Option<&str> {
        self.0.idempotency_key.as_deref()
    }
    /// The transaction this one reverses.
    async fn reverses(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TransactionNode>> {
        let Some(id) = self.0.reverses else { return Ok(None) };
        Ok(posting::find(&reads(ctx).await?, id, Some(self.0.merchant)).await.or_coded()?.map(TransactionNode::of))
    }
    /// The transaction that reversed this one, if any.
    async fn reversed_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TransactionNode>> {
        Ok(posting::reversal_of(&reads(ctx).await?, self.0.merchant, self.0.id)
            .await
            .or_coded()?
            .map(TransactionNode::of))
    }
    /// The other merchant of a deal.
    async fn counterparty(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        let Some(id) = self.0.counterparty else { return Ok(None) };
        merchant_node(ctx, id).await
    }
    /// The payment this transaction is a step of.
    async fn payment(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PaymentNode>> {
        let Some(id) = self.0.payment else { return Ok(None) };
        let payment = crate::core::payments::find(&reads(ctx).await?, id, Some(self.0.merchant)).await.or_coded()?;
        Ok(payment.map(PaymentNode))
    }
    /// Its entries, in sequence order.
    async fn entries(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EntryNode>> {
        if let Some(dry) = &self.1 {
            let account = |id| dry.accounts.iter().find(|a| a.id == id).cloned();
            return Ok(dry.entries.iter().map(|e| EntryNode(e.clone(), account(e.account))).collect());
        }
        let entries = super::loaders::loaders(ctx)?
            .entries
            .load_one((self.0.merchant, self.0.id))
            .await
            .map_err(super::loaders::load_error)?;
        Ok(entries.unwrap_or_default().into_iter().map(EntryNode::of).collect())
    }
}

/// One posting: an amount on the debit or credit side of one account. The
/// second field is its account when already at hand (a dry run's); `None`
/// loads it.
pub struct EntryNode(pub EntryRecord, pub Option<crate::core::accounts::Account>);

impl EntryNode {
    /// The node of a stored entry.
    pub fn of(entry: EntryRecord) -> Self {
        Self(entry, None)
    }
}

#[Object(name = "Entry")]
impl EntryNode {
    /// Its row key, as an id.
    async fn id(&self) -> ID {
        ID(self.0.seq.to_string())
    }
    /// Its row key: unique, and rising in commit order within its account
    /// (an account's entries page by it), with gaps; since issue 17 not in
    /// commit order across accounts of different merchants.
    async fn sequence(&self) -> i64 {
        self.0.seq
    }
    /// Its transaction's row key. Not the transaction's `sequence` (its
    /// journal number) since issue 17.
    #[graphql(deprecation = "a row key, not the transaction's journal number: read `transaction { sequence }`")]
    async fn transaction_sequence(&self) -> i64 {
        self.0.transaction_seq
    }
    /// Debit or credit.
    async fn direction(&self) -> DirectionType {
        self.0.direction.into()
    }
    /// Posted, or a pending hold or release.
    async fn layer(&self) -> LayerType {
        self.0.layer.into()
    }
    /// Positive amount.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.amount.minor().into()).await
    }
    /// The account posted to.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccountNode>> {
        if let Some(account) = &self.1 {
            return Ok(sees(ctx, account.owner.merchant_id()).then(|| AccountNode(account.clone())));
        }
        let account = super::loaders::loaders(ctx)?
            .accounts
            .load_one((self.0.merchant, self.0.account))
            .await
            .map_err(super::loaders::load_error)?;
        // A merchant key sees its own accounts only, never the platform's.
        Ok(account.filter(|a| sees(ctx, a.owner.merchant_id())).map(AccountNode))
    }
    /// Its transaction's id (UUID), without reading the transaction.
    async fn transaction_id(&self) -> ID {
        ID(self.0.transaction_id.to_string())
    }
    /// Its transaction's effective time (the value date).
    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.effective_at
    }
    /// Its transaction.
    async fn transaction(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TransactionNode>> {
        let found = posting::find(&reads(ctx).await?, self.0.transaction_id, Some(self.0.merchant)).await.or_coded()?;
        Ok(found.map(TransactionNode::of))
    }
}

/// An account's entries as a Relay connection ordered by sequence (ascending),
/// so pages never shift as new entries arrive.
pub async fn entries_connection(
    ctx: &Context<'_>,
    account: AccountId,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<OpaqueCursor<i64>, EntryNode>> {
    let limit = page_size(first)?;
    let after = after.as_deref().map(decode_cursor).transpose()?;
    let rows = posting::entries_page(&reads(ctx).await?, account, after, limit + 1).await.or_coded()?;
    Ok(page_of(rows, limit, after.is_some(), |e| OpaqueCursor(e.seq), EntryNode::of))
}

/// The posting aggregate's root queries, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct PostingQuery;

#[Object]
impl PostingQuery {
    /// A transaction by id, with its entries. `merchantId`, optional: a
    /// merchant party to it, so that on Citus the lookup reads that
    /// merchant's shard alone (a merchant key's lookups use its own). Errors:
    /// `NOT_FOUND` (also when it is neither the caller merchant's nor a deal it
    /// is party to, or not `merchantId`'s), `BAD_USER_INPUT` for a malformed id.
    #[graphql(guard = "access::FIELD")]
    async fn transaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
        merchant_id: Option<ID>,
    ) -> async_graphql::Result<Option<TransactionNode>> {
        let id = TransactionId(parse_uuid(&id, "transaction id")?);
        let partition = super::common::parse_partition(merchant_id.as_ref())?;
        let found = posting::find(&reads(ctx).await?, id, partition).await.or_coded()?.ok_or_else(not_found)?;
        if visible(ctx, found.merchant).is_err() && found.counterparty.is_none_or(|c| visible(ctx, c).is_err()) {
            return Err(not_found());
        }
        Ok(Some(TransactionNode::of(found)))
    }

    /// Transactions matching `filter`, newest first, a Relay connection
    /// (keyset cursors; issue 19). `merchantId`: whose books. A merchant key
    /// always searches its own (another merchant's id is `NOT_FOUND`); staff
    /// and services may leave it out to look an `externalRef` up across
    /// every merchant. Every condition is served by an index; a search no
    /// index serves is refused before it runs. Errors: `FILTER_NOT_INDEXED`
    /// (no merchant and no `externalRef`; metadata on SQLite),
    /// `BAD_USER_INPUT` (a list or text over its limit, a malformed id or
    /// cursor, `first` out of range), `NOT_FOUND`.
    #[graphql(guard = "access::FIELD", complexity = "super::list_cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        merchant_id: Option<ID>,
        filter: TransactionFilter,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, TransactionNode>> {
        let limit = page_size(first)?;
        let named = super::common::parse_partition(merchant_id.as_ref())?;
        if let Some(m) = named {
            visible(ctx, m)?;
        }
        let after = after.as_deref().map(decode_search_cursor).transpose()?;
        let search = filter.into_search()?;
        let reads = reads(ctx).await?;
        let merchant = reads.partition(named);
        let rows = posting::search::search(&reads, merchant, &search, after, limit + 1).await.or_coded()?;
        Ok(page_of(rows, limit, after.is_some(), search_cursor, TransactionNode::of))
    }

    /// What `reverseTransaction` would post for `transactionId`, computed by
    /// the same code, writing nothing: a payment step's holds become
    /// releases, and only a capture's posted entries are reversed. The same
    /// callers as `reverseTransaction`. Errors: `NOT_FOUND`,
    /// `ALREADY_REVERSED`, `PAYMENT_STEP_NOT_REVERSIBLE`.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn reversal_preview(
        &self,
        ctx: &Context<'_>,
        transaction_id: ID,
    ) -> async_graphql::Result<super::preview::ReversalPreviewNode> {
        let id = TransactionId(super::common::parse_uuid(&transaction_id, "transaction id")?);
        let entries = posting::preview_reversal(&reads(ctx).await?, id).await.or_coded()?;
        Ok(super::preview::ReversalPreviewNode { transaction: id, entries })
    }
}

/// One entry of `postTransaction`. Name the account by `accountId`, or by
/// `accountCode` (of the transaction's merchant, or of the platform when
/// `platform` is true); standard codes are created on first use.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryInput {
    /// An existing account of this merchant or the platform.
    pub account_id: Option<ID>,
    /// An account code, instead of `accountId`.
    pub account_code: Option<String>,
    /// With `accountCode`: true for a platform account, which is the
    /// platform's subsidiary account for the transaction's merchant (opened
    /// on first use for a code of the platform's chart).
    #[graphql(default)]
    pub platform: bool,
    /// Debit or credit.
    pub direction: DirectionType,
    /// Positive amount; its currency must be the account's asset.
    pub amount: MoneyInput,
}

/// Input of `postTransaction`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostTransactionInput {
    /// The merchant it belongs to.
    pub merchant_id: ID,
    /// 2 to 64 entries that balance per asset.
    pub entries: Vec<EntryInput>,
    /// Your reference, up to 500 characters.
    pub external_ref: Option<String>,
    /// A JSON object, at most 4096 bytes, with no NUL character (PostgreSQL cannot store one).
    pub metadata: Option<Json<serde_json::Value>>,
    /// When it happened; now if absent. May be in the past.
    pub effective_at: Option<DateTime<Utc>>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Most transactions one `postTransactions` call carries. Each may have up to
/// 64 entries; 500 typical transactions fit well within the 1 MiB body limit,
/// and one database transaction of 500 stays short enough not to hold its
/// balance locks for long.
pub const MAX_BULK_TRANSACTIONS: usize = 500;

/// Input of `postTransactions`.
#[derive(InputObject)]
pub struct PostTransactionsInput {
    /// 1 to 500 transactions, each with its own idempotency key, exactly as
    /// `postTransaction` takes them (the same key and input sent alone or in a
    /// batch is the same request: the second is a replay).
    pub transactions: Vec<PostTransactionInput>,
    /// All or nothing: when any transaction is refused, none is written (the
    /// others answer `BATCH_ROLLED_BACK`). Default false: each transaction is
    /// posted or refused on its own.
    #[graphql(default)]
    pub atomic: bool,
}

/// Why one transaction of a batch was refused.
#[derive(SimpleObject)]
pub struct ItemError {
    /// The stable error code, as `extensions.code` would carry it.
    pub code: String,
    /// What to fix.
    pub message: String,
}

/// One transaction's result in a `postTransactions` call.
#[derive(SimpleObject)]
pub struct BulkItemResult {
    /// Its position in the input, from 0.
    pub index: i32,
    /// The transaction posted (on a replay, the one posted the first time);
    /// null when refused.
    pub transaction_id: Option<ID>,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
    /// Why it was refused; null when posted.
    pub error: Option<ItemError>,
}

/// Result of `postTransactions`.
#[derive(SimpleObject)]
pub struct PostTransactionsPayload {
    /// One result per input transaction, in input order.
    pub results: Vec<BulkItemResult>,
    /// How many transactions were written or replayed (0 for a refused atomic
    /// batch); on a dry run, how many would be.
    pub posted: i32,
    /// True for a dry run: nothing was written, no key was claimed, and the
    /// results' transaction ids exist nowhere.
    pub dry_run: bool,
}

/// The code and message of a coded GraphQL error, as a batch item's error.
fn item_error(e: &async_graphql::Error) -> ItemError {
    let code = e
        .extensions
        .as_ref()
        .and_then(|x| x.get("code"))
        .and_then(|c| match c {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| BAD_USER_INPUT.to_owned());
    ItemError { code, message: e.message.clone() }
}

/// Input of `recordDeal`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordDealInput {
    /// The merchant selling (the transaction's merchant).
    pub seller_id: ID,
    /// The merchant buying.
    pub buyer_id: ID,
    /// What the buyer hands over (e.g. 30.00 USD); at least one.
    pub buyer_gives: Vec<MoneyInput>,
    /// What the seller hands over (e.g. 1 STAFF); at least one.
    pub seller_gives: Vec<MoneyInput>,
    /// Your reference.
    pub external_ref: Option<String>,
    /// A JSON object, at most 4096 bytes, with no NUL character (PostgreSQL cannot store one).
    pub metadata: Option<Json<serde_json::Value>>,
    /// When it happened; now if absent.
    pub effective_at: Option<DateTime<Utc>>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Result of a mutation that posts a transaction.
#[derive(SimpleObject)]
pub struct TransactionPayload {
    /// The transaction posted (or, on a replay, posted the first time); on
    /// a dry run, the one it would post, which does not exist.
    pub transaction: TransactionNode,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
    /// On a dry run, the balances the transaction would leave; null for a
    /// real write.
    pub dry_run: Option<super::preview::DryRunNode>,
}

/// The posting aggregate's mutations, merged into [`super::MutationRoot`].
#[derive(Default)]
pub struct PostingMutation;

#[Object]
impl PostingMutation {
    /// Posts any balanced set of entries on accounts of one merchant and the
    /// platform. Errors: `AMOUNT_NOT_POSITIVE`, `AMOUNT_PRECISION_EXCEEDED`,
    /// `AMOUNT_MALFORMED`, `AMOUNT_OVERFLOW`, `UNKNOWN_ASSET`,
    /// `TRANSACTION_UNBALANCED`, `ENTRY_COUNT_INVALID`, `ASSET_MISMATCH`,
    /// `ACCOUNT_NOT_FOUND`, `ACCOUNT_OF_ANOTHER_MERCHANT`, `NOT_FOUND`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn post_transaction(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,
        input: PostTransactionInput,
    ) -> async_graphql::Result<TransactionPayload> {
        let draft = transfer_draft(ctx, &input).await?;
        post(ctx, dry_run, &input.idempotency_key, "postTransaction", &input, draft).await
    }

    /// Posts up to 500 transactions (each as `postTransaction` takes it) in one
    /// database transaction. Each is posted or refused on its own, with its
    /// own result; with `atomic: true`, one refusal writes nothing. Errors (the
    /// whole call): `BATCH_SIZE_INVALID` for 0 or more than 500 transactions;
    /// per transaction, the errors of `postTransaction` and `BATCH_ROLLED_BACK`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST * 4 + child_complexity")]
    async fn post_transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run the batch and roll it back; see `DryRun`")] dry_run: bool,
        input: PostTransactionsInput,
    ) -> async_graphql::Result<PostTransactionsPayload> {
        let n = input.transactions.len();
        if n == 0 || n > MAX_BULK_TRANSACTIONS {
            return Err(coded(
                "BATCH_SIZE_INVALID",
                format!("give 1 to {MAX_BULK_TRANSACTIONS} transactions; got {n}"),
            ));
        }
        let mut results: Vec<Option<BulkItemResult>> = (0..n).map(|_| None).collect();
        let (mut requests, mut positions) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, item) in input.transactions.iter().enumerate() {
            let parsed = match transfer_draft(ctx, item).await {
                Ok(draft) => call(ctx, &item.idempotency_key, "postTransaction", item).await.map(|c| (c, draft)),
                Err(e) => Err(e),
            };
            match parsed {
                Ok(r) => {
                    requests.push(r);
                    positions.push(i);
                }
                Err(e) => results[i] = Some(refused_item(i, item_error(&e))),
            }
        }
        let refused_at_edge = results.iter().any(Option::is_some);
        let applied = if input.atomic && refused_at_edge {
            // Nothing reaches the ledger: the refusals above stand, the rest roll back.
            positions
                .iter()
                .map(|_| Err(LedgerError::Posting(crate::core::posting::PostingError::BatchRolledBack)))
                .collect()
        } else {
            super::context::request(ctx)?.finish_reads().await;
            ledger(ctx)?.posting().post_batch(requests, input.atomic, dry_run).await
        };
        let mut posted = 0;
        for (i, outcome) in positions.into_iter().zip(applied) {
            results[i] = Some(match outcome {
                Ok(a) => {
                    posted += 1;
                    BulkItemResult {
                        index: i32::try_from(i).unwrap_or(i32::MAX),
                        transaction_id: a.transaction.map(|t| ID(t.to_string())),
                        replayed: a.replayed,
                        error: None,
                    }
                }
                Err(e) => refused_item(i, item_error(&super::error::to_graphql(e))),
            });
        }
        Ok(PostTransactionsPayload { results: results.into_iter().flatten().collect(), posted, dry_run })
    }

    /// Records a deal between two merchants in one atomic transaction, possibly
    /// of several assets: the buyer's `buyerGives` go to the seller and the
    /// seller's `sellerGives` (goods such as `STAFF`) go to the buyer, between
    /// their `available` accounts. Neither may give more than it holds. Reverse a
    /// defective deal with `reverseTransaction`. Errors: the amount errors,
    /// `INSUFFICIENT_FUNDS`, `NOT_FOUND`, `ENTRY_COUNT_INVALID`, `BAD_USER_INPUT`
    /// (a merchant dealing with itself), `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn record_deal(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

        input: RecordDealInput,
    ) -> async_graphql::Result<TransactionPayload> {
        let seller = parse_merchant_id(&input.seller_id)?;
        let buyer = parse_merchant_id(&input.buyer_id)?;
        if input.buyer_gives.len() + input.seller_gives.len() > MAX_ENTRIES_PER_TRANSACTION / 2 {
            return Err(DomainError::TooManyEntries { max: MAX_ENTRIES_PER_TRANSACTION }).or_coded();
        }
        let mut legs: [Vec<(AssetCode, Amount)>; 2] = [Vec::new(), Vec::new()];
        for (side, gives) in [&input.buyer_gives, &input.seller_gives].into_iter().enumerate() {
            for m in gives {
                let (asset, amount) = money(ctx, m).await?;
                legs[side].push((asset.code, amount));
            }
        }
        let notes = annotations(input.external_ref.clone(), input.metadata.clone(), input.effective_at)?;
        let draft = payment::record_deal(seller, buyer, &legs[0], &legs[1], notes).or_coded()?;
        post(ctx, dry_run, &input.idempotency_key, "recordDeal", &input, draft).await
    }

    /// Reverses a posted transaction: appends a new transaction with every entry
    /// on the opposite side, linked by `reverses`. A transaction is reversed at
    /// most once. A reversal that would take a balance past its limit is
    /// refused; an admin may pass `force: true` to skip that check (audited as
    /// `forceReverseTransaction`, and the reversal's metadata says `forced:
    /// true`). Errors: `NOT_FOUND`, `ALREADY_REVERSED`, `REASON_REQUIRED`,
    /// `BALANCE_LIMIT_EXCEEDED`, `FORBIDDEN` (`force` by anyone but an admin),
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    // Each GraphQL argument is a Rust argument.
    #[allow(clippy::too_many_arguments)]
    async fn reverse_transaction(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

        transaction_id: ID,
        reason: String,
        idempotency_key: String,
        #[graphql(default)] force: bool,
        #[graphql(desc = "The transaction's merchant, optional: on Citus the reversal then locks and reads \
                          that merchant's shard alone (a merchant key's use its own).")]
        merchant_id: Option<ID>,
    ) -> async_graphql::Result<TransactionPayload> {
        if force {
            crate::core::access::rules::Access::staff(crate::core::access::rules::Role::Admin)
                .check(caller(ctx)?)
                .map_err(super::context::refused)?;
        }
        let id = TransactionId(parse_uuid(&transaction_id, "transaction id")?);
        // `force` joins the fingerprint only when set, so unforced requests
        // keep the fingerprint they had before the argument existed.
        let (operation, input) = if force {
            let input = serde_json::json!({ "transactionId": id.to_string(), "reason": reason, "force": true });
            ("forceReverseTransaction", input)
        } else {
            ("reverseTransaction", serde_json::json!({ "transactionId": id.to_string(), "reason": reason }))
        };
        let partition = super::common::parse_partition(merchant_id.as_ref())?;
        // A named merchant joins the fingerprint only when given, for the same reason.
        let input = match partition {
            Some(m) => {
                let mut input = input;
                input["merchantId"] = serde_json::json!(m.to_string());
                input
            }
            None => input,
        };
        let call = call(ctx, &idempotency_key, operation, &input).await?.dry_run(dry_run).naming(partition);
        posted(ledger(ctx)?.posting().reverse(call, id, reason, force).await)
    }
}

/// A refused item of a batch.
fn refused_item(index: usize, error: ItemError) -> BulkItemResult {
    BulkItemResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        transaction_id: None,
        replayed: false,
        error: Some(error),
    }
}

/// Parses a `postTransaction` input into a validated transfer draft. Errors: the
/// shape and amount errors of `postTransaction`, and `TRANSACTION_UNBALANCED`,
/// `ENTRY_COUNT_INVALID`.
async fn transfer_draft(ctx: &Context<'_>, input: &PostTransactionInput) -> async_graphql::Result<TransactionDraft> {
    let merchant = parse_merchant_id(&input.merchant_id)?;
    if input.entries.len() > MAX_ENTRIES_PER_TRANSACTION {
        return Err(DomainError::TooManyEntries { max: MAX_ENTRIES_PER_TRANSACTION }).or_coded();
    }
    let mut entries = Vec::with_capacity(input.entries.len());
    for e in &input.entries {
        let account = match (&e.account_id, &e.account_code) {
            (Some(id), None) => AccountRef::Id(AccountId(parse_uuid(id, "account id")?)),
            (None, Some(code)) => AccountRef::Code {
                owner: if e.platform { Owner::Platform } else { Owner::Merchant(merchant) },
                code: AccountCode::parse(code).or_coded()?,
            },
            _ => return Err(coded(BAD_USER_INPUT, "give exactly one of accountId and accountCode")),
        };
        let (asset, amount) = money(ctx, &e.amount).await?;
        entries.push(EntryDraft {
            account,
            asset: asset.code,
            direction: e.direction.into(),
            amount,
            layer: Layer::Posted,
        });
    }
    let draft = TransactionDraft {
        external_ref: reference(input.external_ref.clone())?,
        metadata: input.metadata.clone().map_or_else(|| serde_json::json!({}), |j| j.0),
        effective_at: input.effective_at,
        ..TransactionDraft::new(merchant, TransactionKind::Transfer, entries)
    };
    draft.validate().or_coded()?;
    Ok(draft)
}

/// Posts `draft` under idempotency key `key` (see [`call`]).
pub(super) async fn post(
    ctx: &Context<'_>,
    dry_run: bool,
    key: &str,
    operation: &'static str,
    input: &impl Serialize,
    draft: TransactionDraft,
) -> async_graphql::Result<TransactionPayload> {
    let call = call(ctx, key, operation, input).await?.dry_run(dry_run);
    posted(ledger(ctx)?.posting().post(call, draft).await)
}

fn posted(result: Result<Posted, LedgerError>) -> async_graphql::Result<TransactionPayload> {
    let posted = result.or_coded()?;
    let (transaction, dry_run) = super::preview::dry_parts(posted.transaction, posted.dry_run);
    Ok(TransactionPayload { transaction, replayed: posted.replayed, dry_run })
}

/// What to find among transactions (`transactions`, `Merchant.transactions`).
/// Every field narrows the result; each is served by an index.
#[derive(InputObject, Default)]
pub struct TransactionFilter {
    /// Exactly this external reference (an order number), as posted.
    pub external_ref: Option<String>,
    /// Any of these external references (at most 100).
    pub external_ref_in: Option<Vec<String>>,
    /// Conditions on the metadata's top-level keys, all of which must hold
    /// (at most 10).
    pub metadata: Option<Vec<MetadataFilter>>,
    /// Transactions of this kind.
    pub kind: Option<TransactionKindType>,
    /// Transactions of this payment's life cycle.
    pub payment_id: Option<ID>,
    /// Transactions effective (by value date) in this range.
    pub effective_at: Option<TimeRangeInput>,
    /// Transactions recorded (`createdAt`) in this range.
    pub created_at: Option<TimeRangeInput>,
    /// Transactions with an entry on this account (UUID).
    pub account_id: Option<ID>,
}

/// A range of times: `from` inclusive, `to` exclusive, either left open.
#[derive(InputObject, Default, Clone, Copy)]
#[graphql(name = "TimeRange")]
pub struct TimeRangeInput {
    /// The first time in the range.
    pub from: Option<DateTime<Utc>>,
    /// The first time after it.
    pub to: Option<DateTime<Utc>>,
}

impl From<Option<TimeRangeInput>> for posting::search::TimeRange {
    fn from(range: Option<TimeRangeInput>) -> Self {
        let range = range.unwrap_or_default();
        posting::search::TimeRange { from: range.from, to: range.to }
    }
}

/// One condition on a top-level metadata key: give `equals` (the key holds
/// exactly this JSON value) or `exists: true` (the key is present), not both.
#[derive(InputObject)]
pub struct MetadataFilter {
    /// The key, 1 to 512 bytes.
    pub key: String,
    /// The value the key must hold, any JSON.
    pub equals: Option<Json<serde_json::Value>>,
    /// `true`: the key must be present. (`false` is refused: no index can
    /// find what is absent.)
    pub exists: Option<bool>,
}

impl TransactionFilter {
    /// The core's search. Errors: `BAD_USER_INPUT` for a metadata condition
    /// with both or neither of `equals` and `exists: true`, or a malformed
    /// payment id.
    pub(crate) fn into_search(self) -> async_graphql::Result<posting::search::Search> {
        use posting::search::MetadataCondition;
        let mut external_refs: Vec<String> = self.external_ref.into_iter().collect();
        external_refs.extend(self.external_ref_in.unwrap_or_default());
        let metadata = self
            .metadata
            .unwrap_or_default()
            .into_iter()
            .map(|m| match (m.equals, m.exists) {
                (Some(Json(value)), None) => Ok(MetadataCondition::Equals(m.key, value)),
                (None, Some(true)) => Ok(MetadataCondition::Exists(m.key)),
                _ => Err(coded(BAD_USER_INPUT, "a metadata condition takes either `equals` or `exists: true`")),
            })
            .collect::<async_graphql::Result<Vec<_>>>()?;
        let payment = self.payment_id.as_ref().map(|id| parse_uuid(id, "payment id")).transpose()?;
        let account = self.account_id.as_ref().map(|id| parse_uuid(id, "account id").map(AccountId)).transpose()?;
        Ok(posting::search::Search {
            external_refs,
            metadata,
            kind: self.kind.map(Into::into),
            payment,
            effective: self.effective_at.into(),
            created: self.created_at.into(),
            account,
        })
    }
}

/// The cursor of a transaction in a list of transactions
/// (`transactions`, `Merchant.transactions`): its sequence and merchant.
pub(crate) fn search_cursor(t: &TransactionRecord) -> OpaqueCursor<String> {
    OpaqueCursor(format!("{}:{}", t.seq, t.merchant.0))
}

/// Reads a [`search_cursor`]. Errors: `BAD_USER_INPUT`.
pub(crate) fn decode_search_cursor(raw: &str) -> async_graphql::Result<posting::search::After> {
    use async_graphql::connection::CursorType;
    let bad = || coded(BAD_USER_INPUT, "malformed cursor");
    let text = OpaqueCursor::<String>::decode_cursor(raw).map_err(|_| bad())?.0;
    let (seq, merchant) = text.split_once(':').ok_or_else(bad)?;
    Ok(posting::search::After {
        seq: seq.parse().map_err(|_| bad())?,
        merchant: crate::domain::MerchantId(merchant.parse().map_err(|_| bad())?),
    })
}
