//! A bound statement rewritten as one self-contained SQL text, so that it can
//! travel in the same simple-protocol message as the `BEGIN` and the tenant
//! settings of a read session (one round trip instead of three).
//!
//! Each `$n` placeholder becomes a literal with an explicit cast to the type
//! the driver would have bound it as (`sea-query-sqlx` over sqlx: `Uuid` as
//! `uuid`, `i64` as `int8`, JSON as `jsonb`, `DateTime<Utc>` as
//! `timestamptz` to the microsecond, ...), so PostgreSQL resolves operators
//! and functions exactly as it does for the prepared form. Strings are
//! written as `E'...'` literals with `\` and `'` escaped, which PostgreSQL
//! reads the same whatever `standard_conforming_strings` says.
//!
//! Anything this module is not sure of gives `None`, and the caller sends the
//! statement prepared instead: a value type not listed here, a string holding
//! NUL, a non-finite float, a `$` that is not a placeholder (dollar quoting),
//! an `E'...'` literal or a `/* */` comment in the text.

use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::{DbBackend, Statement};

/// `stmt` with its values written in, or `None` (see the module's doc).
/// Only for PostgreSQL statements.
pub(super) fn inline(stmt: &Statement) -> Option<String> {
    if stmt.db_backend != DbBackend::Postgres {
        return None;
    }
    let values = stmt.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default();
    let literals = values.iter().map(literal).collect::<Option<Vec<String>>>()?;
    substitute(&stmt.sql, &literals)
}

/// Replaces `$n` outside quotes and comments with `(literals[n - 1])`.
fn substitute(sql: &str, literals: &[String]) -> Option<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                if i > 0 && matches!(bytes[i - 1], b'E' | b'e') {
                    return None;
                }
                let end = closing(bytes, i, b'\'')?;
                out.push_str(&sql[i..=end]);
                i = end + 1;
            }
            b'"' => {
                let end = closing(bytes, i, b'"')?;
                out.push_str(&sql[i..=end]);
                i = end + 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => return None,
            b'$' => {
                let digits = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                let n: usize = sql[i + 1..i + 1 + digits].parse().ok()?;
                let literal = literals.get(n.checked_sub(1)?)?;
                out.push('(');
                out.push_str(literal);
                out.push(')');
                i += 1 + digits;
            }
            _ => {
                let next = sql[i..]
                    .find(['\'', '"', '-', '/', '$'])
                    .map_or(bytes.len(), |n| if n == 0 { i + 1 } else { i + n });
                out.push_str(&sql[i..next]);
                i = next;
            }
        }
    }
    Some(out)
}

/// The index of the quote closing the one at `start` (a doubled quote is
/// part of the text), or `None` when the text ends first.
fn closing(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `value` as a literal cast to the type the driver binds it as.
fn literal(value: &Value) -> Option<String> {
    let (text, ty) = scalar(value)?;
    Some(match text {
        Some(text) => format!("{text}::{ty}"),
        None => format!("NULL::{ty}"),
    })
}

/// A scalar's literal text (`None` for SQL NULL) and its PostgreSQL type.
/// Arrays are written as `ARRAY[...]::type[]`.
#[allow(clippy::option_option)]
fn scalar(value: &Value) -> Option<(Option<String>, String)> {
    let plain = |v: Option<String>, ty: &str| Some((v, ty.to_owned()));
    match value {
        Value::Bool(v) => plain(v.map(|b| format!("'{b}'")), "bool"),
        Value::SmallInt(v) => plain(v.map(|n| format!("'{n}'")), "int2"),
        Value::Int(v) => plain(v.map(|n| format!("'{n}'")), "int4"),
        Value::BigInt(v) => plain(v.map(|n| format!("'{n}'")), "int8"),
        Value::TinyUnsigned(v) => plain(v.map(|n| format!("'{n}'")), "int2"),
        Value::SmallUnsigned(v) => plain(v.map(|n| format!("'{n}'")), "int4"),
        Value::Unsigned(v) => plain(v.map(|n| format!("'{n}'")), "int8"),
        // The binder sends a u64 as an int8 (and cannot send one above
        // i64::MAX), so only those are written in.
        Value::BigUnsigned(Some(n)) if i64::try_from(*n).is_err() => None,
        Value::BigUnsigned(v) => plain(v.map(|n| format!("'{n}'")), "int8"),
        Value::Double(v) => match v {
            Some(f) if !f.is_finite() => None,
            _ => plain(v.map(|f| format!("'{f}'")), "float8"),
        },
        Value::String(v) => plain(
            match v {
                Some(text) => Some(quoted(text)?),
                None => None,
            },
            "text",
        ),
        Value::Json(v) => plain(
            match v {
                Some(json) => Some(quoted(&json.to_string())?),
                None => None,
            },
            "jsonb",
        ),
        Value::Uuid(v) => plain(v.map(|u| format!("'{u}'")), "uuid"),
        Value::Decimal(v) => plain(v.map(|d| format!("'{d}'")), "numeric"),
        Value::ChronoDateTimeUtc(v) => {
            plain(v.map(|t| format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))), "timestamptz")
        }
        Value::ChronoDateTimeWithTimeZone(v) => plain(
            v.map(|t| format!("'{}'", t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S%.6f+00"))),
            "timestamptz",
        ),
        Value::ChronoDateTime(v) => plain(v.map(|t| format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))), "timestamp"),
        Value::ChronoDate(v) => plain(v.map(|d| format!("'{}'", d.format("%Y-%m-%d"))), "date"),
        Value::Array(ty, items) => {
            let element = element_type(ty)?;
            let Some(items) = items else { return Some((None, format!("{element}[]"))) };
            let texts = items
                .iter()
                .map(|item| match scalar(item)? {
                    (Some(text), _) => Some(text),
                    (None, _) => Some("NULL".to_owned()),
                })
                .collect::<Option<Vec<String>>>()?;
            let text = if texts.is_empty() { "'{}'".to_owned() } else { format!("ARRAY[{}]", texts.join(",")) };
            Some((Some(text), format!("{element}[]")))
        }
        _ => None,
    }
}

/// The element type of an array of `ty`, as [`scalar`] names it.
fn element_type(ty: &ArrayType) -> Option<&'static str> {
    Some(match ty {
        ArrayType::Bool => "bool",
        ArrayType::SmallInt => "int2",
        ArrayType::Int => "int4",
        ArrayType::BigInt => "int8",
        ArrayType::String => "text",
        ArrayType::Uuid => "uuid",
        ArrayType::Decimal => "numeric",
        ArrayType::ChronoDateTimeUtc => "timestamptz",
        _ => return None,
    })
}

/// `text` as an `E'...'` literal; `None` when it holds NUL, which no
/// PostgreSQL text can.
fn quoted(text: &str) -> Option<String> {
    if text.contains('\0') {
        return None;
    }
    Some(format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''")))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use sea_orm::sea_query::Values;

    use super::*;

    fn stmt(sql: &str, values: Vec<Value>) -> Statement {
        Statement { sql: sql.to_owned(), values: Some(Values(values)), db_backend: DbBackend::Postgres }
    }

    #[test]
    fn placeholders_become_typed_literals_and_quoted_text_is_left_alone() {
        let id = uuid::Uuid::nil();
        let s = stmt(
            r#"SELECT "a" FROM t WHERE id = $1 AND code = '$2' AND n > $2 AND name = $10 -- $3
AND x = ANY($3)"#,
            vec![
                Value::Uuid(Some(id)),
                Value::BigInt(Some(-5)),
                Value::Array(ArrayType::Uuid, Some(Box::new(vec![Value::Uuid(Some(id))]))),
                Value::Int(None),
                Value::Int(None),
                Value::Int(None),
                Value::Int(None),
                Value::Int(None),
                Value::Int(None),
                Value::String(Some("it's \\ fine".to_owned())),
            ],
        );
        assert_eq!(
            inline(&s).expect("inlinable"),
            "SELECT \"a\" FROM t WHERE id = ('00000000-0000-0000-0000-000000000000'::uuid) AND code = '$2' \
             AND n > ('-5'::int8) AND name = (E'it''s \\\\ fine'::text) -- $3\n\
             AND x = ANY((ARRAY['00000000-0000-0000-0000-000000000000']::uuid[]))"
        );
    }

    #[test]
    fn times_keep_microseconds_and_nulls_keep_their_type() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-03T10:11:12.123456789Z").expect("time").to_utc();
        let s =
            stmt("SELECT $1, $2, $3", vec![Value::ChronoDateTimeUtc(Some(t)), Value::Uuid(None), Value::Json(None)]);
        assert_eq!(
            inline(&s).expect("inlinable"),
            "SELECT ('2026-12-03 10:11:12.123456+00'::timestamptz), (NULL::uuid), (NULL::jsonb)"
        );
    }

    #[test]
    fn anything_unsure_is_sent_prepared() {
        assert!(inline(&stmt("SELECT $$x$$", vec![])).is_none(), "dollar quoting");
        assert!(inline(&stmt("SELECT E'\\'' || $1", vec![Value::Int(Some(1))])).is_none(), "E'' literal");
        assert!(inline(&stmt("SELECT /* $1 */ 1", vec![])).is_none(), "block comment");
        assert!(inline(&stmt("SELECT 'open", vec![])).is_none(), "unterminated literal");
        assert!(inline(&stmt("SELECT $2", vec![Value::Int(Some(1))])).is_none(), "missing value");
        assert!(inline(&stmt("SELECT $1", vec![Value::Bytes(Some(vec![1]))])).is_none(), "unlisted type");
        assert!(inline(&stmt("SELECT $1", vec![Value::String(Some("a\0b".into()))])).is_none(), "NUL");
        assert!(inline(&stmt("SELECT $1", vec![Value::Double(Some(f64::NAN))])).is_none(), "NaN");
    }
}
