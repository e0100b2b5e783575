//! How the console reaches the Ledger API, and nothing about what it asks.
//!
//! Queries and mutations go to `POST /graphql` as JSON (the GraphQL over HTTP
//! spec), with the staff session token, when there is one, as
//! `Authorization: Bearer <token>`. Subscriptions go to `/graphql/ws` with the
//! `graphql-transport-ws` protocol (the GraphQL over WebSocket RFC), through
//! `graphql-ws-client`; the token goes in `connection_init`.
//!
//! This layer knows no session and no operation: it takes a token and an
//! operation typed by `graphql_client` (see [`crate::api`]), and gives back the
//! operation's typed data or an [`ApiError`] with the server's stable
//! `extensions.code` as an [`ErrorCode`]. A request that never reached the
//! server is [`ErrorCode::Offline`]; [`reconnect_delay`] is the backoff the
//! callers retry with ([`crate::session::Ctx::call`], the merchant page's
//! live balances).

use std::time::Duration;

use futures::{Stream, StreamExt};
use graphql_client::{GraphQLQuery, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// A stable error code: the server's `extensions.code`, or one of the
/// console's own for a call that failed before an answer could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The server was not reached (the connection is lost). The console's own.
    Offline,
    /// The server's answer could not be read. The console's own.
    BadResponse,
    /// The request could not be built. The console's own.
    BadRequest,
    /// `UNAUTHENTICATED`: no session, or it ended.
    Unauthenticated,
    /// `INVALID_CREDENTIALS`: wrong username or password.
    InvalidCredentials,
    /// `FORBIDDEN`: the role may not do this.
    Forbidden,
    /// `NOT_FOUND`.
    NotFound,
    /// `INSUFFICIENT_FUNDS`.
    InsufficientFunds,
    /// `ALREADY_REVERSED`.
    AlreadyReversed,
    /// `PAYMENT_STEP_NOT_REVERSIBLE`.
    PaymentStepNotReversible,
    /// `REFUND_EXCEEDS_CAPTURED`.
    RefundExceedsCaptured,
    /// `PAYMENT_NOT_CAPTURED`.
    PaymentNotCaptured,
    /// `AMOUNT_PRECISION_EXCEEDED`.
    AmountPrecisionExceeded,
    /// `AMOUNT_NOT_POSITIVE`.
    AmountNotPositive,
    /// `AMOUNT_MALFORMED`.
    AmountMalformed,
    /// `REASON_REQUIRED`.
    ReasonRequired,
    /// `IDEMPOTENCY_KEY_REUSED`.
    IdempotencyKeyReused,
    /// `RATE_LIMITED`.
    RateLimited,
    /// `TRY_AGAIN` or `TIMEOUT`: the ledger was busy and did nothing.
    TryAgain,
    /// `BAD_USER_INPUT`.
    BadUserInput,
    /// `LINE_ALREADY_MATCHED`: a bank line is matched or written off already.
    LineAlreadyMatched,
    /// `LINE_DOES_NOT_FIT`: a bank line cannot be matched to that item.
    LineDoesNotFit,
    /// `LINE_NOT_MATCHED`: there is no match to undo.
    LineNotMatched,
    /// `MATCH_IS_FINAL`: a payout the bank settled or returned stays so.
    MatchIsFinal,
    /// `PAYOUT_NOT_IN_TRANSIT`.
    PayoutNotInTransit,
    /// `MALFORMED_STATEMENT`: the file is not a readable statement.
    MalformedStatement,
    /// `UNSUPPORTED_STATEMENT_FORMAT`.
    UnsupportedStatementFormat,
    /// `STATEMENT_ACCOUNT_MISMATCH`: the file names another account.
    StatementAccountMismatch,
    /// `CURRENCY_MISMATCH`.
    CurrencyMismatch,
    /// `STATEMENT_UNBALANCED`: opening + booked lines is not the closing balance.
    StatementUnbalanced,
    /// `STATEMENT_ID_REUSED`: another file came with this statement id.
    StatementIdReused,
    /// `STATEMENT_TOO_LARGE` or `PAYLOAD_TOO_LARGE`.
    StatementTooLarge,
    /// `BAD_AMOUNT`: more decimals than the currency has.
    BadAmount,
    /// A code this console does not know yet, kept as sent.
    Other(String),
}

impl ErrorCode {
    /// Reads a code as the server sends it.
    pub fn parse(code: &str) -> Self {
        match code {
            "OFFLINE" => Self::Offline,
            "BAD_RESPONSE" => Self::BadResponse,
            "BAD_REQUEST" => Self::BadRequest,
            "UNAUTHENTICATED" => Self::Unauthenticated,
            "INVALID_CREDENTIALS" => Self::InvalidCredentials,
            "FORBIDDEN" => Self::Forbidden,
            "NOT_FOUND" => Self::NotFound,
            "INSUFFICIENT_FUNDS" => Self::InsufficientFunds,
            "ALREADY_REVERSED" => Self::AlreadyReversed,
            "PAYMENT_STEP_NOT_REVERSIBLE" => Self::PaymentStepNotReversible,
            "REFUND_EXCEEDS_CAPTURED" => Self::RefundExceedsCaptured,
            "PAYMENT_NOT_CAPTURED" => Self::PaymentNotCaptured,
            "AMOUNT_PRECISION_EXCEEDED" => Self::AmountPrecisionExceeded,
            "AMOUNT_NOT_POSITIVE" => Self::AmountNotPositive,
            "AMOUNT_MALFORMED" => Self::AmountMalformed,
            "REASON_REQUIRED" => Self::ReasonRequired,
            "IDEMPOTENCY_KEY_REUSED" => Self::IdempotencyKeyReused,
            "RATE_LIMITED" => Self::RateLimited,
            "TRY_AGAIN" | "TIMEOUT" => Self::TryAgain,
            "BAD_USER_INPUT" => Self::BadUserInput,
            "LINE_ALREADY_MATCHED" => Self::LineAlreadyMatched,
            "LINE_DOES_NOT_FIT" => Self::LineDoesNotFit,
            "LINE_NOT_MATCHED" => Self::LineNotMatched,
            "MATCH_IS_FINAL" => Self::MatchIsFinal,
            "PAYOUT_NOT_IN_TRANSIT" => Self::PayoutNotInTransit,
            "MALFORMED_STATEMENT" => Self::MalformedStatement,
            "UNSUPPORTED_STATEMENT_FORMAT" => Self::UnsupportedStatementFormat,
            "STATEMENT_ACCOUNT_MISMATCH" => Self::StatementAccountMismatch,
            "CURRENCY_MISMATCH" => Self::CurrencyMismatch,
            "STATEMENT_UNBALANCED" => Self::StatementUnbalanced,
            "STATEMENT_ID_REUSED" => Self::StatementIdReused,
            "STATEMENT_TOO_LARGE" | "PAYLOAD_TOO_LARGE" => Self::StatementTooLarge,
            "BAD_AMOUNT" => Self::BadAmount,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as the server spells it (for `data-code` and messages).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Offline => "OFFLINE",
            Self::BadResponse => "BAD_RESPONSE",
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::InsufficientFunds => "INSUFFICIENT_FUNDS",
            Self::AlreadyReversed => "ALREADY_REVERSED",
            Self::PaymentStepNotReversible => "PAYMENT_STEP_NOT_REVERSIBLE",
            Self::RefundExceedsCaptured => "REFUND_EXCEEDS_CAPTURED",
            Self::PaymentNotCaptured => "PAYMENT_NOT_CAPTURED",
            Self::AmountPrecisionExceeded => "AMOUNT_PRECISION_EXCEEDED",
            Self::AmountNotPositive => "AMOUNT_NOT_POSITIVE",
            Self::AmountMalformed => "AMOUNT_MALFORMED",
            Self::ReasonRequired => "REASON_REQUIRED",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::RateLimited => "RATE_LIMITED",
            Self::TryAgain => "TRY_AGAIN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::LineAlreadyMatched => "LINE_ALREADY_MATCHED",
            Self::LineDoesNotFit => "LINE_DOES_NOT_FIT",
            Self::LineNotMatched => "LINE_NOT_MATCHED",
            Self::MatchIsFinal => "MATCH_IS_FINAL",
            Self::PayoutNotInTransit => "PAYOUT_NOT_IN_TRANSIT",
            Self::MalformedStatement => "MALFORMED_STATEMENT",
            Self::UnsupportedStatementFormat => "UNSUPPORTED_STATEMENT_FORMAT",
            Self::StatementAccountMismatch => "STATEMENT_ACCOUNT_MISMATCH",
            Self::CurrencyMismatch => "CURRENCY_MISMATCH",
            Self::StatementUnbalanced => "STATEMENT_UNBALANCED",
            Self::StatementIdReused => "STATEMENT_ID_REUSED",
            Self::StatementTooLarge => "STATEMENT_TOO_LARGE",
            Self::BadAmount => "BAD_AMOUNT",
            Self::Other(code) => code,
        }
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// What happened, as a stable code.
    pub code: ErrorCode,
    /// The server's message, for the detail line.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and a detail message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// True when the server was not reached (the connection is lost).
    pub fn is_offline(&self) -> bool {
        self.code == ErrorCode::Offline
    }

    /// The error in plain words, saying whether anything changed.
    pub fn plain(&self) -> String {
        use ErrorCode::*;
        let words = match &self.code {
            Offline => "Cannot reach the ledger server. Check your connection; the console keeps retrying.",
            Unauthenticated => "Your session has ended. Please log in again.",
            InvalidCredentials => "That username and password do not match.",
            Forbidden => "Your role does not allow this action. Nothing was changed.",
            NotFound => "Not found: it does not exist, or you may not see it.",
            InsufficientFunds => "The merchant's available balance is too low for this. Nothing was changed.",
            AlreadyReversed => "This transaction has already been reversed. Nothing was changed.",
            PaymentStepNotReversible => {
                "This is a step of a payment: refund the payment instead of reversing the step. Nothing was changed."
            }
            RefundExceedsCaptured => "That is more than is left to refund on this payment. Nothing was changed.",
            PaymentNotCaptured => "Nothing has been captured on this payment yet, so there is nothing to refund.",
            AmountPrecisionExceeded => "The amount has more decimals than the currency allows.",
            AmountNotPositive => "The amount must be more than zero.",
            AmountMalformed => "The amount is not a number, e.g. 12.50.",
            ReasonRequired => "Please give a reason; it goes in the audit log.",
            IdempotencyKeyReused => "This request was already used for a different action. Start again.",
            RateLimited => "Too many requests at once. Wait a moment and try again.",
            TryAgain => "The ledger was busy and did nothing. Try again.",
            BadUserInput => return format!("Please check the input: {}", self.message),
            LineAlreadyMatched => "This bank line is matched or written off already. Nothing was changed.",
            LineDoesNotFit => {
                return format!("This bank line cannot be matched that way: {}. Nothing was changed.", self.message);
            }
            LineNotMatched => "This bank line is not matched or written off, so there is nothing to undo.",
            MatchIsFinal => {
                "A payout the bank settled or returned stays so: this match cannot be undone. Post a correcting transaction instead."
            }
            PayoutNotInTransit => {
                "That payout is no longer in transit (settled or failed already). Nothing was changed."
            }
            MalformedStatement => {
                return format!(
                    "The file could not be read as a bank statement: {}. Nothing was imported.",
                    self.message
                );
            }
            UnsupportedStatementFormat => {
                "This kind of file is not supported: send a camt.053 XML statement, or a CSV export of a bank with a profile. Nothing was imported."
            }
            StatementAccountMismatch => {
                return format!("The statement is for another bank account: {}. Nothing was imported.", self.message);
            }
            CurrencyMismatch => return format!("The currencies do not agree: {}. Nothing was changed.", self.message),
            StatementUnbalanced => {
                return format!(
                    "The statement does not add up (opening balance plus booked lines is not the closing balance), so nothing was imported: {}",
                    self.message
                );
            }
            StatementIdReused => {
                "A different file with this statement's id was imported before. Nothing was imported; ask the bank for a corrected statement."
            }
            StatementTooLarge => "The file is too large to import. Nothing was imported.",
            BadAmount => {
                return format!(
                    "An amount in the file has more decimals than its currency allows: {}. Nothing was imported.",
                    self.message
                );
            }
            BadResponse | BadRequest | Other(_) => {
                return format!("The request failed ({}): {}", self.code.as_str(), self.message);
            }
        };
        words.to_owned()
    }
}

/// Result of a call.
pub type ApiResult<T> = Result<T, ApiError>;

fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// The body of operation `Q` with `variables`, ready to send (and to send
/// again, unchanged, on a retry).
pub fn body<Q: GraphQLQuery>(variables: Q::Variables) -> ApiResult<serde_json::Value> {
    serde_json::to_value(Q::build_query(variables)).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

/// Sends one operation `body` (see [`body`]) with `token`, and decodes its
/// `data` into `T`. Errors: the first GraphQL error's code and message;
/// [`ErrorCode::Offline`] when the request did not reach the server.
pub async fn post<T: DeserializeOwned>(token: Option<&str>, body: &serde_json::Value) -> ApiResult<T> {
    let mut request = gloo_net::http::Request::post(&format!("{}/graphql", origin()));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let request = request.json(body).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let response = request.send().await.map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    let text = response.text().await.map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    decode(&text)
}

/// GETs `path` (with its query string) from the server with `token` and
/// returns the body as text: the CSV exports. Errors: a refusal's code and
/// message (the exports answer the GraphQL error body); [`ErrorCode::Offline`]
/// when the request did not reach the server.
pub async fn get_text(token: Option<&str>, path: &str) -> ApiResult<String> {
    let mut request = gloo_net::http::Request::get(&format!("{}{path}", origin()));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let response = request.send().await.map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    let text = response.text().await.map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    if response.ok() {
        return Ok(text);
    }
    // The refusal's own code and words, else the status.
    match decode::<serde_json::Value>(&text) {
        Err(e) if e.code != ErrorCode::BadResponse => Err(e),
        _ => Err(ApiError::new(ErrorCode::BadResponse, format!("HTTP {}", response.status()))),
    }
}

/// POSTs `form` as `multipart/form-data` (RFC 7578; the browser writes the
/// boundary) to `path` with `token`, and decodes the GraphQL-shaped answer
/// (`{ data, errors }`) into `T`: the statement upload. Errors: the first
/// error's code and message; [`ErrorCode::Offline`] when the request did not
/// reach the server. Not retried: a person sees the error and sends again
/// (an import is idempotent per statement).
pub async fn post_form<T: DeserializeOwned>(token: Option<&str>, path: &str, form: web_sys::FormData) -> ApiResult<T> {
    let mut request = gloo_net::http::Request::post(&format!("{}{path}", origin()));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let request = request.body(form).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let response = request.send().await.map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    let text = response.text().await.map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    match decode::<T>(&text) {
        Err(e) if e.code == ErrorCode::BadResponse && !response.ok() => {
            Err(ApiError::new(ErrorCode::BadResponse, format!("HTTP {}", response.status())))
        }
        other => other,
    }
}

/// Splits a GraphQL response (`{ data, errors }`) into `data` or its first
/// error. Pure, so it is unit-tested natively.
pub fn decode<T: DeserializeOwned>(text: &str) -> ApiResult<T> {
    let response: Response<T> =
        serde_json::from_str(text).map_err(|e| ApiError::new(ErrorCode::BadResponse, e.to_string()))?;
    first_error_or_data(response)
}

fn first_error_or_data<T>(response: Response<T>) -> ApiResult<T> {
    if let Some(first) = response.errors.as_ref().and_then(|e| e.first()) {
        let code = first
            .extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("INTERNAL_SERVER_ERROR");
        return Err(ApiError::new(ErrorCode::parse(code), first.message.clone()));
    }
    response.data.ok_or_else(|| ApiError::new(ErrorCode::BadResponse, "a response with neither data nor errors"))
}

/// A new idempotency key: a random UUID from the browser's `crypto`, made
/// once per dialog so a double click or a retry sends the same key.
pub fn new_idempotency_key() -> String {
    web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| format!("console-{}", c.random_uuid()))
        .unwrap_or_else(|| format!("console-{}", js_sys::Date::now()))
}

/// Opens `/graphql/ws`, authenticates with `token` and starts subscription
/// `Q`. The stream yields each event's typed data, or its error, and ends
/// when the connection drops. Errors: the connection or the subscription was
/// refused.
pub async fn subscribe<Q>(
    token: &str,
    variables: Q::Variables,
) -> ApiResult<impl Stream<Item = ApiResult<Q::ResponseData>> + use<Q>>
where
    Q: GraphQLQuery + Send + Unpin + 'static,
    Q::Variables: Send + Unpin,
    Q::ResponseData: Send + Unpin + 'static,
{
    let url = format!("{}/graphql/ws", origin().replacen("http", "ws", 1));
    let socket = ws_stream_wasm::WsMeta::connect(&url, Some(vec!["graphql-transport-ws"]))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    let connection = graphql_ws_client::ws_stream_wasm::Connection::new(socket).await;
    let stream = graphql_ws_client::Client::build(connection)
        .payload(json!({ "Authorization": format!("Bearer {token}") }))
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?
        .subscribe(graphql_ws_client::graphql::StreamingOperation::<Q>::new(variables))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Offline, e.to_string()))?;
    Ok(stream.map(|item| match item {
        Ok(response) => first_error_or_data(response),
        Err(e) => Err(ApiError::new(ErrorCode::Offline, e.to_string())),
    }))
}

/// How long to wait before reconnection attempt `attempt` (0-based):
/// doubling from half a second, at most [`MAX_RECONNECT_DELAY`].
pub fn reconnect_delay(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << attempt.min(8));
    Duration::from_millis(ms).min(MAX_RECONNECT_DELAY)
}

/// The longest wait between reconnection attempts: a support agent should
/// not look at a stale page for more than this after the network returns.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_back_with_their_code_and_plain_words() {
        let body = r#"{ "data": null, "errors": [{ "message": "no", "extensions": { "code": "ALREADY_REVERSED" } }] }"#;
        let err = decode::<serde_json::Value>(body).expect_err("an error");
        assert_eq!(err.code, ErrorCode::AlreadyReversed);
        assert!(err.plain().contains("already been reversed"));
        let unknown = ApiError::new(ErrorCode::parse("SOMETHING_NEW"), "detail");
        assert_eq!(unknown.plain(), "The request failed (SOMETHING_NEW): detail");
    }

    #[test]
    fn an_unreadable_answer_is_a_bad_response_not_a_panic() {
        let err = decode::<serde_json::Value>("<html>proxy error</html>").expect_err("an error");
        assert_eq!(err.code, ErrorCode::BadResponse);
        let err = decode::<serde_json::Value>(r#"{ "data": null }"#).expect_err("an error");
        assert_eq!(err.code, ErrorCode::BadResponse);
    }

    #[test]
    fn every_code_reads_back_as_it_is_written() {
        for code in [
            "UNAUTHENTICATED",
            "PAYMENT_STEP_NOT_REVERSIBLE",
            "REASON_REQUIRED",
            "NOT_FOUND",
            "OFFLINE",
            "LINE_ALREADY_MATCHED",
            "MATCH_IS_FINAL",
            "STATEMENT_UNBALANCED",
        ] {
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
    }

    #[test]
    fn reconnection_backs_off_to_a_ceiling() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(500));
        assert_eq!(reconnect_delay(1), Duration::from_secs(1));
        assert_eq!(reconnect_delay(30), MAX_RECONNECT_DELAY);
    }
}
