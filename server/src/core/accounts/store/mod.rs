//! Accounts and their balance rows.
//!
//! Every account has exactly one `balances` row, created with it. Balance rows are
//! the only mutable ledger state; the write path locks them in ascending
//! account-id order (`lock_balances`) so concurrent writers never deadlock.

pub mod assets;
pub mod limits;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{account, balance};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::core::db::{for_update, placeholder_rows, rows_per_statement, stmt};
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

/// Finds an account by id.
pub async fn find(db: &impl ConnectionTrait, id: AccountId) -> Result<Option<Account>, DbErr> {
    account::Entity::find_by_id(id.0).one(db).await?.map(Account::try_from).transpose()
}

/// Finds accounts by id, in no particular order.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Account>, DbErr> {
    let rows = account::Entity::find().filter(account::Column::Id.is_in(ids.iter().copied())).all(db).await?;
    rows.into_iter().map(Account::try_from).collect()
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
    for chunk in wanted.chunks(rows_per_statement(3)) {
        let sql = format!(
            "SELECT id, merchant_id, code, asset, normal_balance, created_at, platform FROM accounts \
             WHERE (merchant_id, code, asset) IN (VALUES {})",
            placeholder_rows(chunk.len(), 3)
        );
        let values: Vec<sea_orm::Value> =
            chunk.iter().flat_map(|(o, c, a)| [o.partition().0.into(), c.as_str().into(), a.as_str().into()]).collect();
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

/// Locks the balance rows of `ids` in ascending id order and returns them.
/// On PostgreSQL this is `SELECT … ORDER BY account_id FOR UPDATE`; a single
/// ordered statement acquires the row locks in that order.
pub async fn lock_balances(
    db: &impl ConnectionTrait,
    ids: &[AccountId],
) -> Result<BTreeMap<AccountId, Balance>, DbErr> {
    let mut sorted: Vec<Uuid> = ids.iter().map(|a| a.0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let placeholders: Vec<String> = (1..=sorted.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT account_id, debits_posted, credits_posted, debits_pending, credits_pending FROM balances \
         WHERE account_id IN ({}) ORDER BY account_id{}",
        placeholders.join(", "),
        for_update(db)
    );
    let rows = db.query_all_raw(stmt(db, &sql, sorted.into_iter().map(Into::into).collect())).await?;
    let mut out = BTreeMap::new();
    for row in rows {
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
    Ok(out)
}

/// Writes an account's new totals, stamped with the transaction that produced them.
pub async fn store_balance(db: &impl ConnectionTrait, id: AccountId, b: &Balance, seq: i64) -> Result<(), DbErr> {
    let updated = db
        .execute_raw(stmt(
            db,
            "UPDATE balances SET debits_posted = $1, credits_posted = $2, debits_pending = $3, \
         credits_pending = $4, last_transaction_seq = $5 WHERE account_id = $6",
            vec![
                b.debits_posted.into(),
                b.credits_posted.into(),
                b.debits_pending.into(),
                b.credits_pending.into(),
                seq.into(),
                id.0.into(),
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
pub async fn store_balances(db: &impl ConnectionTrait, rows: &[(AccountId, Balance, i64)]) -> Result<(), DbErr> {
    for chunk in rows.chunks(rows_per_statement(6)) {
        // VALUES columns are named column1, column2, … on both backends.
        let sql = format!(
            "UPDATE balances SET debits_posted = v.column2, credits_posted = v.column3, \
             debits_pending = v.column4, credits_pending = v.column5, last_transaction_seq = v.column6 \
             FROM (VALUES {}) AS v WHERE balances.account_id = v.column1",
            placeholder_rows(chunk.len(), 6)
        );
        let values: Vec<sea_orm::Value> = chunk
            .iter()
            .flat_map(|(id, b, seq)| {
                [
                    id.0.into(),
                    b.debits_posted.into(),
                    b.credits_posted.into(),
                    b.debits_pending.into(),
                    b.credits_pending.into(),
                    (*seq).into(),
                ]
            })
            .collect();
        // A balance row the transaction cannot see (another tenant's, under
        // row-level security) is silently not updated; that is a bug above,
        // never something to commit.
        if db.execute_raw(stmt(db, &sql, values)).await?.rows_affected() != chunk.len() as u64 {
            return Err(DbErr::RecordNotUpdated);
        }
    }
    Ok(())
}

/// Every account of `owner` with its balance, ordered by code then asset. A plain
/// read: it takes no lock and sums nothing.
pub async fn list_with_balances(db: &impl ConnectionTrait, owner: Owner) -> Result<Vec<AccountBalance>, DbErr> {
    let accounts = account::Entity::find()
        .filter(account::Column::MerchantId.eq(owner.partition().0))
        .filter(account::Column::Platform.eq(owner.is_platform()))
        .order_by_asc(account::Column::Code)
        .order_by_asc(account::Column::Asset)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
    let balances: BTreeMap<Uuid, balance::Model> = balance::Entity::find()
        .filter(balance::Column::AccountId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.account_id, b))
        .collect();
    accounts
        .into_iter()
        .map(|a| {
            let b = balances.get(&a.id).map(to_balance).unwrap_or_default();
            Ok(AccountBalance { account: Account::try_from(a)?, balance: b })
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
