//! Accounts and their balance rows.
//!
//! Every account has exactly one `balances` row, created with it. Balance rows are
//! the only mutable ledger state; the write path locks them in ascending
//! account-id order (`lock_balances`) so concurrent writers never deadlock.

pub mod assets;
pub mod history;
pub mod limits;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{account, balance};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::core::db::{for_update, partition_filter, placeholder_rows, rows_per_statement, stmt};
use crate::domain::{AccountCode, AccountId, AssetCode, Balance, Direction, MerchantId, NormalBalance, Owner};

/// An account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// Its owner.
    pub owner: Owner,
    /// Its code within owner and asset.
    pub code: AccountCode,
    /// The one asset it holds.
    pub asset: AssetCode,
    /// The side that increases it.
    pub normal_balance: NormalBalance,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<account::Model> for Account {
    type Error = DbErr;
    fn try_from(m: account::Model) -> Result<Self, DbErr> {
        Ok(Self {
            id: AccountId(m.id),
            owner: Owner::stored(MerchantId(m.merchant_id), m.platform),
            code: AccountCode::parse(&m.code).map_err(|e| crate::core::db::corrupt(format!("stored code: {e}")))?,
            asset: AssetCode::parse(&m.asset).map_err(|e| crate::core::db::corrupt(format!("stored asset: {e}")))?,
            normal_balance: Direction::parse(&m.normal_balance)
                .ok_or_else(|| crate::core::db::corrupt(format!("stored normal balance `{}`", m.normal_balance)))?,
            created_at: m.created_at,
        })
    }
}

/// An account with its current balance.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountBalance {
    /// The account.
    pub account: Account,
    /// Its totals, minor units of `account.asset`.
    pub balance: Balance,
}

/// Finds an account by id. With `partition` (the merchant whose books hold
/// it: its own accounts and the platform's subsidiary accounts for it) by
/// `(merchant_id, id)`, one shard on Citus, and an account of another
/// partition is not found; without it, by the id alone (every shard on
/// Citus). Errors: the database's.
pub async fn find(
    db: &impl ConnectionTrait,
    id: AccountId,
    partition: Option<MerchantId>,
) -> Result<Option<Account>, DbErr> {
    let mut query = account::Entity::find().filter(account::Column::Id.eq(id.0));
    if let Some(m) = partition {
        query = query.filter(account::Column::MerchantId.eq(m.0));
    }
    query.one(db).await?.map(Account::try_from).transpose()
}

/// Finds accounts by id, in no particular order.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Account>, DbErr> {
    let rows = account::Entity::find().filter(account::Column::Id.is_in(ids.iter().copied())).all(db).await?;
    rows.into_iter().map(Account::try_from).collect()
}

/// Finds accounts by id, each with a hint of its partition (on Citus, the
/// shard to look in first): one query over the hinted partitions, and one
/// over every partition for the ids it did not find there (a deal's
/// buyer-side accounts, hinted with the seller's partition). In no
/// particular order. Errors: the database's.
pub async fn find_many_hinted(db: &impl ConnectionTrait, keys: &[(MerchantId, Uuid)]) -> Result<Vec<Account>, DbErr> {
    let partitions: HashSet<Uuid> = keys.iter().map(|(m, _)| m.0).collect();
    let ids: HashSet<Uuid> = keys.iter().map(|(_, id)| *id).collect();
    let mut found: Vec<Account> = account::Entity::find()
        .filter(account::Column::MerchantId.is_in(partitions))
        .filter(account::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(Account::try_from)
        .collect::<Result<_, _>>()?;
    let seen: HashSet<Uuid> = found.iter().map(|a| a.id.0).collect();
    let missing: Vec<Uuid> = ids.into_iter().filter(|id| !seen.contains(id)).collect();
    if !missing.is_empty() {
        found.extend(find_many(db, &missing).await?);
    }
    Ok(found)
}

/// Which of `ids` are accounts at all, whoever owns them and whatever the
/// transaction's tenant may see. The batched write path asks only for ids it
/// could not see, to tell staff "another merchant's account" rather than "no
/// such account". On PostgreSQL it goes through `ledger_accounts_exist`
/// (`SECURITY DEFINER`, migration `m20261201_000009`), which answers nothing
/// but the ids; SQLite has no row-level security.
pub async fn existing_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(find_many(db, ids).await?.into_iter().map(|a| a.id.0).collect());
    }
    // A PostgreSQL array literal of UUIDs (never caller text).
    let list = format!("{{{}}}", ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","));
    let rows = db
        .query_all_raw(stmt(db, "SELECT id FROM ledger_accounts_exist($1::uuid[]) AS e(id)", vec![list.into()]))
        .await?;
    rows.iter().map(|r| r.try_get::<Uuid>("", "id")).collect()
}

/// Finds the account `code` of `owner` in `asset`.
pub async fn find_by_code(
    db: &impl ConnectionTrait,
    owner: Owner,
    code: &AccountCode,
    asset: &AssetCode,
) -> Result<Option<Account>, DbErr> {
    account::Entity::find()
        .filter(account::Column::MerchantId.eq(owner.partition().0))
        .filter(account::Column::Platform.eq(owner.is_platform()))
        .filter(account::Column::Code.eq(code.as_str()))
        .filter(account::Column::Asset.eq(asset.as_str()))
        .one(db)
        .await?
        .map(Account::try_from)
        .transpose()
}

/// Finds the accounts with these `(owner, code, asset)`, in no particular
/// order; missing ones are simply absent (one query per chunk).
pub async fn find_by_codes(
    db: &impl ConnectionTrait,
    wanted: &[(Owner, AccountCode, AssetCode)],
) -> Result<Vec<Account>, DbErr> {
    let mut out = Vec::with_capacity(wanted.len());
    // What was asked for, owner included: the query matches on the
    // partition, which a merchant's own account and the platform's
    // subsidiary account for it share.
    let asked: HashSet<(Owner, &AccountCode, &AssetCode)> = wanted.iter().map(|(o, c, a)| (*o, c, a)).collect();
    if crate::core::db::rows_as_json(db) && !wanted.is_empty() {
        // One text for any number of accounts (see `rows_as_json`). The three
        // lists may also match combinations nobody asked for; `asked` drops them.
        use crate::core::db::{text_list, uuid_list};
        use std::collections::BTreeSet;
        let partitions: BTreeSet<Uuid> = wanted.iter().map(|(o, _, _)| o.partition().0).collect();
        let codes: BTreeSet<&str> = wanted.iter().map(|(_, c, _)| c.as_str()).collect();
        let assets: BTreeSet<&str> = wanted.iter().map(|(_, _, a)| a.as_str()).collect();
        let sql = "SELECT id, merchant_id, code, asset, normal_balance, created_at, platform FROM accounts \
             WHERE merchant_id = ANY($1::text::uuid[]) \
             AND code = ANY(ARRAY(SELECT json_array_elements_text($2::text::json))) \
             AND asset = ANY(ARRAY(SELECT json_array_elements_text($3::text::json)))";
        let values = vec![uuid_list(partitions), text_list(codes), text_list(assets)];
        for model in account::Entity::find().from_raw_sql(stmt(db, sql, values)).all(db).await? {
            let found = Account::try_from(model)?;
            if asked.contains(&(found.owner, &found.code, &found.asset)) {
                out.push(found);
            }
        }
        return Ok(out);
    }
    for chunk in wanted.chunks(rows_per_statement(4)) {
        let (routed, partitions) =
            partition_filter("merchant_id", chunk.len() * 3 + 1, chunk.iter().map(|(o, _, _)| o.partition().0));
        let sql = format!(
            "SELECT id, merchant_id, code, asset, normal_balance, created_at, platform FROM accounts \
             WHERE (merchant_id, code, asset) IN (VALUES {}){routed}",
            placeholder_rows(chunk.len(), 3)
        );
        let mut values: Vec<sea_orm::Value> =
            chunk.iter().flat_map(|(o, c, a)| [o.partition().0.into(), c.as_str().into(), a.as_str().into()]).collect();
        values.extend(partitions);
        for model in account::Entity::find().from_raw_sql(stmt(db, &sql, values)).all(db).await? {
            let found = Account::try_from(model)?;
            // (partition, code, asset) is unique, and the platform's chart is
            // closed to merchants' own accounts: the flag must agree.
            if asked.contains(&(found.owner, &found.code, &found.asset)) {
                out.push(found);
            }
        }
    }
    Ok(out)
}

/// Inserts an account and its zero balance row unless `(owner, code, asset)`
/// exists. Returns whether it was inserted. Callers create accounts in sorted
/// `(owner, code, asset)` order within a transaction, so two writers creating the
/// same accounts wait on each other instead of deadlocking.
pub async fn insert(
    db: &impl ConnectionTrait,
    owner: Owner,
    code: &AccountCode,
    asset: &AssetCode,
    normal: NormalBalance,
) -> Result<Option<AccountId>, DbErr> {
    let id = AccountId(Uuid::now_v7());
    Ok(insert_with_id(db, id, owner, code, asset, normal).await?.then_some(id))
}

/// Like [`insert`], with the id chosen by the caller (the batched write path
/// plans new accounts before it creates them). Returns false when
/// `(owner, code, asset)` already exists, and then inserts nothing.
pub async fn insert_with_id(
    db: &impl ConnectionTrait,
    id: AccountId,
    owner: Owner,
    code: &AccountCode,
    asset: &AssetCode,
    normal: NormalBalance,
) -> Result<bool, DbErr> {
    let id = id.0;
    let merchant = owner.partition().0;
    let inserted = db
        .query_one_raw(stmt(
            db,
            "INSERT INTO accounts (id, merchant_id, code, asset, normal_balance, created_at, platform) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (merchant_id, code, asset) DO NOTHING RETURNING id",
            vec![
                id.into(),
                merchant.into(),
                code.as_str().into(),
                asset.as_str().into(),
                normal.as_str().into(),
                Utc::now().into(),
                owner.is_platform().into(),
            ],
        ))
        .await?;
    if inserted.is_none() {
        return Ok(false);
    }
    db.execute_raw(stmt(
        db,
        "INSERT INTO balances (account_id, merchant_id, asset, code, platform) VALUES ($1, $2, $3, $4, $5)",
        vec![id.into(), merchant.into(), asset.as_str().into(), code.as_str().into(), owner.is_platform().into()],
    ))
    .await?;
    Ok(true)
}

/// A balance row's key: the account's partition (its merchant, or the nil
/// UUID for the platform's own books) and the account. On Citus the
/// partition routes the statement to the one shard that holds the row.
pub type BalanceKey = (MerchantId, AccountId);

/// Locks the balance rows of `keys` in ascending account id order and returns
/// them by account. On PostgreSQL this is `SELECT … ORDER BY account_id FOR
/// UPDATE`; a single ordered statement acquires the row locks in that order.
/// On Citus, which refuses `FOR UPDATE` across shards, the rows of several
/// partitions (a deal) are locked one partition at a time, in partition order
/// and by account id within each. Errors: the database's.
pub async fn lock_balances(
    db: &impl ConnectionTrait,
    keys: &[BalanceKey],
) -> Result<BTreeMap<AccountId, Balance>, DbErr> {
    select_balances(db, keys, true).await
}

/// The balance rows of `keys`, as [`lock_balances`] returns them, without
/// locking them (the debug builds' read-back check). Errors: the database's.
#[cfg(debug_assertions)]
pub async fn read_balances(
    db: &impl ConnectionTrait,
    keys: &[BalanceKey],
) -> Result<BTreeMap<AccountId, Balance>, DbErr> {
    select_balances(db, keys, false).await
}

async fn select_balances(
    db: &impl ConnectionTrait,
    keys: &[BalanceKey],
    lock: bool,
) -> Result<BTreeMap<AccountId, Balance>, DbErr> {
    let mut partitions: BTreeMap<MerchantId, Vec<Uuid>> = BTreeMap::new();
    for (merchant, account) in keys {
        partitions.entry(*merchant).or_default().push(account.0);
    }
    let groups: Vec<Vec<(MerchantId, Vec<Uuid>)>> = if crate::core::db::on_citus() {
        partitions.into_iter().map(|p| vec![p]).collect()
    } else {
        vec![partitions.into_iter().collect()]
    };
    let mut out = BTreeMap::new();
    for group in groups {
        let merchants: Vec<sea_orm::Value> = group.iter().map(|(m, _)| m.0.into()).collect();
        let mut ids: Vec<Uuid> = group.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        let lock = if lock { for_update(db) } else { "" };
        let (sql, values) = if crate::core::db::rows_as_json(db) {
            // One text for any number of rows on one PostgreSQL node (see
            // `rows_as_json`). The keys travel as two parallel lists zipped by
            // `unnest`, one index probe per key: two `= ANY` lists on the key's
            // two columns made PostgreSQL 15 probe every pairing of them, and
            // re-read the second list for each row it filtered (issue 18).
            let lock = if lock.is_empty() { String::new() } else { format!("{lock} OF b") };
            let sql = format!(
                "SELECT b.account_id, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending \
                 FROM unnest($1::text::uuid[], $2::text::uuid[]) AS k(merchant_id, account_id) \
                 JOIN balances b ON b.merchant_id = k.merchant_id AND b.account_id = k.account_id \
                 ORDER BY b.account_id{lock}"
            );
            let pairs: std::collections::BTreeSet<(Uuid, Uuid)> =
                group.iter().flat_map(|(m, ids)| ids.iter().map(move |id| (m.0, *id))).collect();
            let values = vec![
                crate::core::db::uuid_list(pairs.iter().map(|(m, _)| *m)),
                crate::core::db::uuid_list(pairs.iter().map(|(_, id)| *id)),
            ];
            (sql, values)
        } else {
            let sql = format!(
                "SELECT account_id, debits_posted, credits_posted, debits_pending, credits_pending FROM balances \
                 WHERE merchant_id IN ({}) AND account_id IN ({}) ORDER BY account_id{lock}",
                crate::core::db::placeholders(1, merchants.len()),
                crate::core::db::placeholders(merchants.len() + 1, ids.len()),
            );
            let mut values = merchants;
            values.extend(ids.into_iter().map(Into::into));
            (sql, values)
        };
        for row in db.query_all_raw(stmt(db, &sql, values)).await? {
            out.insert(
                AccountId(row.try_get("", "account_id")?),
                Balance {
                    debits_posted: row.try_get("", "debits_posted")?,
                    credits_posted: row.try_get("", "credits_posted")?,
                    debits_pending: row.try_get("", "debits_pending")?,
                    credits_pending: row.try_get("", "credits_pending")?,
                },
            );
        }
    }
    Ok(out)
}

/// Writes an account's new totals, stamped with the transaction that produced them.
pub async fn store_balance(db: &impl ConnectionTrait, key: BalanceKey, b: &Balance, seq: i64) -> Result<(), DbErr> {
    let updated = db
        .execute_raw(stmt(
            db,
            "UPDATE balances SET debits_posted = $1, credits_posted = $2, debits_pending = $3, \
         credits_pending = $4, last_transaction_seq = $5 WHERE merchant_id = $6 AND account_id = $7",
            vec![
                b.debits_posted.into(),
                b.credits_posted.into(),
                b.debits_pending.into(),
                b.credits_pending.into(),
                seq.into(),
                key.0.0.into(),
                key.1.0.into(),
            ],
        ))
        .await?;
    // See `store_balances`: a row this tenant cannot see is a bug above.
    if updated.rows_affected() != 1 {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(())
}

/// Writes the new totals of many accounts, each stamped with the last
/// transaction of the batch that changed it: `(account, totals, seq)`. One
/// `UPDATE … FROM (VALUES …)` per chunk, so a batch updates each balance row
/// once however many of its transactions touched it.
pub async fn store_balances(db: &impl ConnectionTrait, rows: &[(BalanceKey, Balance, i64)]) -> Result<(), DbErr> {
    if crate::core::db::rows_as_json(db) && !rows.is_empty() {
        let w = balances_write(rows);
        if db.execute_raw(stmt(db, &w.sql, w.values)).await?.rows_affected() != rows.len() as u64 {
            return Err(DbErr::RecordNotUpdated);
        }
        return Ok(());
    }
    for chunk in rows.chunks(rows_per_statement(8)) {
        let (routed, partitions) =
            partition_filter("balances.merchant_id", chunk.len() * 7 + 1, chunk.iter().map(|((m, _), _, _)| m.0));
        // VALUES columns are named column1, column2, … on both backends.
        let sql = format!(
            "UPDATE balances SET debits_posted = v.column2, credits_posted = v.column3, \
             debits_pending = v.column4, credits_pending = v.column5, last_transaction_seq = v.column6 \
             FROM (VALUES {}) AS v WHERE balances.merchant_id = v.column7 AND balances.account_id = v.column1{routed}",
            placeholder_rows(chunk.len(), 7)
        );
        let mut values: Vec<sea_orm::Value> = chunk
            .iter()
            .flat_map(|((merchant, id), b, seq)| {
                [
                    id.0.into(),
                    b.debits_posted.into(),
                    b.credits_posted.into(),
                    b.debits_pending.into(),
                    b.credits_pending.into(),
                    (*seq).into(),
                    merchant.0.into(),
                ]
            })
            .collect();
        values.extend(partitions);
        // A balance row the transaction cannot see (another tenant's, under
        // row-level security) is silently not updated; that is a bug above,
        // never something to commit.
        if db.execute_raw(stmt(db, &sql, values)).await?.rows_affected() != chunk.len() as u64 {
            return Err(DbErr::RecordNotUpdated);
        }
    }
    Ok(())
}

/// The statement [`store_balances`] runs on one PostgreSQL node
/// ([`crate::core::db::rows_as_json`]), to run alone or with the rest of a
/// batch's writes ([`crate::core::db::write_together`]). It must update
/// exactly `rows.len()` rows: fewer means a balance row the transaction
/// cannot see (another tenant's, under row-level security), a bug above that
/// must never be committed.
pub(crate) fn balances_write(rows: &[(BalanceKey, Balance, i64)]) -> crate::core::db::Write {
    // The merchants' filter lets PostgreSQL's cached generic plan find
    // the rows by their key's leading column instead of scanning the
    // table for a join with rows it cannot count in advance.
    let sql = "UPDATE balances SET debits_posted = v.debits_posted, credits_posted = v.credits_posted, \
         debits_pending = v.debits_pending, credits_pending = v.credits_pending, \
         last_transaction_seq = v.last_transaction_seq \
         FROM json_to_recordset($1::text::json) AS v(account_id uuid, merchant_id uuid, debits_posted bigint, \
         credits_posted bigint, debits_pending bigint, credits_pending bigint, last_transaction_seq bigint) \
         WHERE balances.merchant_id = v.merchant_id AND balances.account_id = v.account_id \
         AND balances.merchant_id = ANY($2::text::uuid[])";
    let json = rows
        .iter()
        .map(|((merchant, id), b, seq)| {
            serde_json::json!({
                "account_id": id.0,
                "merchant_id": merchant.0,
                "debits_posted": b.debits_posted,
                "credits_posted": b.credits_posted,
                "debits_pending": b.debits_pending,
                "credits_pending": b.credits_pending,
                "last_transaction_seq": seq,
            })
        })
        .collect();
    let merchants: std::collections::BTreeSet<Uuid> = rows.iter().map(|((m, _), _, _)| m.0).collect();
    crate::core::db::Write::new(sql, vec![crate::core::db::json_rows(json), crate::core::db::uuid_list(merchants)])
}

/// Every account of `owner` with its balance, ordered by code then asset. A plain
/// read: it takes no lock and sums nothing.
pub async fn list_with_balances(db: &impl ConnectionTrait, owner: Owner) -> Result<Vec<AccountBalance>, DbErr> {
    use sea_orm::FromQueryResult;
    // One statement: the accounts joined to their balance rows (issue 18:
    // a balance read at select speed; it was two, the second with a text
    // per count of accounts).
    let sql = "SELECT a.id, a.merchant_id, a.code, a.asset, a.normal_balance, a.created_at, a.platform, \
         COALESCE(b.debits_posted, 0) AS debits_posted, COALESCE(b.credits_posted, 0) AS credits_posted, \
         COALESCE(b.debits_pending, 0) AS debits_pending, COALESCE(b.credits_pending, 0) AS credits_pending \
         FROM accounts a LEFT JOIN balances b ON b.merchant_id = a.merchant_id AND b.account_id = a.id \
         WHERE a.merchant_id = $1 AND a.platform = $2 ORDER BY a.code, a.asset";
    let values = vec![owner.partition().0.into(), owner.is_platform().into()];
    db.query_all_raw(stmt(db, sql, values))
        .await?
        .iter()
        .map(|row| {
            let balance = Balance {
                debits_posted: row.try_get("", "debits_posted")?,
                credits_posted: row.try_get("", "credits_posted")?,
                debits_pending: row.try_get("", "debits_pending")?,
                credits_pending: row.try_get("", "credits_pending")?,
            };
            Ok(AccountBalance { account: Account::try_from(account::Model::from_query_result(row, "")?)?, balance })
        })
        .collect()
}

/// The current balance of one account.
pub async fn balance_of(db: &impl ConnectionTrait, id: AccountId) -> Result<Balance, DbErr> {
    Ok(balance::Entity::find_by_id(id.0).one(db).await?.as_ref().map(to_balance).unwrap_or_default())
}

fn to_balance(b: &balance::Model) -> Balance {
    Balance {
        debits_posted: b.debits_posted,
        credits_posted: b.credits_posted,
        debits_pending: b.debits_pending,
        credits_pending: b.credits_pending,
    }
}
