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
    let request =
        async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(json!({ "m": month })));
    let response = match run_graphql(&state, &headers, request).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
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
            "INTERNAL_SERVER_ERROR" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        return error_response(status, &code, &err.message);
    }
    let data = response.data.into_json().unwrap_or(Value::Null);
    let report = &data["monthlyRollup"];
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![COLUMNS.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()];
    for (kind, key) in [("month", "lines"), ("adjustment", "adjustments")] {
        for line in report[key].as_array().into_iter().flatten() {
            let mut row = vec![cell(report, "month"), kind.to_owned()];
            row.extend(COLUMNS[2..].iter().map(|c| cell(line, c)));
            rows.push(row);
        }
    }
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
    let disposition = format!("attachment; filename=\"monthly-rollup-{}.csv\"", cell(report, "month"));
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
