//! `POST /reconcile/bank_statement`: a bank statement file as a
//! `multipart/form-data` upload (RFC 7578), with the same `Authorization:
//! Bearer` as GraphQL (admins, and service keys with `reconciliation:write`).
//!
//! Fields: `bank_account_id` (the bank account's UUID) and `file` (the
//! camt.053 XML or CSV). The handler runs the GraphQL mutation
//! `importBankStatement` with the file attached as its `Upload`, so the two
//! ways in share one code path: the same rules, checks, errors and audit.
//! The answer is that mutation's JSON (`data.importBankStatement` or
//! `errors[].extensions.code`), with an HTTP status for the first error:
//! 400 for the caller's input, 401, 403, 404, 413 over
//! [`super::MAX_UPLOAD_BODY_BYTES`], 500.

use async_graphql::UploadValue;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, error_response, run_graphql};

/// Where the upload is served.
pub const STATEMENT_PATH: &str = "/reconcile/bank_statement";

/// The mutation the upload runs, and the fields it answers with.
const IMPORT: &str = "mutation($bankAccountId: ID!, $file: Upload!) { \
    importBankStatement(bankAccountId: $bankAccountId, file: $file) { replayed balanceChecked \
    statement { id bankAccountId statementRef format fileSha256 openingBalance { amount currency } openingDate \
    closingBalance { amount currency } closingDate gap { amount currency } lineCount newLineCount importedAt } } }";

/// The handler.
pub async fn bank_statement(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("not a multipart upload: {e}"));
        }
    };
    let mut account = None;
    let mut file = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return multipart_error(e.status(), &e.body_text()),
        };
        match field.name() {
            Some("bank_account_id") => match field.text().await {
                Ok(text) => account = Some(text.trim().to_owned()),
                Err(e) => return multipart_error(e.status(), &e.body_text()),
            },
            Some("file") => {
                let filename = field.file_name().unwrap_or("statement").to_owned();
                let content_type = field.content_type().map(str::to_owned);
                match field.bytes().await {
                    Ok(content) => file = Some(UploadValue { filename, content_type, content }),
                    Err(e) => return multipart_error(e.status(), &e.body_text()),
                }
            }
            _ => {}
        }
    }
    let (Some(account), Some(file)) = (account, file) else {
        return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "send the fields bank_account_id and file");
    };
    let mut request = async_graphql::Request::new(IMPORT)
        .variables(async_graphql::Variables::from_json(json!({ "bankAccountId": account, "file": null })));
    request.set_upload("variables.file", file);
    let response = match run_graphql(&state, &headers, request).await {
        Ok(response) => response,
        Err(refused) => return refused,
    };
    let code = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| x.get("code"))
        .map(|c| c.to_string().trim_matches('"').to_owned());
    let status = match code.as_deref() {
        None => StatusCode::OK,
        Some("UNAUTHENTICATED") => StatusCode::UNAUTHORIZED,
        Some("FORBIDDEN") => StatusCode::FORBIDDEN,
        Some("NOT_FOUND") => StatusCode::NOT_FOUND,
        Some("STATEMENT_TOO_LARGE") => StatusCode::PAYLOAD_TOO_LARGE,
        Some("INTERNAL_SERVER_ERROR") => StatusCode::INTERNAL_SERVER_ERROR,
        Some("TRY_AGAIN") => StatusCode::SERVICE_UNAVAILABLE,
        Some(_) => StatusCode::BAD_REQUEST,
    };
    match serde_json::to_string(&response) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a statement import's response");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error")
        }
    }
}

/// A multipart body that could not be read: 413 when it passed the body
/// limit, else 400.
fn multipart_error(status: StatusCode, text: &str) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE || text.contains("length limit") {
        let message = format!("request body exceeds {} bytes", super::MAX_UPLOAD_BODY_BYTES);
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", &message);
    }
    error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("not a multipart upload: {text}"))
}
