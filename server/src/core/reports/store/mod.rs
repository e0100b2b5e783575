//! Monthly rollups in the database: the entry facts a month's rollup folds
//! (see [`crate::core::reports::rollup`]), and the stored closed months.
//!
//! Reads here are report queries: the caller runs them on the reporting
//! connection when one is configured, so they never load the primary.

pub mod books;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, StreamTrait, Value};

use crate::core::db::stmt;
use crate::core::reports::rollup::{ConversionRate, EntryFact, Fold, Month, RollupSums};
use crate::domain::event::FeedPosition;
use crate::domain::{AccountCode, AssetCode, Direction, Layer, TransactionKind};

/// Which transactions a rollup reads: those dated in `[from, to)` whose
/// event stands in the feed at or after `after` (when set) and before
/// `through`. A transaction's place is its event's feed position (see
/// [`crate::domain::event::FeedPosition`]; `(0, seq)` for one older than the
/// outbox): a bound taken from the visibility watermark ([`through_now`]) has
/// every transaction before it committed, so consecutive windows split the
/// books exactly, whatever commits late.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Earliest `effective_at` (inclusive); None: from the start.
    pub from: Option<DateTime<Utc>>,
    /// Latest `effective_at` (exclusive).
    pub to: DateTime<Utc>,
    /// Only transactions at or after this place in the feed.
    pub after: Option<FeedPosition>,
    /// Only transactions before this place in the feed.
    pub through: FeedPosition,
}

/// Class given to transactions of no merchant (platform-only transfers).
pub const PLATFORM_CLASS: &str = "platform";

fn bad(e: impl std::fmt::Display) -> DbErr {
    crate::core::db::corrupt(format!("rollup row: {e}"))
}

/// Every asset's exponent, by code (for deal rates in major units).
pub async fn exponents(db: &impl ConnectionTrait) -> Result<HashMap<String, u32>, DbErr> {
    Ok(crate::core::accounts::store::assets::list(db)
        .await?
        .into_iter()
        .map(|(a, _)| (a.code.to_string(), a.exponent))
        .collect())
}

/// Folds every entry of the transactions in `window`, streaming them in
/// transaction order; `exponents` from [`exponents`]. On Citus each shard
/// folds its own rows' join. Errors: database errors, or a row with an
/// unknown kind, direction or layer, or an entry whose account is missing
/// (never for stored data).
pub async fn fold(
    db: &(impl ConnectionTrait + StreamTrait),
    window: Window,
    exponents: &HashMap<String, u32>,
) -> Result<(BTreeMap<(String, String), RollupSums>, Vec<ConversionRate>), DbErr> {
    let exponent_of = |code: &str| exponents.get(code).copied().unwrap_or(0);
    let mut values: Vec<Value> = vec![window.to.into(), window.through.xid.into(), window.through.seq.into()];
    let mut filter = String::from(
        "t.effective_at < $1 AND (COALESCE(ev.writer_xid, 0) < $2 OR (COALESCE(ev.writer_xid, 0) = $2 AND t.seq < $3))",
    );
    if let Some(from) = window.from {
        values.push(from.into());
        filter.push_str(&format!(" AND t.effective_at >= ${}", values.len()));
    }
    if let Some(after) = window.after {
        values.extend([after.xid.into(), after.seq.into()]);
        let (x, s) = (values.len() - 1, values.len());
        filter.push_str(&format!(
            " AND (COALESCE(ev.writer_xid, 0) > ${x} OR (COALESCE(ev.writer_xid, 0) = ${x} AND t.seq >= ${s}))"
        ));
    }
    let on_citus = crate::core::db::on_citus();
    // An authorization ends at the first capture, void or expiry of its payment.
    // On Citus every distributed table is joined on `merchant_id`, so each
    // shard folds its own rows, and the authorization's end comes from a
    // grouped subquery, since Citus runs a correlated one only in a single
    // shard. A deal's buyer-side entries sit in the seller's partition and
    // reach the buyer's account in another: the outer join leaves them
    // without an account, and `foreign_accounts` reads those.
    let (first_end, ends_join, accounts_join) = if on_citus {
        (
            "fe.first_end",
            "LEFT JOIN (SELECT merchant_id, payment_id, MIN(seq) AS first_end FROM transactions \
               WHERE kind IN ('capture', 'void', 'expiry') GROUP BY merchant_id, payment_id) fe \
               ON fe.merchant_id = t.merchant_id AND fe.payment_id = t.payment_id",
            "LEFT JOIN accounts a ON a.merchant_id = e.merchant_id AND a.id = e.account_id",
        )
    } else {
        (
            "(SELECT MIN(t2.seq) FROM transactions t2 \
               WHERE t2.payment_id = t.payment_id AND t2.kind IN ('capture', 'void', 'expiry'))",
            "",
            "JOIN accounts a ON a.id = e.account_id",
        )
    };
    let sql = format!(
        "SELECT t.seq AS seq, t.kind AS kind, m.class AS class, \
           CASE WHEN t.kind IN ('capture', 'void', 'expiry') AND t.seq = {first_end} THEN 1 ELSE 0 END AS ends, \
           e.asset AS asset, e.account_id AS account_id, CASE WHEN a.platform THEN 1 ELSE 0 END AS platform, \
           a.code AS code, a.normal_balance AS normal, \
           e.direction AS direction, e.layer AS layer, e.amount AS amount \
         FROM transactions t \
         LEFT JOIN merchants m ON m.id = t.merchant_id \
         LEFT JOIN ledger_events ev ON ev.merchant_id = t.merchant_id AND ev.seq = t.seq \
         {ends_join} \
         JOIN entries e ON e.merchant_id = t.merchant_id AND e.transaction_seq = t.seq \
         {accounts_join} \
         WHERE {filter} ORDER BY t.seq, e.seq"
    );
    let mut foreign = if on_citus { foreign_accounts(db, &filter, &values).await? } else { HashMap::new() };
    // A deal that commits between that read and this one has buyer-side
    // accounts it did not see: read them again and fold again (twice at most).
    for _ in 0..3 {
        // Boxed, so the stream (and on a transaction, its hold on the
        // connection) ends with `drop` before the accounts are read again.
        let mut rows = Box::pin(db.stream_raw(stmt(db, &sql, values.clone())).await?);
        let mut fold = Fold::new();
        let mut complete = true;
        while let Some(r) = rows.try_next().await? {
            let kind: String = r.try_get("", "kind")?;
            let (platform, code, normal) = match r.try_get::<Option<String>>("", "code")? {
                Some(code) => {
                    let normal: String = r.try_get("", "normal")?;
                    (
                        r.try_get::<i32>("", "platform")? == 1,
                        AccountCode::parse(&code).map_err(bad)?,
                        Direction::parse(&normal).ok_or_else(|| bad(&normal))?,
                    )
                }
                None => match foreign.get(&r.try_get::<uuid::Uuid>("", "account_id")?) {
                    Some(account) => account.clone(),
                    None => {
                        complete = false;
                        break;
                    }
                },
            };
            let direction: String = r.try_get("", "direction")?;
            let layer: String = r.try_get("", "layer")?;
            let ends: i32 = r.try_get("", "ends")?;
            fold.push(
                EntryFact {
                    transaction_seq: r.try_get("", "seq")?,
                    kind: TransactionKind::parse(&kind).ok_or_else(|| bad(&kind))?,
                    class: r.try_get::<Option<String>>("", "class")?.unwrap_or_else(|| PLATFORM_CLASS.to_owned()),
                    ends_authorization: ends == 1,
                    asset: AssetCode::parse(&r.try_get::<String>("", "asset")?).map_err(bad)?,
                    platform,
                    code,
                    normal,
                    direction: Direction::parse(&direction).ok_or_else(|| bad(&direction))?,
                    layer: Layer::parse(&layer).ok_or_else(|| bad(&layer))?,
                    amount_minor: r.try_get("", "amount")?,
                },
                &exponent_of,
            );
        }
        if complete {
            return Ok(fold.finish(&exponent_of));
        }
        drop(rows);
        foreign = foreign_accounts(db, &filter, &values).await?;
    }
    Err(bad("an entry's account is missing"))
}

/// On Citus: `(platform, code, normal balance)` of each account that an
/// entry in `filter` (the fold's, with its `values`) posts to outside the
/// entry's own partition, a deal's buyer-side accounts. One read of every
/// shard for the ids, then [`accounts::store::find_many`] on them.
/// Errors: the database's.
///
/// [`accounts::store::find_many`]: crate::core::accounts::store::find_many
async fn foreign_accounts(
    db: &impl ConnectionTrait,
    filter: &str,
    values: &[Value],
) -> Result<HashMap<uuid::Uuid, (bool, AccountCode, Direction)>, DbErr> {
    let sql = format!(
        "SELECT DISTINCT e.account_id AS id FROM transactions t \
         LEFT JOIN ledger_events ev ON ev.merchant_id = t.merchant_id AND ev.seq = t.seq \
         JOIN entries e ON e.merchant_id = t.merchant_id AND e.transaction_seq = t.seq \
         LEFT JOIN accounts a ON a.merchant_id = e.merchant_id AND a.id = e.account_id \
         WHERE {filter} AND a.id IS NULL"
    );
    let mut ids = Vec::new();
    for r in db.query_all_raw(stmt(db, &sql, values.to_vec())).await? {
        ids.push(r.try_get::<uuid::Uuid>("", "id")?);
    }
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(crate::core::db::rows_per_statement(1)) {
        for account in crate::core::accounts::store::find_many(db, chunk).await? {
            found.insert(account.id.0, (account.owner.is_platform(), account.code, account.normal_balance));
        }
    }
    Ok(found)
}

/// The place in the feed before which every transaction has committed, as the
/// open read sees it: PostgreSQL's visibility watermark `(xmin, 0)` (every
/// database transaction with a smaller id has ended); on SQLite, with one
/// writer, `(0, last seq + 1)`.
pub async fn through_now(db: &impl ConnectionTrait) -> Result<FeedPosition, DbErr> {
    if crate::core::db::on_citus() {
        // The coordinator's watermark, held below any distributed commit
        // still under way (see `outbox::store::citus_watermark`).
        return Ok(FeedPosition { xid: crate::core::outbox::store::citus_watermark(db).await?, seq: 0 });
    }
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS x, CAST(0 AS BIGINT) AS s"
        }
        _ => "SELECT 0 AS x, COALESCE(MAX(seq), 0) + 1 AS s FROM transactions",
    };
    let row =
        db.query_one_raw(stmt(db, sql, vec![])).await?.ok_or_else(|| DbErr::RecordNotFound("watermark".into()))?;
    Ok(FeedPosition { xid: row.try_get("", "x")?, seq: row.try_get("", "s")? })
}

/// The month of the earliest `effective_at`, if there is any transaction.
pub async fn first_month(db: &impl ConnectionTrait) -> Result<Option<Month>, DbErr> {
    let row = db.query_one_raw(stmt(db, "SELECT MIN(effective_at) AS e FROM transactions", vec![])).await?;
    let first: Option<DateTime<Utc>> = match row {
        Some(r) => r.try_get("", "e")?,
        None => None,
    };
    Ok(first.map(Month::of))
}

/// True when the visibility watermark has passed every committed event (always
/// on SQLite, which has one writer).
pub async fn watermark_passed_events(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(true);
    }
    let sql = "SELECT CAST(CASE WHEN pg_snapshot_xmin(pg_current_snapshot())::text::bigint > \
               COALESCE((SELECT MAX(writer_xid) FROM ledger_events), 0) THEN 1 ELSE 0 END AS BIGINT) AS passed";
    let row =
        db.query_one_raw(stmt(db, sql, vec![])).await?.ok_or_else(|| DbErr::RecordNotFound("watermark".into()))?;
    Ok(row.try_get::<i64>("", "passed")? == 1)
}

/// Closed months with the feed position each was computed through
/// (exclusive), oldest first.
pub async fn closed_months(db: &impl ConnectionTrait) -> Result<Vec<(Month, FeedPosition, DateTime<Utc>)>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT month, through_xid, through_seq, computed_at FROM rollup_months ORDER BY month",
            vec![],
        ))
        .await?;
    rows.into_iter()
        .map(|r| {
            let month: String = r.try_get("", "month")?;
            let through = FeedPosition { xid: r.try_get("", "through_xid")?, seq: r.try_get("", "through_seq")? };
            Ok((Month::parse(&month).map_err(bad)?, through, r.try_get("", "computed_at")?))
        })
        .collect()
}

/// A stored month: its lines (`month` and `adjustment`, per class and asset)
/// and rates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredMonth {
    /// Sums of the month's own transactions, per (class, asset).
    pub lines: BTreeMap<(String, String), RollupSums>,
    /// Sums of backdated transactions reported in this month.
    pub adjustments: BTreeMap<(String, String), RollupSums>,
    /// Deal rates.
    pub rates: Vec<ConversionRate>,
    /// The feed position computed through (exclusive; see [`Window`]).
    pub through: FeedPosition,
}

const SUM_COLUMNS: [&str; 12] = [
    "captured_count",
    "captured_minor",
    "authorizations_ended",
    "authorizations_accepted",
    "refund_count",
    "refund_minor",
    "chargeback_count",
    "chargeback_minor",
    "fees_minor",
    "payout_count",
    "payout_minor",
    "net_movement_minor",
];

fn sums_values(s: &RollupSums) -> Result<Vec<Value>, DbErr> {
    let big = |v: i128| i64::try_from(v).map(Value::from).map_err(|_| bad("a monthly total beyond i64"));
    Ok(vec![
        s.captured_count.into(),
        big(s.captured_minor)?,
        s.authorizations_ended.into(),
        s.authorizations_accepted.into(),
        s.refund_count.into(),
        big(s.refund_minor)?,
        s.chargeback_count.into(),
        big(s.chargeback_minor)?,
        big(s.fees_minor)?,
        s.payout_count.into(),
        big(s.payout_minor)?,
        big(s.net_movement_minor)?,
    ])
}

/// Stores a closed month, its lines and rates, in the caller's transaction.
/// Errors: the month is already stored (unique violation on `rollup_months`).
pub async fn insert_month(
    db: &impl ConnectionTrait,
    month: Month,
    computed_at: DateTime<Utc>,
    stored: &StoredMonth,
) -> Result<(), DbErr> {
    let m = month.to_string();
    db.execute_raw(stmt(
        db,
        "INSERT INTO rollup_months (month, through_xid, through_seq, computed_at) VALUES ($1, $2, $3, $4)",
        vec![m.clone().into(), stored.through.xid.into(), stored.through.seq.into(), computed_at.into()],
    ))
    .await?;
    let columns = SUM_COLUMNS.join(", ");
    let marks: Vec<String> = (5..5 + SUM_COLUMNS.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO rollup_lines (month, line, class, asset, {columns}) VALUES ($1, $2, $3, $4, {})",
        marks.join(", ")
    );
    for (line, map) in [("month", &stored.lines), ("adjustment", &stored.adjustments)] {
        for ((class, asset), sums) in map {
            let mut values: Vec<Value> =
                vec![m.clone().into(), line.into(), class.clone().into(), asset.clone().into()];
            values.extend(sums_values(sums)?);
            db.execute_raw(stmt(db, &sql, values)).await?;
        }
    }
    for r in &stored.rates {
        db.execute_raw(stmt(
            db,
            "INSERT INTO rollup_rates (month, base, quote, deals, mean, low, high) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                m.clone().into(),
                r.base.clone().into(),
                r.quote.clone().into(),
                r.deals.into(),
                r.mean.to_string().into(),
                r.low.to_string().into(),
                r.high.to_string().into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// A stored month, or None when it is not closed yet.
pub async fn load_month(db: &impl ConnectionTrait, month: Month) -> Result<Option<StoredMonth>, DbErr> {
    let m = month.to_string();
    let Some(head) = db
        .query_one_raw(stmt(
            db,
            "SELECT through_xid, through_seq FROM rollup_months WHERE month = $1",
            vec![m.clone().into()],
        ))
        .await?
    else {
        return Ok(None);
    };
    let through = FeedPosition { xid: head.try_get("", "through_xid")?, seq: head.try_get("", "through_seq")? };
    let mut stored = StoredMonth { through, ..StoredMonth::default() };
    let sql = format!("SELECT line, class, asset, {} FROM rollup_lines WHERE month = $1", SUM_COLUMNS.join(", "));
    for r in db.query_all_raw(stmt(db, &sql, vec![m.clone().into()])).await? {
        let get = |c: &str| r.try_get::<i64>("", c);
        let sums = RollupSums {
            captured_count: get("captured_count")?,
            captured_minor: get("captured_minor")?.into(),
            authorizations_ended: get("authorizations_ended")?,
            authorizations_accepted: get("authorizations_accepted")?,
            refund_count: get("refund_count")?,
            refund_minor: get("refund_minor")?.into(),
            chargeback_count: get("chargeback_count")?,
            chargeback_minor: get("chargeback_minor")?.into(),
            fees_minor: get("fees_minor")?.into(),
            payout_count: get("payout_count")?,
            payout_minor: get("payout_minor")?.into(),
            net_movement_minor: get("net_movement_minor")?.into(),
        };
        let key = (r.try_get::<String>("", "class")?, r.try_get::<String>("", "asset")?);
        let line: String = r.try_get("", "line")?;
        if line == "adjustment" {
            stored.adjustments.insert(key, sums)
        } else {
            stored.lines.insert(key, sums)
        };
    }
    for r in db
        .query_all_raw(stmt(
            db,
            "SELECT base, quote, deals, mean, low, high FROM rollup_rates WHERE month = $1 ORDER BY base, quote",
            vec![m.into()],
        ))
        .await?
    {
        let dec = |c: &str| -> Result<Decimal, DbErr> { r.try_get::<String>("", c)?.parse().map_err(bad) };
        stored.rates.push(ConversionRate {
            base: r.try_get("", "base")?,
            quote: r.try_get("", "quote")?,
            deals: r.try_get("", "deals")?,
            mean: dec("mean")?,
            low: dec("low")?,
            high: dec("high")?,
        });
    }
    Ok(Some(stored))
}
