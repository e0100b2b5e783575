//! The SQL of bank reconciliation: bank accounts, statements and their lines.
//! Private to `core`; the service in `mod.rs` is the only caller.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};
use uuid::Uuid;

use super::statement::{BankDirection, StatementLine, TransactionDetails, csv::CsvProfile};
use super::{BankAccount, BankStatement, LineState, StoredLine};
use crate::core::db::{corrupt, rows_per_statement, stmt};
use crate::domain::MerchantId;

const ACCOUNT_COLUMNS: &str = "id, name, iban, account_number, currency, csv_profile, created_at";

fn bank_account_of(row: &QueryResult) -> Result<BankAccount, DbErr> {
    let profile: Option<String> = row.try_get("", "csv_profile")?;
    let csv_profile = profile
        .map(|p| serde_json::from_str::<CsvProfile>(&p))
        .transpose()
        .map_err(|e| corrupt(format!("stored CSV profile: {e}")))?;
    Ok(BankAccount {
        id: row.try_get("", "id")?,
        name: row.try_get("", "name")?,
        iban: row.try_get("", "iban")?,
        account_number: row.try_get("", "account_number")?,
        currency: row.try_get("", "currency")?,
        csv_profile,
        created_at: row.try_get("", "created_at")?,
    })
}

/// Inserts a bank account. Errors: a unique violation when its IBAN or
/// number is taken (the caller checks first; this is the race's backstop).
pub async fn insert_bank_account(db: &impl ConnectionTrait, a: &BankAccount) -> Result<(), DbErr> {
    let profile = a
        .csv_profile
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| corrupt(format!("CSV profile to JSON: {e}")))?;
    let sql = format!("INSERT INTO bank_accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
    let values = vec![
        a.id.into(),
        a.name.clone().into(),
        a.iban.clone().into(),
        a.account_number.clone().into(),
        a.currency.clone().into(),
        profile.into(),
        a.created_at.into(),
    ];
    db.execute_raw(stmt(db, &sql, values)).await?;
    Ok(())
}

/// The bank account with `id`.
pub async fn bank_account(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<BankAccount>, DbErr> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM bank_accounts WHERE id = $1");
    db.query_one_raw(stmt(db, &sql, vec![id.into()])).await?.as_ref().map(bank_account_of).transpose()
}

/// Whether a bank account has this IBAN or this account number.
pub async fn bank_account_taken(
    db: &impl ConnectionTrait,
    iban: Option<&str>,
    number: Option<&str>,
) -> Result<bool, DbErr> {
    let sql = "SELECT id FROM bank_accounts WHERE iban = $1 OR account_number = $2";
    let values = vec![iban.map(str::to_owned).into(), number.map(str::to_owned).into()];
    Ok(db.query_one_raw(stmt(db, sql, values)).await?.is_some())
}

/// Every bank account, by name.
pub async fn bank_accounts(db: &impl ConnectionTrait) -> Result<Vec<BankAccount>, DbErr> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM bank_accounts ORDER BY name, id");
    db.query_all_raw(stmt(db, &sql, vec![])).await?.iter().map(bank_account_of).collect()
}

const STATEMENT_COLUMNS: &str = "id, bank_account_id, statement_ref, format, file_sha256, opening_minor, \
     opening_date, closing_minor, closing_date, gap_minor, line_count, new_line_count, imported_by, imported_at";

fn statement_of(row: &QueryResult) -> Result<BankStatement, DbErr> {
    let count = |column: &str| -> Result<u32, DbErr> {
        let n: i32 = row.try_get("", column)?;
        u32::try_from(n).map_err(|_| corrupt(format!("statement {column} {n}")))
    };
    Ok(BankStatement {
        id: row.try_get("", "id")?,
        bank_account: row.try_get("", "bank_account_id")?,
        statement_ref: row.try_get("", "statement_ref")?,
        format: row.try_get("", "format")?,
        file_sha256: row.try_get("", "file_sha256")?,
        opening_minor: row.try_get("", "opening_minor")?,
        opening_date: row.try_get("", "opening_date")?,
        closing_minor: row.try_get("", "closing_minor")?,
        closing_date: row.try_get("", "closing_date")?,
        gap_minor: row.try_get("", "gap_minor")?,
        line_count: count("line_count")?,
        new_line_count: count("new_line_count")?,
        imported_by: row.try_get("", "imported_by")?,
        imported_at: row.try_get("", "imported_at")?,
    })
}

/// The statement `statement_ref` of bank account `account`, if imported.
pub async fn statement_by_ref(
    db: &impl ConnectionTrait,
    account: Uuid,
    statement_ref: &str,
) -> Result<Option<BankStatement>, DbErr> {
    let sql =
        format!("SELECT {STATEMENT_COLUMNS} FROM bank_statements WHERE bank_account_id = $1 AND statement_ref = $2");
    let values = vec![account.into(), statement_ref.to_owned().into()];
    db.query_one_raw(stmt(db, &sql, values)).await?.as_ref().map(statement_of).transpose()
}

/// The statement with `id`.
pub async fn statement(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<BankStatement>, DbErr> {
    let sql = format!("SELECT {STATEMENT_COLUMNS} FROM bank_statements WHERE id = $1");
    db.query_one_raw(stmt(db, &sql, vec![id.into()])).await?.as_ref().map(statement_of).transpose()
}

/// The latest statement of `account` that has a closing balance: by closing
/// date, then import time.
pub async fn last_closed_statement(db: &impl ConnectionTrait, account: Uuid) -> Result<Option<BankStatement>, DbErr> {
    let sql = format!(
        "SELECT {STATEMENT_COLUMNS} FROM bank_statements WHERE bank_account_id = $1 AND closing_minor IS NOT NULL \
         ORDER BY closing_date DESC, imported_at DESC LIMIT 1"
    );
    db.query_one_raw(stmt(db, &sql, vec![account.into()])).await?.as_ref().map(statement_of).transpose()
}

/// `account`'s statements, newest import first, at most `limit`.
pub async fn statements(db: &impl ConnectionTrait, account: Uuid, limit: u64) -> Result<Vec<BankStatement>, DbErr> {
    let sql = format!(
        "SELECT {STATEMENT_COLUMNS} FROM bank_statements WHERE bank_account_id = $1 \
         ORDER BY imported_at DESC, id LIMIT $2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.query_all_raw(stmt(db, &sql, vec![account.into(), limit.into()])).await?.iter().map(statement_of).collect()
}

/// Inserts a statement's row (its `new_line_count` is set after its lines).
pub async fn insert_statement(db: &impl ConnectionTrait, s: &BankStatement) -> Result<(), DbErr> {
    let sql = format!(
        "INSERT INTO bank_statements ({STATEMENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    let count = |n: u32| Value::from(i32::try_from(n).unwrap_or(i32::MAX));
    let values = vec![
        s.id.into(),
        s.bank_account.into(),
        s.statement_ref.clone().into(),
        s.format.clone().into(),
        s.file_sha256.clone().into(),
        s.opening_minor.into(),
        s.opening_date.into(),
        s.closing_minor.into(),
        s.closing_date.into(),
        s.gap_minor.into(),
        count(s.line_count),
        count(s.new_line_count),
        s.imported_by.clone().into(),
        s.imported_at.into(),
    ];
    db.execute_raw(stmt(db, &sql, values)).await?;
    Ok(())
}

/// Sets how many of a statement's lines were new.
pub async fn set_new_line_count(db: &impl ConnectionTrait, statement: Uuid, n: u32) -> Result<(), DbErr> {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    db.execute_raw(stmt(
        db,
        "UPDATE bank_statements SET new_line_count = $1 WHERE id = $2",
        vec![n.into(), statement.into()],
    ))
    .await?;
    Ok(())
}

const LINE_COLUMNS: [&str; 18] = [
    "id",
    "bank_account_id",
    "statement_id",
    "line_no",
    "account_servicer_ref",
    "entry_ref",
    "amount_minor",
    "direction",
    "currency",
    "reversal",
    "status",
    "booking_date",
    "value_date",
    "batch_count",
    "details",
    "additional_info",
    "match_state",
    "created_at",
];

/// The JSON form of a line's `TxDtls`, as stored in `details`.
fn details_json(details: &[TransactionDetails]) -> serde_json::Value {
    let party = |p: &Option<super::statement::Party>| {
        p.as_ref().map(|p| serde_json::json!({ "name": p.name, "account": p.account }))
    };
    serde_json::Value::Array(
        details
            .iter()
            .map(|d| {
                serde_json::json!({
                    "endToEndId": d.end_to_end_id,
                    "accountServicerRef": d.account_servicer_ref,
                    "amountMinor": d.amount_minor,
                    "debtor": party(&d.debtor),
                    "creditor": party(&d.creditor),
                    "remittance": d.remittance,
                })
            })
            .collect(),
    )
}

fn details_of(json: &serde_json::Value) -> Vec<TransactionDetails> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let party = |v: &serde_json::Value| {
        v.is_object().then(|| super::statement::Party { name: text(&v["name"]), account: text(&v["account"]) })
    };
    json.as_array()
        .map(|details| {
            details
                .iter()
                .map(|d| TransactionDetails {
                    end_to_end_id: text(&d["endToEndId"]),
                    account_servicer_ref: text(&d["accountServicerRef"]),
                    amount_minor: d["amountMinor"].as_i64(),
                    debtor: party(&d["debtor"]),
                    creditor: party(&d["creditor"]),
                    remittance: d["remittance"]
                        .as_array()
                        .map(|r| r.iter().filter_map(text).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Inserts `lines` of `statement` (numbered from 1 in file order), skipping
/// any whose `AcctSvcrRef` the bank account already has. Returns how many
/// were inserted.
pub async fn insert_lines(
    db: &impl ConnectionTrait,
    account: Uuid,
    statement: Uuid,
    lines: &[StatementLine],
    now: DateTime<Utc>,
) -> Result<u32, DbErr> {
    let json_backend = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let mut inserted: u64 = 0;
    let numbered: Vec<(usize, &StatementLine)> = lines.iter().enumerate().collect();
    for chunk in numbered.chunks(rows_per_statement(LINE_COLUMNS.len())) {
        let mut sql = format!("INSERT INTO bank_statement_lines ({}) VALUES ", LINE_COLUMNS.join(", "));
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * LINE_COLUMNS.len());
        for (i, (n, line)) in chunk.iter().enumerate() {
            let base = i * LINE_COLUMNS.len();
            let marks: Vec<String> = (1..=LINE_COLUMNS.len())
                .map(|k| {
                    if LINE_COLUMNS[k - 1] == "details" && json_backend {
                        format!("CAST(${} AS jsonb)", base + k)
                    } else {
                        format!("${}", base + k)
                    }
                })
                .collect();
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&marks.join(", "));
            sql.push(')');
            values.extend([
                Uuid::now_v7().into(),
                account.into(),
                statement.into(),
                i32::try_from(n + 1).unwrap_or(i32::MAX).into(),
                line.account_servicer_ref.clone().into(),
                line.entry_ref.clone().into(),
                line.amount_minor.into(),
                line.direction.code().to_owned().into(),
                line.currency.clone().into(),
                line.reversal.into(),
                line.status.clone().into(),
                line.booking_date.into(),
                line.value_date.into(),
                line.batch_count.map(|c| i32::try_from(c).unwrap_or(i32::MAX)).into(),
                details_json(&line.details).to_string().into(),
                line.additional_info.clone().into(),
                LineState::Unmatched.as_str().to_owned().into(),
                now.into(),
            ]);
        }
        sql.push_str(" ON CONFLICT (bank_account_id, account_servicer_ref) DO NOTHING");
        inserted += db.execute_raw(stmt(db, &sql, values)).await?.rows_affected();
    }
    Ok(u32::try_from(inserted).unwrap_or(u32::MAX))
}

fn line_of(row: &QueryResult) -> Result<StoredLine, DbErr> {
    let direction: String = row.try_get("", "direction")?;
    let state: String = row.try_get("", "match_state")?;
    let details: String = row.try_get("", "details_text")?;
    let details: serde_json::Value =
        serde_json::from_str(&details).map_err(|e| corrupt(format!("stored line details: {e}")))?;
    let line_no: i32 = row.try_get("", "line_no")?;
    let batch: Option<i32> = row.try_get("", "batch_count")?;
    let round: i32 = row.try_get("", "match_round")?;
    Ok(StoredLine {
        match_round: u32::try_from(round).unwrap_or(0),
        id: row.try_get("", "id")?,
        bank_account: row.try_get("", "bank_account_id")?,
        statement: row.try_get("", "statement_id")?,
        line_no: u32::try_from(line_no).map_err(|_| corrupt(format!("line number {line_no}")))?,
        state: LineState::parse(&state).ok_or_else(|| corrupt(format!("line state {state}")))?,
        line: StatementLine {
            amount_minor: row.try_get("", "amount_minor")?,
            currency: row.try_get("", "currency")?,
            direction: match direction.as_str() {
                "CRDT" => BankDirection::Credit,
                "DBIT" => BankDirection::Debit,
                other => return Err(corrupt(format!("line direction {other}"))),
            },
            reversal: row.try_get("", "reversal")?,
            status: row.try_get("", "status")?,
            booking_date: row.try_get("", "booking_date")?,
            value_date: row.try_get("", "value_date")?,
            account_servicer_ref: row.try_get("", "account_servicer_ref")?,
            entry_ref: row.try_get("", "entry_ref")?,
            batch_count: batch.map(|b| u32::try_from(b).unwrap_or(0)),
            details: details_of(&details),
            additional_info: row.try_get("", "additional_info")?,
        },
    })
}

/// `SELECT … FROM bank_statement_lines` with every column [`line_of`] reads;
/// `details` comes as text (`details_text`), JSONB cast on PostgreSQL.
fn select_lines(db: &impl ConnectionTrait) -> String {
    let details =
        if db.get_database_backend() == sea_orm::DbBackend::Postgres { "CAST(details AS text)" } else { "details" };
    let columns: Vec<&str> = LINE_COLUMNS.iter().copied().filter(|c| *c != "details").collect();
    format!("SELECT {}, match_round, {details} AS details_text FROM bank_statement_lines", columns.join(", "))
}

/// The line with `id`.
pub async fn line(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<StoredLine>, DbErr> {
    let sql = format!("{} WHERE id = $1", select_lines(db));
    db.query_one_raw(stmt(db, &sql, vec![id.into()])).await?.as_ref().map(line_of).transpose()
}

/// Which lines to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFilter {
    /// Only lines of this statement.
    pub statement: Option<Uuid>,
    /// Only lines in this state.
    pub state: Option<LineState>,
}

/// `account`'s lines by booking date then statement and line number, after
/// the line `after` (its id, from a cursor), at most `limit`.
pub async fn lines(
    db: &impl ConnectionTrait,
    account: Uuid,
    filter: LineFilter,
    after: Option<(Option<NaiveDate>, Uuid)>,
    limit: u64,
) -> Result<Vec<StoredLine>, DbErr> {
    let mut sql = format!("{} WHERE bank_account_id = $1", select_lines(db));
    let mut values: Vec<Value> = vec![account.into()];
    if let Some(statement) = filter.statement {
        values.push(statement.into());
        sql += &format!(" AND statement_id = ${}", values.len());
    }
    if let Some(state) = filter.state {
        values.push(state.as_str().to_owned().into());
        sql += &format!(" AND match_state = ${}", values.len());
    }
    // Lines without a booking date sort first, as of `NO_BOOKING_DATE`.
    let day = if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        "COALESCE(booking_date, CAST('0001-01-01' AS DATE))"
    } else {
        "COALESCE(booking_date, '0001-01-01')"
    };
    if let Some((date, id)) = after {
        let date = date.unwrap_or(super::NO_BOOKING_DATE);
        values.push(date.into());
        values.push(id.into());
        sql += &format!(" AND ({day}, id) > (${}, ${})", values.len() - 1, values.len());
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    sql += &format!(" ORDER BY {day}, id LIMIT ${}", values.len());
    db.query_all_raw(stmt(db, &sql, values)).await?.iter().map(line_of).collect()
}

/// Records that `line` is the ledger item `target` (a payout) and marks the
/// line matched. Errors: a unique violation when the line, or the payout on
/// that side, is matched already (a concurrent run got there first).
#[allow(clippy::too_many_arguments, reason = "one row's columns, all needed")]
pub async fn insert_match(
    db: &impl ConnectionTrait,
    account: Uuid,
    line: Uuid,
    payout: Uuid,
    action: &str,
    transaction: Option<Uuid>,
    matched_by: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let sql = "INSERT INTO bank_line_matches (id, line_id, bank_account_id, target_kind, target_id, action, \
               transaction_id, matched_by, matched_at) VALUES ($1, $2, $3, 'payout', $4, $5, $6, $7, $8)";
    let values = vec![
        Uuid::now_v7().into(),
        line.into(),
        account.into(),
        payout.into(),
        action.to_owned().into(),
        transaction.into(),
        matched_by.to_owned().into(),
        at.into(),
    ];
    db.execute_raw(stmt(db, sql, values)).await?;
    let sql = "UPDATE bank_statement_lines SET match_state = 'matched' WHERE id = $1 AND match_state = 'unmatched'";
    db.execute_raw(stmt(db, sql, vec![line.into()])).await?;
    Ok(())
}

/// A payout match to record: the line, the payout, the action
/// (`settle`, `fail`, `returned`) and the transaction its step posted.
pub type PayoutMatchRow<'a> = (Uuid, Uuid, &'a str, Option<Uuid>);

/// [`insert_match`] for many matches of one run at once: multi-row inserts
/// and one update of their lines per [`crate::core::db::rows_per_statement`]
/// rows (a chunk of a matching run records hundreds). A match recorded
/// already (the same line: a concurrent run's, whose payout step this run's
/// replayed under the same `recon-<line id>` key) is kept and not repeated.
/// Errors: the database's.
pub async fn insert_matches(
    db: &impl ConnectionTrait,
    account: Uuid,
    rows: &[PayoutMatchRow<'_>],
    matched_by: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    const COLUMNS: usize = 8;
    for chunk in rows.chunks(crate::core::db::rows_per_statement(COLUMNS)) {
        let tuples: Vec<String> = (0..chunk.len())
            .map(|i| {
                let k = i * COLUMNS;
                format!(
                    "(${}, ${}, ${}, 'payout', ${}, ${}, ${}, ${}, ${})",
                    k + 1,
                    k + 2,
                    k + 3,
                    k + 4,
                    k + 5,
                    k + 6,
                    k + 7,
                    k + 8
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO bank_line_matches (id, line_id, bank_account_id, target_kind, target_id, action, \
             transaction_id, matched_by, matched_at) VALUES {} ON CONFLICT DO NOTHING",
            tuples.join(", ")
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for (line, payout, action, transaction) in chunk {
            values.extend([
                Uuid::now_v7().into(),
                (*line).into(),
                account.into(),
                (*payout).into(),
                (*action).to_owned().into(),
                (*transaction).into(),
                matched_by.to_owned().into(),
                at.into(),
            ]);
        }
        db.execute_raw(stmt(db, &sql, values)).await?;
        let sql = format!(
            "UPDATE bank_statement_lines SET match_state = 'matched' WHERE id IN {} AND match_state = 'unmatched'",
            marks(0, chunk.len())
        );
        db.execute_raw(stmt(db, &sql, chunk.iter().map(|r| r.0.into()).collect())).await?;
    }
    Ok(())
}

/// `($k, $k+1, …)` for `n` values after the `offset` already bound.
fn marks(offset: usize, n: usize) -> String {
    let list: Vec<String> = (offset + 1..=offset + n).map(|k| format!("${k}")).collect();
    format!("({})", list.join(", "))
}

/// A captured payment, as a processor deposit settles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The payment.
    pub payment: Uuid,
    /// Its merchant, whose books hold its clearing.
    pub merchant: MerchantId,
    /// Its asset (ISO 4217 code).
    pub asset: String,
    /// What was captured, minor units (what the processor owes the platform for it).
    pub captured_minor: i64,
    /// When it last moved (its capture, for a payment the life cycle captured once).
    pub captured_at: DateTime<Utc>,
}

fn capture_of(row: &QueryResult) -> Result<Capture, DbErr> {
    Ok(Capture {
        payment: row.try_get("", "id")?,
        merchant: MerchantId(row.try_get("", "merchant_id")?),
        asset: row.try_get("", "asset")?,
        captured_minor: row.try_get("", "captured")?,
        captured_at: row.try_get("", "updated_at")?,
    })
}

/// The payments among `ids` that captured something.
pub async fn captures(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Capture>, DbErr> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT id, merchant_id, asset, captured, updated_at FROM payments WHERE captured > 0 AND id IN {}",
            marks(0, chunk.len())
        );
        let values = chunk.iter().map(|id| Value::from(*id)).collect();
        for row in db.query_all_raw(stmt(db, &sql, values)).await? {
            out.push(capture_of(&row)?);
        }
    }
    Ok(out)
}

/// Those of `ids` a settlement already covers.
pub async fn settled_payments(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashSet<Uuid>, DbErr> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT payment_id FROM bank_settlement_payments WHERE undone_at IS NULL AND payment_id IN {}",
            marks(0, chunk.len())
        );
        let values = chunk.iter().map(|id| Value::from(*id)).collect();
        for row in db.query_all_raw(stmt(db, &sql, values)).await? {
            out.insert(row.try_get::<Uuid>("", "payment_id")?);
        }
    }
    Ok(out)
}

/// Captures in `asset` no settlement covers, captured before `before`,
/// oldest first, at most `limit`: money the processor has not yet been seen
/// to pay.
pub async fn unsettled_captures(
    db: &impl ConnectionTrait,
    asset: &str,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Capture>, DbErr> {
    let sql = "SELECT id, merchant_id, asset, captured, updated_at FROM payments p WHERE captured > 0 \
               AND asset = $1 AND updated_at < $2 AND NOT EXISTS \
               (SELECT 1 FROM bank_settlement_payments s WHERE s.payment_id = p.id AND s.undone_at IS NULL) \
               ORDER BY updated_at, id LIMIT $3";
    let values = vec![asset.to_owned().into(), before.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()];
    db.query_all_raw(stmt(db, sql, values)).await?.iter().map(capture_of).collect()
}

/// A settlement to record: the deposit's figures, the captures it covers and
/// the transaction posted in each merchant's books.
#[derive(Debug, Clone)]
pub struct NewSettlement<'a> {
    /// Its id.
    pub id: Uuid,
    /// The bank account the deposit arrived in.
    pub bank_account: Uuid,
    /// ISO 4217 code.
    pub currency: &'a str,
    /// Σ captured, minor units.
    pub gross_minor: i64,
    /// What the bank booked.
    pub net_minor: i64,
    /// The captures.
    pub captures: &'a [Capture],
    /// Per merchant: the transaction, its gross and its share of the fee.
    pub postings: &'a [(MerchantId, Uuid, i64, i64)],
    /// Who matched it.
    pub created_by: &'a str,
    /// When.
    pub at: DateTime<Utc>,
}

/// Records a settlement. Errors: a unique violation on
/// `bank_settlement_payments` when another run settled one of its captures.
pub async fn insert_settlement(db: &impl ConnectionTrait, s: &NewSettlement<'_>) -> Result<(), DbErr> {
    let sql = "INSERT INTO bank_settlements (id, bank_account_id, currency, gross_minor, net_minor, fee_minor, \
               payment_count, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    let values = vec![
        s.id.into(),
        s.bank_account.into(),
        s.currency.to_owned().into(),
        s.gross_minor.into(),
        s.net_minor.into(),
        (s.gross_minor - s.net_minor).into(),
        i32::try_from(s.captures.len()).unwrap_or(i32::MAX).into(),
        s.created_by.to_owned().into(),
        s.at.into(),
    ];
    db.execute_raw(stmt(db, sql, values)).await?;
    for chunk in s.captures.chunks(rows_per_statement(4)) {
        let rows: Vec<String> = (0..chunk.len()).map(|i| marks(i * 4, 4)).collect();
        let sql = format!(
            "INSERT INTO bank_settlement_payments (payment_id, settlement_id, merchant_id, gross_minor) VALUES {}",
            rows.join(", ")
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        for c in chunk {
            values.extend([c.payment.into(), s.id.into(), c.merchant.0.into(), c.captured_minor.into()]);
        }
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    for chunk in s.postings.chunks(rows_per_statement(5)) {
        let rows: Vec<String> = (0..chunk.len()).map(|i| marks(i * 5, 5)).collect();
        let sql = format!(
            "INSERT INTO bank_settlement_postings (settlement_id, merchant_id, transaction_id, gross_minor, fee_minor) \
             VALUES {}",
            rows.join(", ")
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
        for (merchant, transaction, gross, fee) in chunk {
            values.extend([s.id.into(), merchant.0.into(), (*transaction).into(), (*gross).into(), (*fee).into()]);
        }
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// The transactions a settlement posted, per merchant.
pub async fn settlement_postings(
    db: &impl ConnectionTrait,
    settlement: Uuid,
) -> Result<Vec<(MerchantId, Uuid)>, DbErr> {
    let sql = "SELECT merchant_id, transaction_id FROM bank_settlement_postings WHERE settlement_id = $1 \
               ORDER BY merchant_id";
    let rows = db.query_all_raw(stmt(db, sql, vec![settlement.into()])).await?;
    rows.iter().map(|r| Ok((MerchantId(r.try_get("", "merchant_id")?), r.try_get("", "transaction_id")?))).collect()
}

/// Marks a settlement and its captures undone (an unmatch): the captures
/// are open again.
pub async fn undo_settlement(db: &impl ConnectionTrait, settlement: Uuid, at: DateTime<Utc>) -> Result<(), DbErr> {
    for (table, key) in [("bank_settlement_payments", "settlement_id"), ("bank_settlements", "id")] {
        let sql = format!("UPDATE {table} SET undone_at = $2 WHERE {key} = $1 AND undone_at IS NULL");
        db.execute_raw(stmt(db, &sql, vec![settlement.into(), at.into()])).await?;
    }
    Ok(())
}

/// A line's match as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMatch {
    /// `payout`, `settlement` or `write_off`.
    pub target_kind: String,
    /// The payout, settlement or write-off transaction.
    pub target_id: Uuid,
    /// `settle`, `fail`, `returned`, `deposit` or `write_off`.
    pub action: String,
    /// The transaction the match posted, if one.
    pub transaction: Option<Uuid>,
}

/// The match of `line`, if it has one.
pub async fn match_of(db: &impl ConnectionTrait, line: Uuid) -> Result<Option<StoredMatch>, DbErr> {
    let sql = "SELECT target_kind, target_id, action, transaction_id FROM bank_line_matches \
               WHERE line_id = $1 AND undone_at IS NULL";
    let Some(row) = db.query_one_raw(stmt(db, sql, vec![line.into()])).await? else { return Ok(None) };
    Ok(Some(StoredMatch {
        target_kind: row.try_get("", "target_kind")?,
        target_id: row.try_get("", "target_id")?,
        action: row.try_get("", "action")?,
        transaction: row.try_get("", "transaction_id")?,
    }))
}

/// The lines matched to the ledger item `target`.
pub async fn lines_of_target(db: &impl ConnectionTrait, kind: &str, target: Uuid) -> Result<Vec<Uuid>, DbErr> {
    let sql = "SELECT line_id FROM bank_line_matches WHERE target_kind = $1 AND target_id = $2 \
               AND undone_at IS NULL ORDER BY line_id";
    let rows = db.query_all_raw(stmt(db, sql, vec![kind.to_owned().into(), target.into()])).await?;
    rows.iter().map(|r| r.try_get("", "line_id")).collect()
}

/// Records that `line` is the ledger item `target` (`kind`: `settlement` or
/// `write_off`) and sets the line's state. Errors: a unique violation when
/// the line is matched already.
#[allow(clippy::too_many_arguments, reason = "one row's columns, all needed")]
pub async fn insert_target_match(
    db: &impl ConnectionTrait,
    account: Uuid,
    line: Uuid,
    kind: &str,
    target: Uuid,
    transaction: Option<Uuid>,
    matched_by: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let (action, state) = if kind == "write_off" { ("write_off", "written_off") } else { ("deposit", "matched") };
    let sql = "INSERT INTO bank_line_matches (id, line_id, bank_account_id, target_kind, target_id, action, \
               transaction_id, matched_by, matched_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    let values = vec![
        Uuid::now_v7().into(),
        line.into(),
        account.into(),
        kind.to_owned().into(),
        target.into(),
        action.to_owned().into(),
        transaction.into(),
        matched_by.to_owned().into(),
        at.into(),
        reason.map(str::to_owned).into(),
    ];
    db.execute_raw(stmt(db, sql, values)).await?;
    let sql = "UPDATE bank_statement_lines SET match_state = $2 WHERE id = $1 AND match_state = 'unmatched'";
    db.execute_raw(stmt(db, sql, vec![line.into(), state.to_owned().into()])).await?;
    Ok(())
}

/// Marks `line`'s match undone, by `by` for `reason`, and puts the line
/// back in the queue (its match round one more). Returns whether it had one.
pub async fn undo_match(
    db: &impl ConnectionTrait,
    line: Uuid,
    by: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let sql = "UPDATE bank_line_matches SET undone_at = $2, undone_by = $3, undo_reason = $4 \
               WHERE line_id = $1 AND undone_at IS NULL";
    let values = vec![line.into(), at.into(), by.to_owned().into(), reason.to_owned().into()];
    let undone = db.execute_raw(stmt(db, sql, values)).await?;
    let sql = "UPDATE bank_statement_lines SET match_state = 'unmatched', match_round = match_round + 1 WHERE id = $1";
    db.execute_raw(stmt(db, sql, vec![line.into()])).await?;
    Ok(undone.rows_affected() > 0)
}

/// Payouts in transit in `asset` created before `before`, oldest first, at
/// most `limit`: (id, merchant, amount, created).
pub async fn payouts_in_transit(
    db: &impl ConnectionTrait,
    asset: &str,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, MerchantId, i64, DateTime<Utc>)>, DbErr> {
    let sql = "SELECT id, merchant_id, amount, created_at FROM payouts WHERE state = 'in_transit' AND asset = $1 \
               AND created_at < $2 ORDER BY created_at, id LIMIT $3";
    let values = vec![asset.to_owned().into(), before.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()];
    let rows = db.query_all_raw(stmt(db, sql, values)).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "id")?,
                MerchantId(r.try_get("", "merchant_id")?),
                r.try_get("", "amount")?,
                r.try_get("", "created_at")?,
            ))
        })
        .collect()
}

/// `account`'s lines booked `from..=to`, per state: (count, Σ amount).
pub async fn line_counts(
    db: &impl ConnectionTrait,
    account: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<std::collections::HashMap<String, (u64, i64)>, DbErr> {
    let sql = "SELECT match_state, COUNT(*) AS n, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount \
               FROM bank_statement_lines WHERE bank_account_id = $1 AND booking_date >= $2 AND booking_date <= $3 \
               GROUP BY match_state";
    let rows = db.query_all_raw(stmt(db, sql, vec![account.into(), from.into(), to.into()])).await?;
    rows.iter()
        .map(|r| {
            let n: i64 = r.try_get("", "n")?;
            Ok((r.try_get("", "match_state")?, (u64::try_from(n).unwrap_or(0), r.try_get("", "amount")?)))
        })
        .collect()
}

/// `account`'s unmatched lines booked `from..=to`: (booking date, amount).
pub async fn unmatched_in(
    db: &impl ConnectionTrait,
    account: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(Option<NaiveDate>, i64)>, DbErr> {
    let sql = "SELECT booking_date, amount_minor FROM bank_statement_lines WHERE bank_account_id = $1 \
               AND match_state = 'unmatched' AND booking_date >= $2 AND booking_date <= $3";
    let rows = db.query_all_raw(stmt(db, sql, vec![account.into(), from.into(), to.into()])).await?;
    rows.iter().map(|r| Ok((r.try_get("", "booking_date")?, r.try_get("", "amount_minor")?))).collect()
}

/// Every unconfirmed ledger item in `asset` from before `end`: payouts in
/// transit and captures no settlement covers, as (since, amount).
pub async fn unconfirmed_ages(
    db: &impl ConnectionTrait,
    asset: &str,
    end: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i64)>, DbErr> {
    let queries = [
        "SELECT created_at AS since, amount FROM payouts WHERE state = 'in_transit' AND asset = $1 AND created_at < $2",
        "SELECT updated_at AS since, captured AS amount FROM payments p WHERE captured > 0 AND asset = $1 \
         AND updated_at < $2 AND NOT EXISTS (SELECT 1 FROM bank_settlement_payments s WHERE s.payment_id = p.id \
         AND s.undone_at IS NULL)",
    ];
    let mut out = Vec::new();
    for sql in queries {
        for r in db.query_all_raw(stmt(db, sql, vec![asset.to_owned().into(), end.into()])).await? {
            out.push((r.try_get("", "since")?, r.try_get("", "amount")?));
        }
    }
    Ok(out)
}

/// Per merchant, the platform clearing accounts holding items in `asset`
/// from before `before`: `processor_clearing` (unsettled captures) and
/// `payouts_in_transit` (payouts in transit), as (code, merchant, Σ amount,
/// items, oldest), at most `limit` of each code.
pub async fn open_clearing(
    db: &impl ConnectionTrait,
    asset: &str,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(&'static str, MerchantId, i64, u64, DateTime<Utc>)>, DbErr> {
    let queries = [
        (
            crate::domain::AccountCode::PROCESSOR_CLEARING,
            "SELECT merchant_id, CAST(SUM(captured) AS BIGINT) AS amount, COUNT(*) AS n, MIN(updated_at) AS oldest \
             FROM payments p WHERE captured > 0 AND asset = $1 AND updated_at < $2 AND NOT EXISTS \
             (SELECT 1 FROM bank_settlement_payments s WHERE s.payment_id = p.id AND s.undone_at IS NULL) \
             GROUP BY merchant_id ORDER BY amount DESC, merchant_id LIMIT $3",
        ),
        (
            crate::domain::AccountCode::PAYOUTS_IN_TRANSIT,
            "SELECT merchant_id, CAST(SUM(amount) AS BIGINT) AS amount, COUNT(*) AS n, MIN(created_at) AS oldest \
             FROM payouts WHERE state = 'in_transit' AND asset = $1 AND created_at < $2 \
             GROUP BY merchant_id ORDER BY amount DESC, merchant_id LIMIT $3",
        ),
    ];
    let mut out = Vec::new();
    for (code, sql) in queries {
        let values = vec![asset.to_owned().into(), before.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()];
        for r in db.query_all_raw(stmt(db, sql, values)).await? {
            let n: i64 = r.try_get("", "n")?;
            out.push((
                code,
                MerchantId(r.try_get("", "merchant_id")?),
                r.try_get("", "amount")?,
                u64::try_from(n).unwrap_or(0),
                r.try_get("", "oldest")?,
            ));
        }
    }
    Ok(out)
}

/// Deposits of `account` with lines booked `from..=to` that were short of
/// their captures: (how many, Σ fees).
pub async fn fees_in(
    db: &impl ConnectionTrait,
    account: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(u64, i64), DbErr> {
    let sql = "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(fee_minor), 0) AS BIGINT) AS fees FROM bank_settlements s \
               WHERE bank_account_id = $1 AND fee_minor > 0 AND undone_at IS NULL AND EXISTS (SELECT 1 \
               FROM bank_line_matches m JOIN bank_statement_lines l ON l.id = m.line_id \
               WHERE m.undone_at IS NULL AND m.target_kind = 'settlement' \
               AND m.target_id = s.id AND l.booking_date >= $2 AND l.booking_date <= $3)";
    let row = db.query_one_raw(stmt(db, sql, vec![account.into(), from.into(), to.into()])).await?;
    let Some(row) = row else { return Ok((0, 0)) };
    let n: i64 = row.try_get("", "n")?;
    Ok((u64::try_from(n).unwrap_or(0), row.try_get("", "fees")?))
}

/// Records that staff wrote the capture `capture` off to suspense
/// (`transaction`), for `reason`: a `write_off` row of `bank_settlements`, so
/// the capture is no longer open. Errors: a unique violation when a deposit
/// settled it meanwhile.
#[allow(clippy::too_many_arguments, reason = "one row's columns, all needed")]
pub async fn insert_capture_write_off(
    db: &impl ConnectionTrait,
    id: Uuid,
    account: Uuid,
    capture: &Capture,
    transaction: Uuid,
    reason: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let sql = "INSERT INTO bank_settlements (id, bank_account_id, kind, currency, gross_minor, net_minor, fee_minor, \
               payment_count, reason, created_by, created_at) VALUES ($1, $2, 'write_off', $3, $4, 0, 0, 1, $5, $6, $7)";
    let values = vec![
        id.into(),
        account.into(),
        capture.asset.clone().into(),
        capture.captured_minor.into(),
        reason.to_owned().into(),
        by.to_owned().into(),
        at.into(),
    ];
    db.execute_raw(stmt(db, sql, values)).await?;
    let sql = "INSERT INTO bank_settlement_payments (payment_id, settlement_id, merchant_id, gross_minor) \
               VALUES ($1, $2, $3, $4)";
    let values = vec![capture.payment.into(), id.into(), capture.merchant.0.into(), capture.captured_minor.into()];
    db.execute_raw(stmt(db, sql, values)).await?;
    let sql = "INSERT INTO bank_settlement_postings (settlement_id, merchant_id, transaction_id, gross_minor, fee_minor) \
               VALUES ($1, $2, $3, $4, 0)";
    let values = vec![id.into(), capture.merchant.0.into(), transaction.into(), capture.captured_minor.into()];
    db.execute_raw(stmt(db, sql, values)).await?;
    Ok(())
}
