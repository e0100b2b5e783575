//! CSV export of a month's rollup: `GET /reports/monthly-rollup.csv?month=YYYY-MM`
//! with the same `Authorization: Bearer` as GraphQL (staff only).
//!
//! The export runs the `monthlyRollup` GraphQL query for the caller, so it
//! has exactly the API's rules, figures and error codes; a refusal comes back
//! as the usual JSON error body (400 `BAD_USER_INPUT`, 401, 403 `FORBIDDEN`).
//! One row per line: the month's own lines, then its adjustments, each per
//! class and asset. Amounts are decimal strings in the asset's major unit;
//! rates are decimal fractions, empty when there is nothing to divide by.
//! The CSV follows RFC 4180 (written by the `csv` crate).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AppState, error_response, run_graphql};

/// Where the export is served.
pub const CSV_PATH: &str = "/reports/monthly-rollup.csv";

/// The CSV's columns, in order; each but `line` is a field of `RollupLine`
/// (money fields by their `amount`).
pub const COLUMNS: [&str; 22] = [
    "month",
    "line",
    "class",
    "asset",
    "capturedCount",
    "grossVolume",
    "averageTicket",
    "authorizationsEnded",
    "authorizationsAccepted",
    "acceptanceRate",
    "refundCount",
    "refundVolume",
    "refundRateByCount",
    "refundRateByAmount",
    "chargebackCount",
    "chargebackVolume",
    "chargebackRateByCount",
    "chargebackRateByAmount",
    "fees",
    "payoutCount",
    "payoutVolume",
    "netMovement",
];

const LINE_FIELDS: &str = "class asset capturedCount grossVolume { amount } averageTicket { amount } \
    authorizationsEnded authorizationsAccepted acceptanceRate refundCount refundVolume { amount } \
    refundRateByCount refundRateByAmount chargebackCount chargebackVolume { amount } chargebackRateByCount \
    chargebackRateByAmount fees { amount } payoutCount payoutVolume { amount } netMovement { amount }";

/// The query string of the export.
#[derive(serde::Deserialize)]
pub struct CsvQuery {
    /// `YYYY-MM`.
    month: Option<String>,
}

fn cell(line: &Value, column: &str) -> String {
    match &line[column] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(o) => o.get("amount").and_then(Value::as_str).unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

/// The handler.
pub async fn monthly_rollup_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CsvQuery>,
) -> Response {
    let Some(month) = q.month else {
        return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "give ?month=YYYY-MM");
    };
    let query = format!(
        "query($m: String!) {{ monthlyRollup(month: $m) {{ month lines {{ {LINE_FIELDS} }} adjustments {{ {LINE_FIELDS} }} }} }}"
    );
    let data = match graphql_data(&state, &headers, query, json!({ "m": month })).await {
        Ok(data) => data,
        Err(refused) => return refused,
    };
    let report = &data["monthlyRollup"];
    let mut rows = vec![COLUMNS.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()];
    for (kind, key) in [("month", "lines"), ("adjustment", "adjustments")] {
        for line in report[key].as_array().into_iter().flatten() {
            let mut row = vec![cell(report, "month"), kind.to_owned()];
            row.extend(COLUMNS[2..].iter().map(|c| cell(line, c)));
            rows.push(row);
        }
    }
    csv_response(rows, &format!("monthly-rollup-{}.csv", cell(report, "month")))
}

/// Where an account's statement is served as CSV:
/// `GET /accounts/{id}/statement.csv?from=<RFC 3339>&to=<RFC 3339>`, with the
/// same `Authorization: Bearer` as GraphQL (whoever may read the account).
pub const STATEMENT_CSV_PATH: &str = "/accounts/{id}/statement.csv";

/// The statement CSV's columns. The first row is the opening balance and the
/// last the closing one (`row` = `opening` / `closing`, amounts in the
/// balance columns); each row between is one entry (`row` = `entry`), its
/// amount in `amount`, signed by the account's normal balance in `change`,
/// and the balances after it. Amounts are decimal strings in the asset's
/// major unit.
pub const STATEMENT_COLUMNS: [&str; 12] = [
    "row",
    "effectiveAt",
    "transactionId",
    "entryId",
    "direction",
    "layer",
    "amount",
    "change",
    "posted",
    "pending",
    "available",
    "asset",
];

/// The query string of the statement export.
#[derive(serde::Deserialize)]
pub struct StatementQuery {
    /// Start, inclusive, RFC 3339.
    from: Option<String>,
    /// End, exclusive, RFC 3339.
    to: Option<String>,
}

/// The statement export's handler: runs `account(id) { statement(from, to) }`
/// for the caller, so its rules and error codes are the API's (404
/// `NOT_FOUND` for an account the caller cannot see).
pub async fn statement_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<StatementQuery>,
) -> Response {
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "give ?from=<RFC 3339>&to=<RFC 3339>");
    };
    let query = "query($id: ID!, $from: DateTime!, $to: DateTime!) { account(id: $id) { id code asset normalBalance \
        statement(from: $from, to: $to) { opening { posted { amount } pending { amount } available { amount } } \
        closing { posted { amount } pending { amount } available { amount } } \
        entries { id transactionId direction layer effectiveAt amount { amount } } } } }";
    let data = match graphql_data(&state, &headers, query.to_owned(), json!({ "id": id, "from": from, "to": to })).await
    {
        Ok(data) => data,
        Err(refused) => return refused,
    };
    let account = &data["account"];
    if account.is_null() {
        return error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such account");
    }
    statement_rows(account).map_or_else(
        |what| {
            tracing::error!(what, "could not build a statement CSV");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error")
        },
        |rows| csv_response(rows, &format!("statement-{}-{}.csv", cell(account, "code"), cell(account, "id"))),
    )
}

/// The statement's rows: opening, each entry with the running balances after
/// it, closing. Errors: an amount the API sent that does not parse (a bug).
fn statement_rows(account: &Value) -> Result<Vec<Vec<String>>, &'static str> {
    let statement = &account["statement"];
    let asset = cell(account, "asset");
    let credit_normal = account["normalBalance"].as_str() == Some("CREDIT");
    let dec = |v: &Value| -> Result<rust_decimal::Decimal, &'static str> {
        v["amount"].as_str().unwrap_or_default().parse().map_err(|_| "an amount did not parse")
    };
    let opening = &statement["opening"];
    let (mut posted, mut pending, mut available) =
        (dec(&opening["posted"])?, dec(&opening["pending"])?, dec(&opening["available"])?);
    let balance_row = |row: &str, b: &Value| {
        vec![
            row.to_owned(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            cell(b, "posted"),
            cell(b, "pending"),
            cell(b, "available"),
            asset.clone(),
        ]
    };
    let mut rows = vec![STATEMENT_COLUMNS.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()];
    rows.push(balance_row("opening", opening));
    for e in statement["entries"].as_array().into_iter().flatten() {
        let amount = dec(&e["amount"])?;
        let increases = (e["direction"].as_str() == Some("CREDIT")) == credit_normal;
        let layer = e["layer"].as_str().unwrap_or_default();
        let change = if increases { amount } else { -amount };
        // As the balance view defines them: posted moves posted, pending
        // and available; a hold moves pending, and available when it is an
        // outflow; a release undoes a hold.
        match layer {
            "POSTED" => {
                posted += change;
                pending += change;
                available += change;
            }
            "HOLD" => {
                pending += change;
                if !increases {
                    available += change;
                }
            }
            _ => {
                pending -= change;
                if !increases {
                    available -= change;
                }
            }
        }
        rows.push(vec![
            "entry".to_owned(),
            cell(e, "effectiveAt"),
            cell(e, "transactionId"),
            cell(e, "id"),
            cell(e, "direction"),
            cell(e, "layer"),
            amount.to_string(),
            change.to_string(),
            posted.to_string(),
            pending.to_string(),
            available.to_string(),
            asset.clone(),
        ]);
    }
    rows.push(balance_row("closing", &statement["closing"]));
    Ok(rows)
}

/// Runs `query` with `variables` for the caller and returns its `data`, or
/// the refusal as the usual JSON error body (400 `BAD_USER_INPUT` and the
/// other codes, 401, 403 `FORBIDDEN`).
async fn graphql_data(
    state: &AppState,
    headers: &HeaderMap,
    query: String,
    variables: Value,
) -> Result<Value, Response> {
    let request = async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
    let response = run_graphql(state, headers, request).await?;
    if let Some(err) = response.errors.first() {
        let code = err
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(|c| if let async_graphql::Value::String(s) = c { Some(s.clone()) } else { None })
            .unwrap_or_else(|| "INTERNAL_SERVER_ERROR".to_owned());
        let status = match code.as_str() {
            "FORBIDDEN" => StatusCode::FORBIDDEN,
            "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
            "NOT_FOUND" | "ACCOUNT_NOT_FOUND" => StatusCode::NOT_FOUND,
            "INTERNAL_SERVER_ERROR" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        return Err(error_response(status, &code, &err.message));
    }
    Ok(response.data.into_json().unwrap_or(Value::Null))
}

/// `rows` as an RFC 4180 CSV attachment named `filename`.
fn csv_response(rows: Vec<Vec<String>>, filename: &str) -> Response {
    let mut out = csv::Writer::from_writer(Vec::new());
    for row in rows {
        if let Err(e) = out.write_record(&row) {
            tracing::error!(error = %e, "could not write a CSV row");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error");
        }
    }
    let Ok(body) = out.into_inner() else {
        tracing::error!("could not finish the CSV");
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error");
    };
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
