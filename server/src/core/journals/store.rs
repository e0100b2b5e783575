//! The rows an export reads: every account, and the entries of the
//! exported transactions in date order.

use chrono::{DateTime, Utc};
use futures::{Stream, TryStreamExt};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, StreamTrait, Value};

use crate::core::accounts::store::Account;
use crate::core::db::stmt;
use crate::domain::{Layer, MerchantId};

/// Every account (a few per merchant), by id.
pub(super) async fn accounts(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<uuid::Uuid, Account>, DbErr> {
    let mut out = std::collections::HashMap::new();
    for model in entity::account::Entity::find().all(db).await? {
        let a = Account::try_from(model)?;
        out.insert(a.id.0, a);
    }
    Ok(out)
}

/// One entry with its transaction's header.
#[derive(Debug, Clone)]
pub(super) struct EntryRow {
    pub merchant: uuid::Uuid,
    pub seq: i64,
    pub id: uuid::Uuid,
    pub kind: String,
    pub effective_at: DateTime<Utc>,
    pub external_ref: Option<String>,
    pub account: uuid::Uuid,
    pub asset: String,
    pub debit: bool,
    pub amount: i64,
    pub layer: Layer,
}

/// The entries of the transactions of `merchant`'s books (its partition and
/// the deals it is the counterparty of; every merchant's and the platform's
/// when `None`) effective at or before `until`, in effective-time order, then
/// by merchant, transaction and entry number.
pub(super) async fn entries<'a>(
    db: &'a (impl ConnectionTrait + StreamTrait),
    merchant: Option<MerchantId>,
    until: Option<DateTime<Utc>>,
) -> Result<impl Stream<Item = Result<EntryRow, DbErr>> + 'a, DbErr> {
    let mut filter = vec!["TRUE".to_owned()];
    let mut values: Vec<Value> = Vec::new();
    if let Some(m) = merchant {
        values.push(m.0.into());
        filter.push(format!("(t.merchant_id = ${n} OR t.counterparty_id = ${n})", n = values.len()));
    }
    if let Some(t) = until {
        values.push(t.into());
        filter.push(format!("t.effective_at <= ${}", values.len()));
    }
    let sql = format!(
        "SELECT t.merchant_id AS merchant_id, t.seq AS seq, t.id AS id, t.kind AS kind, \
           t.effective_at AS effective_at, t.external_ref AS external_ref, e.account_id AS account_id, \
           e.asset AS asset, e.direction AS direction, e.amount AS amount, e.layer AS layer \
         FROM transactions t JOIN entries e ON e.merchant_id = t.merchant_id AND e.transaction_seq = t.seq \
         WHERE {} ORDER BY t.effective_at, t.merchant_id, t.seq, e.seq",
        filter.join(" AND ")
    );
    let rows = db.stream_raw(stmt(db, &sql, values)).await?;
    Ok(rows.and_then(|r| async move {
        Ok(EntryRow {
            merchant: r.try_get("", "merchant_id")?,
            seq: r.try_get("", "seq")?,
            id: r.try_get("", "id")?,
            kind: r.try_get("", "kind")?,
            effective_at: r.try_get("", "effective_at")?,
            external_ref: r.try_get("", "external_ref")?,
            account: r.try_get("", "account_id")?,
            asset: r.try_get("", "asset")?,
            debit: r.try_get::<String>("", "direction")? == "debit",
            amount: r.try_get("", "amount")?,
            layer: {
                let raw: String = r.try_get("", "layer")?;
                Layer::parse(&raw).ok_or_else(|| crate::core::db::corrupt(format!("stored layer `{raw}`")))?
            },
        })
    }))
}
