//! Whole-book queries: balances at a past point, the trial balance, and the
//! audit checks behind `verify` and `rebuild-balances`.
//!
//! Sums are computed in SQL as `CAST(SUM(..) AS BIGINT)`: PostgreSQL sums BIGINT
//! into NUMERIC and the cast raises an error rather than wrapping, and SQLite's
//! integer SUM raises "integer overflow" likewise.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Value};

use crate::core::db::stmt;
use crate::domain::{AccountCode, AssetCode, Balance, MerchantId, NormalBalance};

pub use crate::domain::AsOf;

/// The posted balance of each of `merchant`'s accounts with `code`, per asset, at
/// `as_of`, summed from the entries. Pending totals are zero in the past, since
/// entries record posted movements.
pub async fn balances_as_of(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    code: &AccountCode,
    as_of: AsOf,
) -> Result<Vec<(AssetCode, NormalBalance, Balance)>, DbErr> {
    let (cond, bound): (&str, Value) = match as_of {
        AsOf::Sequence(number) => (
            "layer = 'posted' AND transaction_seq <= $1",
            crate::core::posting::store::row_key_of(db, merchant, number).await?.into(),
        ),
        AsOf::Effective(t) => ("layer = 'posted' AND effective_at <= $1", t.into()),
        AsOf::Known(t) => (
            "layer = 'posted' AND EXISTS (SELECT 1 FROM transactions t WHERE t.merchant_id = entries.merchant_id \
             AND t.seq = entries.transaction_seq AND t.created_at <= $1)",
            t.into(),
        ),
    };
    // The accounts, from the merchant's partition; then their entries' sums.
    // Two statements, because a deal's buyer-side entries are stored in the
    // seller's partition: on Citus a join of accounts and entries on the
    // account would join across shards, which Citus refuses for an outer join.
    let accounts = db
        .query_all_raw(stmt(
            db,
            "SELECT id, asset, normal_balance FROM accounts WHERE merchant_id = $1 AND NOT platform AND code = $2 \
             ORDER BY asset",
            vec![merchant.0.into(), code.as_str().into()],
        ))
        .await?;
    let mut ids: Vec<Value> = Vec::with_capacity(accounts.len());
    for row in &accounts {
        ids.push(row.try_get::<uuid::Uuid>("", "id")?.into());
    }
    let mut sums: std::collections::HashMap<uuid::Uuid, (i64, i64)> = std::collections::HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT account_id, \
               CAST(COALESCE(SUM(CASE WHEN direction = 'debit' THEN amount ELSE 0 END), 0) AS BIGINT) AS debits, \
               CAST(COALESCE(SUM(CASE WHEN direction = 'credit' THEN amount ELSE 0 END), 0) AS BIGINT) AS credits \
             FROM entries WHERE {cond} AND account_id IN ({}) GROUP BY account_id",
            crate::core::db::placeholders(2, ids.len())
        );
        let mut values = vec![bound];
        values.extend(ids);
        for r in db.query_all_raw(stmt(db, &sql, values)).await? {
            sums.insert(r.try_get("", "account_id")?, (r.try_get("", "debits")?, r.try_get("", "credits")?));
        }
    }
    // One account per (merchant, code, asset): the rows are per asset.
    accounts
        .into_iter()
        .map(|r| {
            let id: uuid::Uuid = r.try_get("", "id")?;
            let asset: String = r.try_get("", "asset")?;
            let normal: String = r.try_get("", "normal_balance")?;
            let (debits, credits) = sums.get(&id).copied().unwrap_or_default();
            Ok((
                AssetCode::parse(&asset).map_err(|e| crate::core::db::corrupt(e.to_string()))?,
                crate::domain::Direction::parse(&normal).ok_or_else(|| crate::core::db::corrupt(normal.clone()))?,
                Balance { debits_posted: debits, credits_posted: credits, ..Balance::default() },
            ))
        })
        .collect()
}

/// One line of the trial balance: the totals of all accounts with one code, one
/// asset and one kind of owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialBalanceLine {
    /// The account code.
    pub code: AccountCode,
    /// The asset.
    pub asset: AssetCode,
    /// True for the platform's accounts, false for the sum over all merchants.
    pub platform: bool,
    /// How many accounts the line sums.
    pub accounts: i64,
    /// Sum of their totals, minor units.
    pub balance: Balance,
}

/// The trial balance from the balance rows (no entry is summed): per code, asset
/// and owner kind. Debits and credits of each asset sum to the same total.
///
/// A `platform` line is a control account: the sum of the platform's
/// subsidiary accounts of that code and asset (one per merchant, plus the
/// platform's own). It is an aggregate over the balance rows, computed on
/// each call, not a maintained row: a maintained total would be one row that
/// every payment of every merchant updates, the lock the subsidiary accounts
/// exist to remove.
///
/// `sees_all` (the reader's tenant is every merchant) on PostgreSQL sums
/// through `ledger_balance_totals` (migration `m20261204_000013`): the
/// tables' owner skips re-checking the row-level security of rows that all
/// pass, so the scan runs in parallel.
pub async fn trial_balance(db: &impl ConnectionTrait, sees_all: bool) -> Result<Vec<TrialBalanceLine>, DbErr> {
    if sees_all && db.get_database_backend() == DbBackend::Postgres {
        return totals(db, None, false).await;
    }
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT code, asset, CASE WHEN platform THEN 1 ELSE 0 END AS platform, \
               COUNT(*) AS accounts, \
               CAST(SUM(debits_posted) AS BIGINT) AS dp, CAST(SUM(credits_posted) AS BIGINT) AS cp, \
               CAST(SUM(debits_pending) AS BIGINT) AS dq, CAST(SUM(credits_pending) AS BIGINT) AS cq \
             FROM balances GROUP BY code, asset, CASE WHEN platform THEN 1 ELSE 0 END \
             ORDER BY asset, code, platform",
            vec![],
        ))
        .await?;
    rows.iter().map(line_of).collect()
}

/// A line of [`trial_balance`] or [`platform_balances`]: columns `code`,
/// `asset`, `platform` (1 or 0), `accounts` and the four sums `dp`, `cp`,
/// `dq`, `cq`. Errors: `DbErr::Type` for a stored code or asset that does
/// not parse.
fn line_of(r: &QueryResult) -> Result<TrialBalanceLine, DbErr> {
    let asset: String = r.try_get("", "asset")?;
    let code: String = r.try_get("", "code")?;
    let platform: i32 = r.try_get("", "platform")?;
    Ok(TrialBalanceLine {
        code: AccountCode::parse(&code).map_err(|e| crate::core::db::corrupt(e.to_string()))?,
        asset: AssetCode::parse(&asset).map_err(|e| crate::core::db::corrupt(e.to_string()))?,
        platform: platform == 1,
        accounts: r.try_get("", "accounts")?,
        balance: Balance {
            debits_posted: r.try_get("", "dp")?,
            credits_posted: r.try_get("", "cp")?,
            debits_pending: r.try_get("", "dq")?,
            credits_pending: r.try_get("", "cq")?,
        },
    })
}

/// The platform's control accounts: per code and asset (optionally one
/// asset), the totals of the platform's accounts, that is its subsidiary
/// account for each merchant plus its own: one scan of `balances`, which
/// carries each account's code and platform flag (migration
/// `m20261202_000011`). Computed per call: see [`trial_balance`] for why no
/// total is maintained.
///
/// `sees_all`: as for [`trial_balance`].
pub async fn platform_balances(
    db: &impl ConnectionTrait,
    asset: Option<&AssetCode>,
    sees_all: bool,
) -> Result<Vec<TrialBalanceLine>, DbErr> {
    if sees_all && db.get_database_backend() == DbBackend::Postgres {
        return totals(db, asset, true).await;
    }
    let (filter, values): (&str, Vec<Value>) = match asset {
        Some(a) => (" AND asset = $1", vec![a.as_str().into()]),
        None => ("", vec![]),
    };
    let sql = format!(
        "SELECT code, asset, 1 AS platform, COUNT(*) AS accounts, \
           CAST(SUM(debits_posted) AS BIGINT) AS dp, CAST(SUM(credits_posted) AS BIGINT) AS cp, \
           CAST(SUM(debits_pending) AS BIGINT) AS dq, CAST(SUM(credits_pending) AS BIGINT) AS cq \
         FROM balances WHERE platform{filter} GROUP BY code, asset ORDER BY asset, code"
    );
    let rows = db.query_all_raw(stmt(db, &sql, values)).await?;
    rows.iter().map(line_of).collect()
}

/// The sums of [`trial_balance`] (`platform_only` false) or
/// [`platform_balances`] (true), optionally of one asset, through
/// `ledger_balance_totals` (PostgreSQL; rows only for a reader whose tenant
/// is every merchant). Errors: the database's; `DbErr::Type` for a stored
/// code or asset that does not parse.
async fn totals(
    db: &impl ConnectionTrait,
    asset: Option<&AssetCode>,
    platform_only: bool,
) -> Result<Vec<TrialBalanceLine>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT code, asset, CASE WHEN platform THEN 1 ELSE 0 END AS platform, accounts, dp, cp, dq, cq \
             FROM ledger_balance_totals($1, $2) ORDER BY asset, code, platform",
            vec![asset.map(|a| a.as_str().to_owned()).into(), platform_only.into()],
        ))
        .await?;
    rows.iter().map(line_of).collect()
}

/// What `verify` found. Every list is empty in healthy books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Accounts checked.
    pub accounts: i64,
    /// Transactions checked.
    pub transactions: i64,
    /// Entries checked.
    pub entries: i64,
    /// Accounts whose stored posted totals differ from the sum of their entries.
    pub balance_mismatches: Vec<String>,
    /// Assets whose entries do not sum to zero (debits − credits) over all accounts.
    pub unbalanced_assets: Vec<String>,
    /// Transactions whose entries do not balance in some asset.
    pub unbalanced_transactions: Vec<String>,
    /// Merchants whose journal is not numbered 1 to its clock's last number
    /// without a gap (numbers are unique per journal, so a count and a
    /// maximum equal to the clock mean exactly 1..=clock).
    pub journal_breaks: Vec<String>,
    /// Merchants whose hash chain does not recompute from the stored rows, each
    /// at its first bad transaction (`core::chain::verify_chains`).
    pub chain_breaks: Vec<String>,
}

impl VerifyReport {
    /// True when no breach was found.
    pub fn is_clean(&self) -> bool {
        self.balance_mismatches.is_empty()
            && self.unbalanced_assets.is_empty()
            && self.unbalanced_transactions.is_empty()
            && self.journal_breaks.is_empty()
            && self.chain_breaks.is_empty()
    }
}

/// How many examples of each breach a report lists.
const MAX_REPORTED_BREACHES: i64 = 20;

/// Per account: posted totals (`d`, `c`), and pending totals as holds minus
/// releases (`dp`, `cp`), from the entries.
const ACCOUNT_SUMS: &str = "SELECT account_id, \
      CAST(SUM(CASE WHEN layer = 'posted' AND direction = 'debit' THEN amount ELSE 0 END) AS BIGINT) AS d, \
      CAST(SUM(CASE WHEN layer = 'posted' AND direction = 'credit' THEN amount ELSE 0 END) AS BIGINT) AS c, \
      CAST(SUM(CASE WHEN layer <> 'posted' AND direction = 'debit' THEN (CASE WHEN layer = 'hold' THEN amount ELSE -amount END) ELSE 0 END) AS BIGINT) AS dp, \
      CAST(SUM(CASE WHEN layer <> 'posted' AND direction = 'credit' THEN (CASE WHEN layer = 'hold' THEN amount ELSE -amount END) ELSE 0 END) AS BIGINT) AS cp \
    FROM entries GROUP BY account_id";

/// Checks the books: every balance equals the sum of its entries, each asset sums
/// to zero over all accounts (in entries and in balance rows), every
/// transaction balances per asset, and every merchant's journal is numbered
/// 1 to its clock without a gap.
pub async fn verify(db: &impl ConnectionTrait) -> Result<VerifyReport, DbErr> {
    let count = |sql: &'static str| async move {
        let row = db.query_one_raw(stmt(db, sql, vec![])).await?.ok_or_else(|| DbErr::RecordNotFound(sql.into()))?;
        row.try_get_by_index::<i64>(0)
    };
    let mut report = VerifyReport {
        accounts: count("SELECT COUNT(*) FROM accounts").await?,
        transactions: count("SELECT COUNT(*) FROM transactions").await?,
        entries: count("SELECT COUNT(*) FROM entries").await?,
        ..VerifyReport::default()
    };
    let limit = MAX_REPORTED_BREACHES;
    let lines = |sql: String| async move {
        let rows = db.query_all_raw(stmt(db, &sql, vec![])).await?;
        rows.into_iter().map(|r| r.try_get_by_index::<String>(0)).collect::<Result<Vec<_>, DbErr>>()
    };
    let sums = ACCOUNT_SUMS;
    report.balance_mismatches = lines(format!(
        "SELECT 'account ' || a.code || '/' || a.asset || ': stored ' || CAST(b.debits_posted AS TEXT) || ' dr / ' \
           || CAST(b.credits_posted AS TEXT) || ' cr (pending ' || CAST(b.debits_pending AS TEXT) || ' dr / ' \
           || CAST(b.credits_pending AS TEXT) || ' cr), entries ' || CAST(COALESCE(s.d, 0) AS TEXT) || ' dr / ' \
           || CAST(COALESCE(s.c, 0) AS TEXT) || ' cr (pending ' || CAST(COALESCE(s.dp, 0) AS TEXT) || ' dr / ' \
           || CAST(COALESCE(s.cp, 0) AS TEXT) || ' cr)' \
         FROM balances b JOIN accounts a ON a.merchant_id = b.merchant_id AND a.id = b.account_id LEFT JOIN ({sums}) s ON s.account_id = b.account_id \
         WHERE b.debits_posted <> COALESCE(s.d, 0) OR b.credits_posted <> COALESCE(s.c, 0) \
            OR b.debits_pending <> COALESCE(s.dp, 0) OR b.credits_pending <> COALESCE(s.cp, 0) LIMIT {limit}"
    ))
    .await?;
    // The balance row's copy of its account's code and platform flag, which
    // the control accounts and the trial balance group by.
    report.balance_mismatches.extend(
        lines(format!(
            "SELECT 'account ' || a.code || '/' || a.asset || ': balance row filed as ' || b.code \
               || CASE WHEN b.platform THEN ' (platform)' ELSE '' END \
             FROM balances b JOIN accounts a ON a.merchant_id = b.merchant_id AND a.id = b.account_id \
             WHERE b.code <> a.code OR b.platform <> a.platform LIMIT {limit}"
        ))
        .await?,
    );
    let mut assets = lines(format!(
        "SELECT layer || ' entries in ' || asset || ' sum to ' || CAST(CAST(SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) AS BIGINT) AS TEXT) \
         FROM entries GROUP BY asset, layer HAVING SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0 LIMIT {limit}"
    ))
    .await?;
    assets.extend(
        lines(format!(
            "SELECT 'balances in ' || asset || ' sum to ' || CAST(CAST(SUM(debits_posted - credits_posted) AS BIGINT) AS TEXT) \
             FROM balances GROUP BY asset HAVING SUM(debits_posted - credits_posted) <> 0 \
               OR SUM(debits_pending - credits_pending) <> 0 LIMIT {limit}"
        ))
        .await?,
    );
    report.unbalanced_assets = assets;
    report.unbalanced_transactions = lines(format!(
        "SELECT 'transaction seq ' || CAST(transaction_seq AS TEXT) || ' in ' || asset || ' (' || layer || ')' FROM entries \
         GROUP BY transaction_seq, asset, layer HAVING SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0 \
         LIMIT {limit}"
    ))
    .await?;
    let merchant = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "CAST(c.merchant_id AS TEXT)",
        _ => "lower(hex(c.merchant_id))",
    };
    report.journal_breaks = lines(format!(
        "SELECT 'merchant ' || {merchant} || ': clock at ' || CAST(c.last_transaction_seq AS TEXT) \
           || ', journal holds ' || CAST(COALESCE(j.n, 0) AS TEXT) || ' numbers up to ' || CAST(COALESCE(j.top, 0) AS TEXT) \
         FROM merchant_clocks c LEFT JOIN ( \
           SELECT m, COUNT(*) AS n, MAX(k) AS top FROM ( \
             SELECT merchant_id AS m, number AS k FROM transactions \
             UNION ALL SELECT counterparty_id AS m, counterparty_number AS k FROM transactions \
               WHERE counterparty_id IS NOT NULL) x GROUP BY m) j ON j.m = c.merchant_id \
         WHERE COALESCE(j.n, 0) <> c.last_transaction_seq OR COALESCE(j.top, 0) <> c.last_transaction_seq \
         LIMIT {limit}"
    ))
    .await?;
    Ok(report)
}

/// Recomputes every account's four totals from its entries (posted sums, and
/// holds minus releases for pending), inside the open transaction. Returns how
/// many balance rows changed.
pub async fn rebuild_balances(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    if crate::core::db::on_citus() {
        return rebuild_balances_by_row(db).await;
    }
    let total = |direction: &str, posted: bool| {
        let (cond, value) = if posted {
            ("e.layer = 'posted'", "e.amount")
        } else {
            ("e.layer <> 'posted'", "CASE WHEN e.layer = 'hold' THEN e.amount ELSE -e.amount END")
        };
        format!(
            "COALESCE((SELECT SUM({value}) FROM entries e WHERE e.account_id = balances.account_id \
             AND e.direction = '{direction}' AND {cond}), 0)"
        )
    };
    let columns = [
        ("debits_posted", total("debit", true)),
        ("credits_posted", total("credit", true)),
        ("debits_pending", total("debit", false)),
        ("credits_pending", total("credit", false)),
    ];
    let set: Vec<String> = columns.iter().map(|(c, v)| format!("{c} = {v}")).collect();
    let differs: Vec<String> = columns.iter().map(|(c, v)| format!("{c} <> {v}")).collect();
    let sql = format!("UPDATE balances SET {} WHERE {}", set.join(", "), differs.join(" OR "));
    let res = db.execute_raw(stmt(db, &sql, vec![])).await?;
    Ok(res.rows_affected())
}

/// [`rebuild_balances`] on Citus, which cannot run its one `UPDATE` (each
/// balance row's sums come from entries in other shards: a deal's buyer-side
/// legs are stored with the seller). The sums per account and the stored rows
/// are read (two fanned-out reads), and each row that differs is written by
/// its key, in its own shard.
async fn rebuild_balances_by_row(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let mut sums: std::collections::HashMap<uuid::Uuid, [i64; 4]> = std::collections::HashMap::new();
    for r in db.query_all_raw(stmt(db, ACCOUNT_SUMS, vec![])).await? {
        sums.insert(
            r.try_get("", "account_id")?,
            [r.try_get("", "d")?, r.try_get("", "c")?, r.try_get("", "dp")?, r.try_get("", "cp")?],
        );
    }
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT merchant_id, account_id, debits_posted, credits_posted, debits_pending, credits_pending FROM balances",
            vec![],
        ))
        .await?;
    let mut changed = 0;
    for r in rows {
        let account: uuid::Uuid = r.try_get("", "account_id")?;
        let stored: [i64; 4] = [
            r.try_get("", "debits_posted")?,
            r.try_get("", "credits_posted")?,
            r.try_get("", "debits_pending")?,
            r.try_get("", "credits_pending")?,
        ];
        let want = sums.get(&account).copied().unwrap_or_default();
        if stored != want {
            let merchant: uuid::Uuid = r.try_get("", "merchant_id")?;
            let mut values: Vec<Value> = want.iter().map(|v| (*v).into()).collect();
            values.extend([merchant.into(), account.into()]);
            changed += db
                .execute_raw(stmt(
                    db,
                    "UPDATE balances SET debits_posted = $1, credits_posted = $2, debits_pending = $3, \
                     credits_pending = $4 WHERE merchant_id = $5 AND account_id = $6",
                    values,
                ))
                .await?
                .rows_affected();
        }
    }
    Ok(changed)
}

/// Per-asset totals of stored balances, for tests and tools: asset → (debits − credits).
pub async fn asset_totals(db: &impl ConnectionTrait) -> Result<BTreeMap<String, i64>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT asset, CAST(SUM(debits_posted - credits_posted) AS BIGINT) AS net FROM balances GROUP BY asset",
            vec![],
        ))
        .await?;
    rows.into_iter().map(|r| Ok((r.try_get("", "asset")?, r.try_get("", "net")?))).collect()
}
