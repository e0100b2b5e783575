//! Staff users, their sessions, API keys (merchant keys and service keys) and
//! the audit log.
//!
//! Secrets are never stored: a password is stored as its argon2 PHC string, an
//! API key and a session token as the hex SHA-256 of the whole token. Lookups go
//! by the key's visible prefix or the token's hash.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};
use uuid::Uuid;

use crate::core::access::rules::{AuditTarget, Role, Scopes, ServiceName};
use crate::core::db::stmt;
use crate::domain::MerchantId;

/// A staff user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffUser {
    /// Its id.
    pub id: Uuid,
    /// Unique username.
    pub username: String,
    /// argon2 PHC string of the password (never shown).
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

fn staff_of(row: &QueryResult, prefix: &str) -> Result<StaffUser, DbErr> {
    let role: String = row.try_get(prefix, "role")?;
    Ok(StaffUser {
        id: row.try_get(prefix, "id")?,
        username: row.try_get(prefix, "username")?,
        password_hash: row.try_get(prefix, "password_hash")?,
        role: Role::parse(&role).ok_or_else(|| crate::core::db::corrupt(format!("stored role `{role}`")))?,
        created_at: row.try_get(prefix, "created_at")?,
    })
}

/// How many staff users exist.
pub async fn staff_count(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(db, "SELECT COUNT(*) AS n FROM staff_users", vec![]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("count".into()))?;
    row.try_get("", "n")
}

/// Inserts a staff user; `false` when the username is taken.
pub async fn insert_staff(db: &impl ConnectionTrait, user: &StaffUser) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            "INSERT INTO staff_users (id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (username) DO NOTHING RETURNING id",
            vec![
                user.id.into(),
                user.username.clone().into(),
                user.password_hash.clone().into(),
                user.role.as_str().into(),
                user.created_at.into(),
            ],
        ))
        .await?;
    Ok(row.is_some())
}

/// A staff user by username.
pub async fn staff_by_username(db: &impl ConnectionTrait, username: &str) -> Result<Option<StaffUser>, DbErr> {
    db.query_one_raw(stmt(db, "SELECT * FROM staff_users WHERE username = $1", vec![username.into()]))
        .await?
        .map(|r| staff_of(&r, ""))
        .transpose()
}

/// A staff user by id.
pub async fn staff_user(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<StaffUser>, DbErr> {
    db.query_one_raw(stmt(db, "SELECT * FROM staff_users WHERE id = $1", vec![id.into()]))
        .await?
        .map(|r| staff_of(&r, ""))
        .transpose()
}

/// Every staff user, by username.
pub async fn list_staff(db: &impl ConnectionTrait) -> Result<Vec<StaffUser>, DbErr> {
    let rows = db.query_all_raw(stmt(db, "SELECT * FROM staff_users ORDER BY username", vec![])).await?;
    rows.iter().map(|r| staff_of(r, "")).collect()
}

/// Stores a new session: the token's hash, its user and when it expires.
pub async fn insert_session(
    db: &impl ConnectionTrait,
    id: Uuid,
    token_hash: &str,
    staff: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO staff_sessions (id, token_hash, staff_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        vec![id.into(), token_hash.into(), staff.into(), Utc::now().into(), expires_at.into()],
    ))
    .await?;
    Ok(())
}

/// The live session with this token hash: its id, when it ends, and its
/// user; `None` when unknown, expired (at `now`) or revoked.
pub async fn live_session(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Uuid, DateTime<Utc>, StaffUser)>, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT s.id AS session_id, s.expires_at AS session_expires_at, u.id, u.username, u.password_hash, \
               u.role, u.created_at \
             FROM staff_sessions s JOIN staff_users u ON u.id = s.staff_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
            vec![token_hash.into(), now.into()],
        ))
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((r.try_get("", "session_id")?, r.try_get("", "session_expires_at")?, staff_of(&r, "")?))),
    }
}

/// Revokes a session (logout). Idempotent. Returns its token's hash, which
/// names it in the authentication cache (`None` for an unknown session).
pub async fn revoke_session(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<String>, DbErr> {
    db.execute_raw(stmt(
        db,
        "UPDATE staff_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        vec![Utc::now().into(), id.into()],
    ))
    .await?;
    let row =
        db.query_one_raw(stmt(db, "SELECT token_hash FROM staff_sessions WHERE id = $1", vec![id.into()])).await?;
    row.map(|r| r.try_get("", "token_hash")).transpose()
}

/// Tells every instance listening on `channel` that `payload` was revoked
/// (PostgreSQL `NOTIFY`; nothing elsewhere). Sent on its own, after the
/// revocation committed: on Citus a transaction that notified cannot be
/// prepared for two-phase commit.
pub async fn notify(db: &impl ConnectionTrait, channel: &str, payload: &str) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    db.execute_raw(stmt(db, "SELECT pg_notify($1, $2)", vec![channel.into(), payload.into()])).await?;
    Ok(())
}

/// The service a service key belongs to, and what it may do.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceGrant {
    /// The service's name.
    pub name: ServiceName,
    /// Its scopes.
    pub scopes: Scopes,
}

/// An API key as stored (its hash is never shown): a merchant key, or a
/// service key (`service` set, `merchant` the platform).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// Its id.
    pub id: Uuid,
    /// The merchant it acts for; the platform for a service key.
    pub merchant: MerchantId,
    /// For a service key: its service and scopes.
    pub service: Option<ServiceGrant>,
    /// The visible prefix, `lk_<8 chars>` or `sk_<8 chars>`.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub key_hash: String,
    /// A label.
    pub name: Option<String>,
    /// Who created it (`staff:<username>`).
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

fn key_of(r: &QueryResult) -> Result<ApiKey, DbErr> {
    let service: Option<String> = r.try_get("", "service")?;
    let scopes: Option<String> = r.try_get("", "scopes")?;
    let service = match (service, scopes) {
        (None, None) => None,
        (Some(name), Some(scopes)) => Some(ServiceGrant {
            name: ServiceName::parse(&name)
                .map_err(|_| crate::core::db::corrupt(format!("stored service name `{name}`")))?,
            scopes: Scopes::from_stored(&scopes)
                .ok_or_else(|| crate::core::db::corrupt(format!("stored scopes `{scopes}`")))?,
        }),
        _ => {
            return Err(crate::core::db::corrupt("stored api key has a service without scopes, or scopes without one"));
        }
    };
    Ok(ApiKey {
        id: r.try_get("", "id")?,
        merchant: MerchantId(r.try_get("", "merchant_id")?),
        service,
        prefix: r.try_get("", "prefix")?,
        key_hash: r.try_get("", "key_hash")?,
        name: r.try_get("", "name")?,
        created_by: r.try_get("", "created_by")?,
        created_at: r.try_get("", "created_at")?,
        revoked_at: r.try_get("", "revoked_at")?,
    })
}

/// Stores a new key. Errors: a unique violation on `prefix` (one in 2^41; the
/// caller may retry).
pub async fn insert_api_key(db: &impl ConnectionTrait, key: &ApiKey) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO api_keys (id, merchant_id, prefix, key_hash, name, created_by, created_at, service, scopes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            key.id.into(),
            key.merchant.0.into(),
            key.prefix.clone().into(),
            key.key_hash.clone().into(),
            key.name.clone().into(),
            key.created_by.clone().into(),
            key.created_at.into(),
            key.service.as_ref().map(|s| s.name.as_str().to_owned()).into(),
            key.service.as_ref().map(|s| s.scopes.stored()).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The key with this prefix, for authentication: on PostgreSQL through
/// `ledger_api_key_by_prefix` (see the migration `create_key_lookup`), which
/// the request role may call with no tenant set, so the lookup is one
/// statement outside any transaction.
pub async fn api_key_for_auth(db: &impl ConnectionTrait, prefix: &str) -> Result<Option<ApiKey>, DbErr> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "SELECT * FROM ledger_api_key_by_prefix($1)",
        _ => "SELECT * FROM api_keys WHERE prefix = $1",
    };
    db.query_one_raw(stmt(db, sql, vec![prefix.into()])).await?.map(|r| key_of(&r)).transpose()
}

/// A key by id.
pub async fn api_key(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<ApiKey>, DbErr> {
    db.query_one_raw(stmt(db, "SELECT * FROM api_keys WHERE id = $1", vec![id.into()]))
        .await?
        .map(|r| key_of(&r))
        .transpose()
}

/// A merchant's keys, newest first (never service keys).
pub async fn api_keys_of(db: &impl ConnectionTrait, merchant: MerchantId) -> Result<Vec<ApiKey>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT * FROM api_keys WHERE merchant_id = $1 AND service IS NULL ORDER BY created_at DESC, id DESC",
            vec![merchant.0.into()],
        ))
        .await?;
    rows.iter().map(key_of).collect()
}

/// Service keys, of one service when `service` is given, newest first.
pub async fn service_keys(db: &impl ConnectionTrait, service: Option<&ServiceName>) -> Result<Vec<ApiKey>, DbErr> {
    let (sql, values): (&str, Vec<Value>) = match service {
        Some(name) => {
            ("SELECT * FROM api_keys WHERE service = $1 ORDER BY created_at DESC, id DESC", vec![name.as_str().into()])
        }
        None => ("SELECT * FROM api_keys WHERE service IS NOT NULL ORDER BY created_at DESC, id DESC", vec![]),
    };
    let rows = db.query_all_raw(stmt(db, sql, values)).await?;
    rows.iter().map(key_of).collect()
}

/// Revokes a key as of `at`; `false` when it was already revoked.
pub async fn revoke_api_key(db: &impl ConnectionTrait, id: Uuid, at: DateTime<Utc>) -> Result<bool, DbErr> {
    let r = db
        .execute_raw(stmt(
            db,
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            vec![at.into(), id.into()],
        ))
        .await?;
    Ok(r.rows_affected() == 1)
}

/// One staff action, as the audit log records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Its place in the log (assigned on insert).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The staff username.
    pub actor: String,
    /// The mutation, e.g. `reverseTransaction`.
    pub action: String,
    /// What kind of thing it acted on.
    pub target_type: AuditTarget,
    /// The target's id.
    pub target_id: Option<String>,
    /// The merchant the target belongs to, when known.
    pub merchant: Option<MerchantId>,
    /// The reason given.
    pub reason: Option<String>,
    /// `ok`, or the error code it was refused with.
    pub result: String,
    /// The HTTP request id.
    pub request_id: Option<String>,
}

/// Appends one audit record (its `seq` is ignored and assigned by the database).
pub async fn append_audit(db: &impl ConnectionTrait, r: &AuditRecord) -> Result<(), DbErr> {
    append_audits(db, std::slice::from_ref(r)).await
}

/// The statement [`append_audits`] runs on one PostgreSQL node
/// ([`crate::core::db::rows_as_json`]), to run alone or with the rest of a
/// batch's writes ([`crate::core::db::write_together`]).
pub(crate) fn audits_write(records: &[AuditRecord]) -> crate::core::db::Write {
    use crate::core::db::{json_rows, json_rows_insert, json_time};
    const TYPED: &[(&str, &str)] = &[
        ("at", "timestamptz"),
        ("actor", "text"),
        ("action", "text"),
        ("target_type", "text"),
        ("target_id", "text"),
        ("merchant_id", "uuid"),
        ("reason", "text"),
        ("result", "text"),
        ("request_id", "text"),
    ];
    let rows = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "at": json_time(r.at),
                "actor": r.actor,
                "action": r.action,
                "target_type": r.target_type.as_str(),
                "target_id": r.target_id,
                "merchant_id": r.merchant.map(|m| m.0),
                "reason": r.reason,
                "result": r.result,
                "request_id": r.request_id,
            })
        })
        .collect();
    crate::core::db::Write::new(json_rows_insert("audit_log", TYPED, ""), vec![json_rows(rows)])
}

/// Appends several audit records, one multi-row insert per chunk (the
/// batched write path records its staff postings this way).
pub async fn append_audits(db: &impl ConnectionTrait, records: &[AuditRecord]) -> Result<(), DbErr> {
    const COLUMNS: usize = 9;
    if crate::core::db::rows_as_json(db) && !records.is_empty() {
        let w = audits_write(records);
        db.execute_raw(stmt(db, &w.sql, w.values)).await?;
        return Ok(());
    }
    for chunk in records.chunks(crate::core::db::rows_per_statement(COLUMNS)) {
        let sql = format!(
            "INSERT INTO audit_log (at, actor, action, target_type, target_id, merchant_id, reason, result, request_id) \
             VALUES {}",
            crate::core::db::placeholder_rows(chunk.len(), COLUMNS)
        );
        let values: Vec<sea_orm::Value> = chunk
            .iter()
            .flat_map(|r| {
                [
                    r.at.into(),
                    r.actor.clone().into(),
                    r.action.clone().into(),
                    r.target_type.as_str().into(),
                    r.target_id.clone().into(),
                    r.merchant.map(|m| m.0).into(),
                    r.reason.clone().into(),
                    r.result.clone().into(),
                    r.request_id.clone().into(),
                ]
            })
            .collect();
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// Audit records newest first, before `before_seq`, optionally by one actor and
/// about one target (its id or its merchant's id), at most `limit`.
pub async fn audit_page(
    db: &impl ConnectionTrait,
    actor: Option<&str>,
    target: Option<&str>,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditRecord>, DbErr> {
    let mut sql = "SELECT * FROM audit_log WHERE seq < $1".to_owned();
    let mut values: Vec<Value> = vec![before_seq.unwrap_or(i64::MAX).into()];
    if let Some(actor) = actor {
        values.push(actor.into());
        sql.push_str(&format!(" AND actor = ${}", values.len()));
    }
    if let Some(target) = target {
        values.push(target.into());
        let n = values.len();
        match Uuid::parse_str(target) {
            Ok(id) => {
                values.push(id.into());
                sql.push_str(&format!(" AND (target_id = ${n} OR merchant_id = ${})", n + 1));
            }
            Err(_) => sql.push_str(&format!(" AND target_id = ${n}")),
        }
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", values.len()));
    let rows = db.query_all_raw(stmt(db, &sql, values)).await?;
    rows.iter()
        .map(|r| {
            Ok(AuditRecord {
                seq: r.try_get("", "seq")?,
                at: r.try_get("", "at")?,
                actor: r.try_get("", "actor")?,
                action: r.try_get("", "action")?,
                target_type: AuditTarget::parse(&r.try_get::<String>("", "target_type")?)?,
                target_id: r.try_get("", "target_id")?,
                merchant: r.try_get::<Option<Uuid>>("", "merchant_id")?.map(MerchantId),
                reason: r.try_get("", "reason")?,
                result: r.try_get("", "result")?,
                request_id: r.try_get("", "request_id")?,
            })
        })
        .collect()
}
