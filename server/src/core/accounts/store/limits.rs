//! Balance limit policies: an account's own (`balance_limits`) and the
//! defaults per code and asset (`balance_limit_defaults`); see
//! [`crate::core::accounts::limit`] for the rules.
//!
//! The write path calls [`for_accounts`] after it has locked the balance rows
//! it will change, so the policy it checks cannot change before it commits:
//! [`set`] locks the same rows (sorted, `FOR UPDATE`) before it writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use uuid::Uuid;

use crate::core::accounts::limit::{AccountLimit, LimitPolicy, StoredLimit, resolve};
use crate::core::accounts::store::Account;
use crate::core::db::{for_update, rows_per_statement, stmt};
use crate::domain::{AccountCode, AccountId, AssetCode, MerchantId};

/// What a policy is set on: one account, or the default for every account
/// with a code and asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitTarget {
    /// One account.
    Account(AccountId),
    /// Every account with this code and asset that has no policy of its own.
    Default {
        /// The account code.
        code: AccountCode,
        /// The asset.
        asset: AssetCode,
    },
}

fn stored(row: &QueryResult) -> Result<StoredLimit, DbErr> {
    Ok(StoredLimit {
        policy: LimitPolicy {
            lower_minor: row.try_get("", "lower_bound")?,
            upper_minor: row.try_get("", "upper_bound")?,
        },
        since_seq: row.try_get("", "since_seq")?,
    })
}

/// The policy in force on each of `accounts` (which need not exist yet: the
/// batched path plans standard accounts before it creates them), keyed by
/// account id. Two reads: the accounts' own policies, and the assets'
/// exponents with their defaults. Call it after locking the balance rows.
pub async fn for_accounts(
    db: &impl ConnectionTrait,
    accounts: &[&Account],
) -> Result<BTreeMap<AccountId, AccountLimit>, DbErr> {
    let mut out = BTreeMap::new();
    if accounts.is_empty() {
        return Ok(out);
    }
    let ids: BTreeSet<Uuid> = accounts.iter().map(|a| a.id.0).collect();
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let mut own: HashMap<Uuid, StoredLimit> = HashMap::new();
    let partition_of: HashMap<Uuid, Uuid> = accounts.iter().map(|a| (a.id.0, a.owner.partition().0)).collect();
    if crate::core::db::rows_as_json(db) {
        // One text for any number of accounts (see `rows_as_json`), one
        // index probe per account: (partition, account) pairs zipped by
        // `unnest`, not two `= ANY` lists, whose every pairing PostgreSQL 15
        // would probe.
        let sql = "SELECT l.account_id, l.lower_bound, l.upper_bound, l.since_seq \
             FROM unnest($1::text::uuid[], $2::text::uuid[]) AS k(merchant_id, account_id) \
             JOIN balance_limits l ON l.merchant_id = k.merchant_id AND l.account_id = k.account_id";
        let pairs: Vec<(Uuid, Uuid)> = ids.iter().filter_map(|id| partition_of.get(id).map(|m| (*m, *id))).collect();
        let values = vec![
            crate::core::db::uuid_list(pairs.iter().map(|(m, _)| *m)),
            crate::core::db::uuid_list(pairs.iter().map(|(_, id)| *id)),
        ];
        for row in db.query_all_raw(stmt(db, sql, values)).await? {
            own.insert(row.try_get("", "account_id")?, stored(&row)?);
        }
    } else {
        for chunk in ids.chunks(rows_per_statement(2)) {
            let (routed, partitions) = crate::core::db::partition_filter(
                "merchant_id",
                chunk.len() + 1,
                chunk.iter().filter_map(|id| partition_of.get(id).copied()),
            );
            let sql = format!(
                "SELECT account_id, lower_bound, upper_bound, since_seq FROM balance_limits WHERE account_id IN ({}){routed}",
                placeholders(chunk.len())
            );
            let mut values: Vec<sea_orm::Value> = chunk.iter().map(|id| (*id).into()).collect();
            values.extend(partitions);
            for row in db.query_all_raw(stmt(db, &sql, values)).await? {
                own.insert(row.try_get("", "account_id")?, stored(&row)?);
            }
        }
    }
    let assets: BTreeSet<&str> = accounts.iter().map(|a| a.asset.as_str()).collect();
    let assets: Vec<&str> = assets.into_iter().collect();
    let mut exponents: HashMap<String, u32> = HashMap::new();
    let mut defaults: HashMap<(String, String), StoredLimit> = HashMap::new();
    for chunk in assets.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT x.code AS asset, x.exponent, d.code, d.lower_bound, d.upper_bound, d.since_seq \
             FROM assets x LEFT JOIN balance_limit_defaults d ON d.asset = x.code WHERE x.code IN ({})",
            placeholders(chunk.len())
        );
        for row in db.query_all_raw(stmt(db, &sql, chunk.iter().map(|a| (*a).into()).collect())).await? {
            let asset: String = row.try_get("", "asset")?;
            let exponent: i32 = row.try_get("", "exponent")?;
            exponents.insert(asset.clone(), u32::try_from(exponent).unwrap_or(0));
            if let Some(code) = row.try_get::<Option<String>>("", "code")? {
                defaults.insert((code, asset), stored(&row)?);
            }
        }
    }
    for a in accounts {
        let default = defaults.get(&(a.code.to_string(), a.asset.to_string())).copied();
        let exponent = exponents.get(a.asset.as_str()).copied().unwrap_or(0);
        out.insert(a.id, resolve(own.get(&a.id.0).copied(), default, a.owner, a.normal_balance, exponent));
    }
    Ok(out)
}

fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Locks the balance rows a policy on `target` governs, in ascending account
/// id order (`FOR UPDATE` on PostgreSQL), so no posting to them is between
/// its limit read and its commit while the policy changes. Returns how many
/// rows it locked.
pub async fn lock_governed(db: &impl ConnectionTrait, target: &LimitTarget) -> Result<usize, DbErr> {
    // A balance row carries its account's code and asset (migration 11).
    let (filter, values): (&str, Vec<sea_orm::Value>) = match target {
        LimitTarget::Account(id) => ("account_id = $1", vec![id.0.into()]),
        LimitTarget::Default { code, asset } => {
            ("code = $1 AND asset = $2", vec![code.as_str().into(), asset.as_str().into()])
        }
    };
    if !crate::core::db::on_citus() {
        let sql = format!("SELECT account_id FROM balances WHERE {filter} ORDER BY account_id{}", for_update(db));
        return Ok(db.query_all_raw(stmt(db, &sql, values)).await?.len());
    }
    // Citus refuses `FOR UPDATE` across shards: find the partitions, then
    // lock each one's rows in its own shard, in partition order.
    let sql = format!("SELECT DISTINCT merchant_id FROM balances WHERE {filter} ORDER BY merchant_id");
    let mut locked = 0;
    for row in db.query_all_raw(stmt(db, &sql, values.clone())).await? {
        let merchant: Uuid = row.try_get("", "merchant_id")?;
        let n = values.len() + 1;
        let sql = format!(
            "SELECT account_id FROM balances WHERE {filter} AND merchant_id = ${n} ORDER BY account_id FOR UPDATE"
        );
        let mut values = values.clone();
        values.push(merchant.into());
        locked += db.query_all_raw(stmt(db, &sql, values)).await?.len();
    }
    Ok(locked)
}

/// Writes `policy` on `target` (replacing any before it), stamped with
/// `since_seq`. `owner` is the account's merchant for an account's own policy.
pub async fn set(
    db: &impl ConnectionTrait,
    target: &LimitTarget,
    owner: MerchantId,
    policy: LimitPolicy,
    since_seq: i64,
) -> Result<(), DbErr> {
    let bounds: [sea_orm::Value; 4] =
        [policy.lower_minor.into(), policy.upper_minor.into(), since_seq.into(), Utc::now().into()];
    let (sql, keys): (&str, Vec<sea_orm::Value>) = match target {
        LimitTarget::Account(id) => (
            "INSERT INTO balance_limits (lower_bound, upper_bound, since_seq, updated_at, merchant_id, account_id) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (merchant_id, account_id) DO UPDATE SET \
             lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound, \
             since_seq = excluded.since_seq, updated_at = excluded.updated_at",
            vec![owner.0.into(), id.0.into()],
        ),
        LimitTarget::Default { code, asset } => (
            "INSERT INTO balance_limit_defaults (lower_bound, upper_bound, since_seq, updated_at, code, asset) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code, asset) DO UPDATE SET \
             lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound, \
             since_seq = excluded.since_seq, updated_at = excluded.updated_at",
            vec![code.as_str().into(), asset.as_str().into()],
        ),
    };
    db.execute_raw(stmt(db, sql, bounds.into_iter().chain(keys).collect())).await?;
    Ok(())
}
