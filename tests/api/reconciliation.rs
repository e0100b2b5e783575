//! Bank reconciliation, import side (issue 20): the platform's bank accounts,
//! and bank statements imported as ISO 20022 camt.053 (.001.08 and .001.02,
//! both written by hand in `fixtures/reconciliation/`) or as a bank's CSV
//! export read through its profile, by `POST /reconcile/bank_statement` and by
//! the GraphQL multipart `importBankStatement`. Every import is checked
//! (opening + booked lines = closing), idempotent per statement and per
//! `AcctSvcrRef`, and a bad file writes nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, fresh, messages, spawn_app};

const NOVEMBER_A: &[u8] = include_bytes!("fixtures/reconciliation/november-a.camt053.001.08.xml");
const NOVEMBER_B: &[u8] = include_bytes!("fixtures/reconciliation/november-b.camt053.001.02.xml");
const SPARKASSE_CSV: &[u8] = include_bytes!("fixtures/reconciliation/giro-export.sparkasse.csv");

/// The IBAN both camt fixtures name (a valid ISO 13616 example).
const IBAN: &str = "DE89370400440532013000";

const REGISTER: &str = "mutation($i: RegisterBankAccountInput!) { registerBankAccount(input: $i) { id name iban \
    accountNumber currency csvProfile } }";

const IMPORT: &str = "mutation($b: ID!, $file: Upload!) { importBankStatement(bankAccountId: $b, file: $file) { \
    replayed balanceChecked statement { id statementRef format lineCount newLineCount \
    openingBalance { amount currency } closingBalance { amount } gap { amount } } } }";

const LINES: &str = "query($b: ID!, $s: LineStateType, $st: ID, $first: Int, $after: String) { \
    bankStatementLines(bankAccountId: $b, state: $s, statementId: $st, first: $first, after: $after) { \
    edges { cursor node { id lineNo state amount { amount currency } direction reversal status bookingDate \
    valueDate ageDays accountServicerRef entryRef batchCount additionalInfo \
    details { endToEndId amount { amount } debtor { name account } creditor { name account } remittance } } } \
    pageInfo { hasNextPage endCursor } } }";

/// Registers a bank account as the admin; returns its id.
async fn register(app: &TestApp, input: Value) -> String {
    let data = app.ok(REGISTER, json!({ "i": input })).await;
    data["registerBankAccount"]["id"].as_str().expect("bank account id").to_owned()
}

/// The German savings bank's CSV profile of `giro-export.sparkasse.csv`.
fn sparkasse_profile() -> Value {
    json!({
        "name": "sparkasse-giro",
        "delimiter": ";",
        "date_column": "Buchungstag",
        "value_date_column": "Valuta",
        "date_format": "%d.%m.%Y",
        "decimal_mark": ",",
        "thousands_separator": ".",
        "amount": { "kind": "signed", "column": "Betrag" },
        "balance_column": "Saldo",
        "reference_column": "Referenz",
        "description_column": "Verwendungszweck",
        "currency": "EUR"
    })
}

/// Statement and line rows, to show that a refusal wrote nothing.
async fn rows(app: &TestApp) -> (i64, i64) {
    (app.count("bank_statements").await, app.count("bank_statement_lines").await)
}

/// A camt.053.001.02 statement of `account_number` with no entries: the
/// smallest good file, for the authorization table.
pub fn empty_statement(account_number: &str, statement_id: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-01T00:00:00</CreDtTm></GrpHdr><Stmt><Id>{statement_id}</Id>
<CreDtTm>2026-11-01T00:00:00</CreDtTm><Acct><Id><Othr><Id>{account_number}</Id></Othr></Id><Ccy>USD</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-01</Dt></Dt></Bal>
</Stmt></BkToCstmrStmt></Document>"#
    )
    .into_bytes()
}

/// A camt.053.001.02 statement of `account_number` in USD with one booked
/// debit of 3.00 on `day` (AcctSvcrRef `ref`, no EndToEndId): a line the
/// rules cannot match, for a hand match.
pub fn one_debit_statement(account_number: &str, statement_id: &str, reference: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-02T00:00:00</CreDtTm></GrpHdr><Stmt><Id>{statement_id}</Id>
<CreDtTm>2026-11-02T00:00:00</CreDtTm><Acct><Id><Othr><Id>{account_number}</Id></Othr></Id><Ccy>USD</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-02</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">2.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-02</Dt></Dt></Bal>
<Ntry><Amt Ccy="USD">3.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-02</Dt></BookgDt>
<AcctSvcrRef>{reference}</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>PAYOUT GARBLED REF</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>"#
    )
    .into_bytes()
}

#[tokio::test]
async fn a_camt_053_statement_is_imported_once_by_upload_and_by_graphql() {
    // Arrange
    let app = spawn_app().await;
    let account =
        register(&app, json!({ "name": "Operating EUR", "iban": "DE89 3704 0044 0532 0130 00", "currency": "EUR" }))
            .await;

    // Act: the upload endpoint.
    let first = app.upload_statement(Some(&app.token), &account, NOVEMBER_A).await;

    // Assert
    assert_eq!(first.status, 200, "{}", first.body);
    let import = &first.body["data"]["importBankStatement"];
    assert_eq!(import["replayed"], false);
    assert_eq!(import["balanceChecked"], true);
    let statement = &import["statement"];
    assert_eq!(statement["statementRef"], "STMT-2026-11-A");
    assert_eq!(statement["format"], "camt.053.001.08");
    assert_eq!(statement["lineCount"], 4);
    assert_eq!(statement["newLineCount"], 4);
    assert_eq!(statement["openingBalance"], json!({ "amount": "10000.00", "currency": "EUR" }));
    assert_eq!(statement["closingBalance"]["amount"], "11250.00");
    assert_eq!(statement["gap"], Value::Null, "the first statement has nothing to follow");

    // The lines, as the bank gave them.
    let lines = app.ok(LINES, json!({ "b": account, "s": "UNMATCHED" })).await;
    let edges = lines["bankStatementLines"]["edges"].as_array().expect("edges").clone();
    assert_eq!(edges.len(), 4, "{lines}");
    let by_ref = |r: &str| {
        edges.iter().map(|e| &e["node"]).find(|n| n["accountServicerRef"] == r).cloned().expect("line by ref")
    };
    let batch = by_ref("DB-20261102-0001");
    assert_eq!(batch["amount"], json!({ "amount": "1250.00", "currency": "EUR" }));
    assert_eq!((batch["direction"].as_str(), batch["status"].as_str()), (Some("CREDIT"), Some("BOOK")));
    assert_eq!(batch["batchCount"], 2);
    assert_eq!(batch["bookingDate"], "2026-11-02");
    assert!(batch["ageDays"].as_i64().expect("age") >= 0);
    let details = batch["details"].as_array().expect("details");
    assert_eq!(details.len(), 2, "both TxDtls of the batch are kept");
    assert_eq!(details[0]["endToEndId"], "E2E-CARD-BATCH-7-1");
    assert_eq!(details[0]["amount"]["amount"], "750.00");
    assert_eq!(details[0]["debtor"], json!({ "name": "Card Processor Ltd", "account": "GB33BUKB20201555555555" }));
    assert_eq!(details[1]["remittance"], json!(["SETTLEMENT BATCH 7"]));
    let payout = by_ref("DB-20261103-0002");
    assert_eq!(payout["direction"], "DEBIT");
    assert_eq!(payout["details"][0]["endToEndId"], "PAYOUT-SHIRTYPUFF-0001");
    assert_eq!(payout["details"][0]["creditor"]["name"], "ShirtyPuff GmbH");
    let returned = by_ref("DB-20261105-0003");
    assert_eq!((returned["reversal"].as_bool(), returned["direction"].as_str()), (Some(true), Some("CREDIT")));
    assert_eq!(returned["additionalInfo"], "Return of payout P-0001");
    assert_eq!(by_ref("DB-20261105-0004")["status"], "PDNG");

    // Act again: the same file through GraphQL's multipart request.
    let again = app.gql_upload_as(Some(&app.token), IMPORT, json!({ "b": account }), "file", NOVEMBER_A).await;

    // Assert: a replay of the first import, nothing written.
    assert!(again.get("errors").is_none(), "{again}");
    assert_eq!(again["data"]["importBankStatement"]["replayed"], true);
    assert_eq!(again["data"]["importBankStatement"]["statement"]["id"], statement["id"]);
    assert_eq!(rows(&app).await, (1, 4));

    // The import is audited.
    let audit = app
        .ok("{ auditLog(first: 5) { edges { node { action targetType targetId actor reason } } } }", json!({}))
        .await;
    let imported = audit["auditLog"]["edges"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["action"] == "importBankStatement")
        .cloned()
        .expect("an audit record of the import");
    assert_eq!(imported["targetId"], statement["id"]);
    assert!(imported["reason"].as_str().unwrap_or_default().contains("4 lines, 4 new"), "{imported}");
}

#[tokio::test]
async fn the_next_statement_reports_its_gap_and_keeps_a_repeated_line_once() {
    // Arrange
    let app = spawn_app().await;
    let account = register(&app, json!({ "name": "Operating EUR", "iban": IBAN, "currency": "EUR" })).await;
    let first = app.upload_statement(Some(&app.token), &account, NOVEMBER_A).await;
    assert_eq!(first.status, 200, "{}", first.body);

    // Act: the next day's file, in the other camt version.
    let next = app.gql_upload_as(Some(&app.token), IMPORT, json!({ "b": account }), "file", NOVEMBER_B).await;

    // Assert
    assert!(next.get("errors").is_none(), "{next}");
    let statement = &next["data"]["importBankStatement"]["statement"];
    assert_eq!(statement["format"], "camt.053.001.02");
    assert_eq!(statement["gap"]["amount"], "-50.00", "opens 50.00 below the last closing balance: {statement}");
    assert_eq!((statement["lineCount"].as_i64(), statement["newLineCount"].as_i64()), (Some(2), Some(1)));
    assert_eq!(rows(&app).await, (2, 5), "the repeated return is stored once");
    let lines = app.ok(LINES, json!({ "b": account, "st": statement["id"] })).await;
    let edges = lines["bankStatementLines"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{lines}");
    let line = &edges[0]["node"];
    assert_eq!(line["bookingDate"], "2026-11-06", "a DtTm booking date keeps its date");
    assert_eq!(line["details"][0]["endToEndId"], "NOTPROVIDED");
    assert_eq!(line["details"][0]["debtor"]["name"], "Card Processor Ltd");
    assert_eq!(line["details"][0]["amount"]["amount"], "200.00");

    // Pages of the queue, oldest first, end where the lines end.
    let page = app.ok(LINES, json!({ "b": account, "first": 3 })).await;
    assert_eq!(page["bankStatementLines"]["pageInfo"]["hasNextPage"], true);
    let after = page["bankStatementLines"]["pageInfo"]["endCursor"].clone();
    let rest = app.ok(LINES, json!({ "b": account, "first": 3, "after": after })).await;
    let dates: Vec<&str> = page["bankStatementLines"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .chain(rest["bankStatementLines"]["edges"].as_array().expect("edges"))
        .map(|e| e["node"]["bookingDate"].as_str().expect("date"))
        .collect();
    assert_eq!(dates, ["2026-11-02", "2026-11-03", "2026-11-05", "2026-11-05", "2026-11-06"]);
    assert_eq!(rest["bankStatementLines"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn a_csv_export_is_read_through_its_banks_profile() {
    // Arrange
    let app = spawn_app().await;
    let account = register(
        &app,
        json!({ "name": "Giro EUR", "accountNumber": "SPK-1234567", "currency": "EUR", "csvProfile": sparkasse_profile() }),
    )
    .await;

    // Act
    let import = app.upload_statement(Some(&app.token), &account, SPARKASSE_CSV).await;

    // Assert
    assert_eq!(import.status, 200, "{}", import.body);
    let statement = &import.body["data"]["importBankStatement"]["statement"];
    assert_eq!(statement["format"], "csv:sparkasse-giro");
    assert_eq!(import.body["data"]["importBankStatement"]["balanceChecked"], true);
    assert_eq!(statement["openingBalance"]["amount"], "1000.00", "the first row's balance less its amount");
    assert_eq!(statement["closingBalance"]["amount"], "1944.60");
    assert_eq!(statement["lineCount"], 3);
    let lines = app.ok(LINES, json!({ "b": account })).await;
    let nodes: Vec<&Value> =
        lines["bankStatementLines"]["edges"].as_array().expect("edges").iter().map(|e| &e["node"]).collect();
    let summary: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| {
            (
                n["accountServicerRef"].as_str().unwrap_or_default(),
                n["direction"].as_str().unwrap_or_default(),
                n["amount"]["amount"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("SPK-0001", "CREDIT", "1250.00"), ("SPK-0002", "DEBIT", "300.50"), ("SPK-0003", "DEBIT", "4.90")]
    );
    assert_eq!(nodes[1]["details"][0]["remittance"], json!(["Payout P-0002"]));

    // The same export again is the same statement (known by its SHA-256).
    let again = app.upload_statement(Some(&app.token), &account, SPARKASSE_CSV).await;
    assert_eq!(again.body["data"]["importBankStatement"]["replayed"], true, "{}", again.body);
    assert_eq!(rows(&app).await, (1, 3));
}

#[tokio::test]
async fn bad_statements_are_refused_with_a_code_and_write_nothing() {
    // Arrange
    let app = spawn_app().await;
    let account = register(&app, json!({ "name": "Operating EUR", "iban": IBAN, "currency": "EUR" })).await;
    let usd = register(&app, json!({ "name": "Operating USD", "accountNumber": "US-000111", "currency": "USD" })).await;
    let text = String::from_utf8(NOVEMBER_A.to_vec()).expect("utf-8");
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        ("truncated XML", account.clone(), NOVEMBER_A[..NOVEMBER_A.len() / 2].to_vec(), 400, "MALFORMED_STATEMENT"),
        (
            "an account report (camt.052), not a statement",
            account.clone(),
            text.replace("camt.053.001.08", "camt.052.001.08").into_bytes(),
            400,
            "UNSUPPORTED_STATEMENT_FORMAT",
        ),
        ("an unknown bank account", uuid::Uuid::now_v7().to_string(), NOVEMBER_A.to_vec(), 404, "NOT_FOUND"),
        ("a bank account id that is no UUID", "acct-1".to_owned(), NOVEMBER_A.to_vec(), 400, "BAD_USER_INPUT"),
        (
            "another account's statement",
            account.clone(),
            text.replace(IBAN, "GB33BUKB20201555555555").into_bytes(),
            400,
            "STATEMENT_ACCOUNT_MISMATCH",
        ),
        (
            "a EUR statement for a USD account",
            usd.clone(),
            text.replace(IBAN, "US-000111").into_bytes(),
            400,
            "CURRENCY_MISMATCH",
        ),
        (
            "cents past the currency's two decimals",
            account.clone(),
            text.replace("<Amt Ccy=\"EUR\">300.00</Amt>", "<Amt Ccy=\"EUR\">300.001</Amt>").into_bytes(),
            400,
            "BAD_AMOUNT",
        ),
        (
            "a closing balance one cent off",
            account.clone(),
            text.replace("11250.00", "11250.01").into_bytes(),
            400,
            "STATEMENT_UNBALANCED",
        ),
        (
            "an unknown currency",
            account.clone(),
            text.replace("Ccy=\"EUR\"", "Ccy=\"EUX\"").replace("<Ccy>EUR</Ccy>", "<Ccy>EUX</Ccy>").into_bytes(),
            400,
            "UNKNOWN_ASSET",
        ),
        (
            "a CSV for an account with no CSV profile",
            account.clone(),
            SPARKASSE_CSV.to_vec(),
            400,
            "MALFORMED_STATEMENT",
        ),
    ];
    let before = rows(&app).await;

    for (what, target, file, status, want) in cases {
        // Act
        let r = app.upload_statement(Some(&app.token), &target, &file).await;

        // Assert
        assert_eq!((r.status, code(&r.body).as_str()), (status, want), "{what}: {}", r.body);
        assert_eq!(rows(&app).await, before, "{what}: nothing is written");
    }

    // The unbalanced file names the difference.
    let off = app.upload_statement(Some(&app.token), &account, text.replace("11250.00", "11250.01").as_bytes()).await;
    assert!(messages(&off.body).contains("difference 1 minor units"), "{}", off.body);

    // The same statement id from a different file is refused once the first is in.
    let first = app.upload_statement(Some(&app.token), &account, NOVEMBER_A).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let altered = text.replace("Account fee November", "Account fee Nov.");
    let reused = app.upload_statement(Some(&app.token), &account, altered.as_bytes()).await;
    assert_eq!(code(&reused.body), "STATEMENT_ID_REUSED", "{}", reused.body);
    assert_eq!(rows(&app).await, (before.0 + 1, before.1 + 4));

    // A request without the file, and a body over the upload limit.
    let (content_type, body) = crate::helpers::multipart(&[("bank_account_id", None, account.as_bytes())]);
    let missing = app
        .http
        .post(format!("{}/reconcile/bank_statement", app.base))
        .bearer_auth(&app.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status().as_u16(), 400);
    let huge = vec![b' '; ledger_server::http::MAX_UPLOAD_BODY_BYTES + 1];
    let too_large = app.upload_statement(Some(&app.token), &account, &huge).await;
    assert_eq!((too_large.status, code(&too_large.body).as_str()), (413, "PAYLOAD_TOO_LARGE"), "{}", too_large.body);
    // A JSON body is still held to the GraphQL limit.
    let big_json =
        json!({ "query": "{ me { kind } }", "pad": "x".repeat(ledger_server::http::MAX_REQUEST_BODY_BYTES) });
    let refused = app.post_raw(Some(&app.token), big_json).await;
    assert_eq!(refused.status, 413);
    assert_eq!(rows(&app).await, (before.0 + 1, before.1 + 4));
}

#[tokio::test]
async fn bank_accounts_are_checked_when_registered_and_statements_need_the_bank_scope() {
    // Arrange
    let app = spawn_app().await;
    let account = register(&app, json!({ "name": "Operating EUR", "iban": IBAN, "currency": "EUR" })).await;

    // Registration refusals.
    let cases = [
        (json!({ "name": "Bad digits", "iban": "DE89370400440532013001", "currency": "EUR" }), "BAD_USER_INPUT"),
        (json!({ "name": "Neither", "currency": "EUR" }), "BAD_USER_INPUT"),
        (json!({ "name": "", "accountNumber": "X-1", "currency": "EUR" }), "BAD_USER_INPUT"),
        (json!({ "name": "Gold", "accountNumber": "X-2", "currency": "XAU" }), "UNKNOWN_ASSET"),
        (json!({ "name": "Again", "iban": IBAN, "currency": "EUR" }), "BANK_ACCOUNT_EXISTS"),
        (
            json!({ "name": "Profile", "accountNumber": "X-3", "currency": "EUR", "csvProfile": { "name": "broken" } }),
            "MALFORMED_STATEMENT",
        ),
        (
            json!({ "name": "Profile", "accountNumber": "X-4", "currency": "USD", "csvProfile": sparkasse_profile() }),
            "CURRENCY_MISMATCH",
        ),
    ];
    for (input, want) in cases {
        let body = app.gql(REGISTER, json!({ "i": input })).await;
        assert_eq!(code(&body), want, "{input}: {body}");
    }
    let listed = app.ok("{ bankAccounts { id iban currency } }", json!({})).await;
    assert_eq!(listed["bankAccounts"], json!([{ "id": account, "iban": IBAN, "currency": "EUR" }]));

    // Who may import: no token, a merchant key, a service key without the
    // bank's scope are refused; the bank's service key is let through.
    let merchant = app.merchant("Recon Shop").await;
    let merchant_key = app.merchant_key(&merchant).await;
    let payments_key = app.service_key("card-processing", &["payments:write", "ledger:read"]).await;
    let bank_key = app.service_key("bank-feed", &["reconciliation:write"]).await;
    let anonymous = app.upload_statement(None, &account, NOVEMBER_A).await;
    assert_eq!((anonymous.status, code(&anonymous.body).as_str()), (401, "UNAUTHENTICATED"));
    for token in [&merchant_key, &payments_key] {
        let r = app.upload_statement(Some(token), &account, NOVEMBER_A).await;
        assert_eq!((r.status, code(&r.body).as_str()), (403, "FORBIDDEN"), "{}", r.body);
    }
    assert_eq!(rows(&app).await, (0, 0));
    let ok = app.upload_statement(Some(&bank_key), &account, NOVEMBER_A).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let by = app.lines("SELECT imported_by AS line FROM bank_statements").await;
    assert!(by[0].contains("bank-feed"), "the statement names the service that sent it: {by:?}");
}

/// A fresh account number (for registrations that must not collide).
pub fn fresh_account_number() -> String {
    format!("AZ-{}", &fresh()[..20])
}

/// A camt.053.001.02 statement of `account_number` in USD, opening at
/// 1,000.00 on `day`, with `lines` (AcctSvcrRef, debit or return, amount in
/// cents, EndToEndId), rendered by the server's own camt writer.
fn payout_statement(account_number: &str, day: chrono::NaiveDate, lines: &[(&str, bool, i64, String)]) -> Vec<u8> {
    use ledger_server::core::reconciliation::statement::{
        BankDirection, BookedBalance, ParsedStatement, StatementAccount, StatementLine, TransactionDetails, camt,
    };
    let opening = 100_000;
    let net: i64 = lines.iter().map(|(_, debit, minor, _)| if *debit { -minor } else { *minor }).sum();
    let statement = ParsedStatement {
        format: "camt.053.001.02".into(),
        statement_id: format!("PAYOUTS-{}", &fresh()[..8]),
        account: StatementAccount { iban: None, number: Some(account_number.into()), currency: Some("USD".into()) },
        currency: "USD".into(),
        opening_booked: Some(BookedBalance { amount_minor: opening, date: Some(day) }),
        closing_booked: Some(BookedBalance { amount_minor: opening + net, date: Some(day) }),
        lines: lines
            .iter()
            .map(|(reference, debit, minor, e2e)| StatementLine {
                amount_minor: *minor,
                currency: "USD".into(),
                direction: if *debit { BankDirection::Debit } else { BankDirection::Credit },
                reversal: !debit,
                status: "BOOK".into(),
                booking_date: Some(day),
                value_date: Some(day),
                account_servicer_ref: Some((*reference).into()),
                entry_ref: None,
                batch_count: None,
                details: vec![TransactionDetails { end_to_end_id: Some(e2e.clone()), ..Default::default() }],
                additional_info: None,
            })
            .collect(),
    };
    camt::render_v02(&statement, day.and_hms_opt(18, 0, 0).expect("a time")).into_bytes()
}

const MATCH: &str = "mutation($b: ID!, $dry: Boolean! = false, $r: MatchRulesInput) { \
    matchBankStatementLines(bankAccountId: $b, dryRun: $dry, rules: $r) { payouts { action difference { amount } \
    transactionId line { accountServicerRef state } payout { id state } } } }";

#[tokio::test]
async fn payouts_are_settled_and_failed_by_the_banks_lines_best_match_first() {
    // Arrange: four payouts in transit, of 100.00, 50.00, 20.00 and 7.00.
    let app = spawn_app().await;
    let number = fresh_account_number();
    let account = register(&app, json!({ "name": "Payouts USD", "accountNumber": number, "currency": "USD" })).await;
    let merchant = app.merchant("Recon Payee").await;
    let mut payouts = Vec::new();
    for amount in ["100.00", "50.00", "20.00", "7.00"] {
        let paid = app.pay(&merchant, amount, None, "USD", &fresh()).await;
        assert!(paid.get("errors").is_none(), "{paid}");
        payouts.push(app.create_payout(&merchant, &fresh()).await);
    }
    let today = chrono::Utc::now().date_naive();
    // The bank: a debit for payout 1 one cent off, then the exact one; payout 2
    // debited and returned; a debit nobody knows; payout 4 fifty cents off.
    let file = payout_statement(
        &number,
        today,
        &[
            ("L1", true, 10_001, payouts[0].clone()),
            ("L2", true, 10_000, payouts[0].clone()),
            ("L3", true, 5_000, payouts[1].clone()),
            ("L4", false, 5_000, payouts[1].clone()),
            ("L5", true, 2_000, uuid::Uuid::now_v7().to_string()),
            ("L6", true, 750, payouts[3].clone()),
        ],
    );
    let imported = app.upload_statement(Some(&app.token), &account, &file).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    let rules = json!({ "amountToleranceMinor": 1 });
    let summary = |data: &Value| -> Vec<(String, String)> {
        let mut s: Vec<(String, String)> = data["matchBankStatementLines"]["payouts"]
            .as_array()
            .expect("matches")
            .iter()
            .map(|m| {
                (
                    m["line"]["accountServicerRef"].as_str().unwrap_or_default().to_owned(),
                    m["action"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        s.sort();
        s
    };
    let expected = vec![
        ("L2".to_owned(), "SETTLE".to_owned()),
        ("L3".to_owned(), "RETURNED".to_owned()),
        ("L4".to_owned(), "FAIL".to_owned()),
    ];

    // Act: a dry run.
    let dry = app.ok(MATCH, json!({ "b": account, "dry": true, "r": rules })).await;

    // Assert: the exact debit wins payout 1, not the first; nothing is written.
    assert_eq!(summary(&dry), expected, "{dry}");
    assert_eq!(app.count("bank_line_matches").await, 0);
    let unmatched = || {
        let (app, account) = (&app, account.clone());
        async move {
            let lines = app.ok(LINES, json!({ "b": account, "s": "UNMATCHED" })).await;
            let mut refs: Vec<String> = lines["bankStatementLines"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["accountServicerRef"].as_str().unwrap_or_default().to_owned())
                .collect();
            refs.sort();
            refs
        }
    };
    assert_eq!(unmatched().await.len(), 6);
    let state = |id: &str| {
        let id = id.to_owned();
        let app = &app;
        async move {
            let data = app.ok("query($id: ID!) { payout(id: $id) { state } }", json!({ "id": id })).await;
            data["payout"]["state"].as_str().unwrap_or_default().to_owned()
        }
    };
    assert_eq!(state(&payouts[0]).await, "IN_TRANSIT");

    // Act: the real run.
    let run = app.ok(MATCH, json!({ "b": account, "r": rules })).await;

    // Assert: payout 1 settled, payout 2 failed (its money back), 3 and 4 untouched.
    assert_eq!(summary(&run), expected, "{run}");
    for m in run["matchBankStatementLines"]["payouts"].as_array().expect("matches") {
        let posted = m["transactionId"].is_string();
        assert_eq!(posted, m["action"] != "RETURNED", "a settle or fail posts, a returned debit does not: {m}");
        assert_eq!(m["line"]["state"], "MATCHED");
    }
    let states =
        [state(&payouts[0]).await, state(&payouts[1]).await, state(&payouts[2]).await, state(&payouts[3]).await];
    assert_eq!(states, ["SETTLED", "FAILED", "IN_TRANSIT", "IN_TRANSIT"]);
    assert_eq!(
        app.available(&merchant, "USD").await.as_deref(),
        Some("50.00"),
        "the returned payout is available again"
    );
    assert_eq!(unmatched().await, ["L1", "L5", "L6"], "the exception queue keeps what did not match");

    // Again: nothing left to match, nothing matched twice.
    let again = app.ok(MATCH, json!({ "b": account, "r": rules })).await;
    assert_eq!(again["matchBankStatementLines"]["payouts"], json!([]));
    assert_eq!(app.count("bank_line_matches").await, 3);

    // Refusals write nothing.
    let wide = app.gql(MATCH, json!({ "b": account, "r": { "dateWindowDays": 1000 } })).await;
    assert_eq!(code(&wide), "BAD_USER_INPUT", "{wide}");
    let nowhere = app.gql(MATCH, json!({ "b": uuid::Uuid::now_v7().to_string() })).await;
    assert_eq!(code(&nowhere), "NOT_FOUND", "{nowhere}");
    assert_eq!(app.count("bank_line_matches").await, 3);
    app.assert_books_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_matching_runs_at_once_settle_each_payout_once() {
    // Arrange: twelve payouts of three merchants in transit, and the bank's
    // debit of each.
    let app = spawn_app().await;
    let number = fresh_account_number();
    let account = register(&app, json!({ "name": "Race USD", "accountNumber": number, "currency": "USD" })).await;
    let mut lines = Vec::new();
    let mut payouts = Vec::new();
    for m in 0..3 {
        let merchant = app.merchant(&format!("Race Payee {m}")).await;
        for p in 0..4 {
            let cents = 1_000 + m * 100 + p;
            let paid = app.pay(&merchant, &format!("{}.{:02}", cents / 100, cents % 100), None, "USD", &fresh()).await;
            assert!(paid.get("errors").is_none(), "{paid}");
            let payout = app.create_payout(&merchant, &fresh()).await;
            lines.push((format!("R{m}{p}"), true, cents, payout.clone()));
            payouts.push(payout);
        }
    }
    let refs: Vec<(&str, bool, i64, String)> =
        lines.iter().map(|(r, d, c, p)| (r.as_str(), *d, *c, p.clone())).collect();
    let file = payout_statement(&number, chrono::Utc::now().date_naive(), &refs);
    let imported = app.upload_statement(Some(&app.token), &account, &file).await;
    assert_eq!(imported.status, 200, "{}", imported.body);

    // Act: two runs at once over the same lines (the payout steps of both go
    // through the batched write path under the same `recon-<line>` keys).
    let (a, b) = tokio::join!(app.gql(MATCH, json!({ "b": account })), app.gql(MATCH, json!({ "b": account })));

    // Assert: both answer; every payout settled once, every line matched once.
    for run in [&a, &b] {
        assert!(run.get("errors").is_none(), "a run failed: {run}");
        for m in run["data"]["matchBankStatementLines"]["payouts"].as_array().expect("matches") {
            assert_eq!(m["action"], "SETTLE", "{m}");
            assert_eq!(m["payout"]["state"], "SETTLED", "{m}");
        }
    }
    let answered = |run: &Value| run["data"]["matchBankStatementLines"]["payouts"].as_array().map_or(0, Vec::len);
    assert!(answered(&a) == 12 || answered(&b) == 12, "one run answers every match: {a} {b}");
    assert_eq!(app.count("bank_line_matches").await, 12);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE kind = 'payout_settled'").await, 12);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM payouts WHERE state = 'settled'").await, 12);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM bank_statement_lines WHERE match_state = 'unmatched'").await, 0);
    app.assert_books_consistent().await;

    // A payout settled by then cannot be settled again through the batched
    // path: by its own merchant, or named under another merchant.
    let step = "mutation($i: PayoutStepInput!) { settlePayout(input: $i) { payout { state } } }";
    let merchant_of = app
        .lines(&format!("SELECT merchant_id::text AS line FROM payouts WHERE id = '{}'", payouts[0]))
        .await
        .remove(0);
    let again = app
        .gql(step, json!({ "i": { "payoutId": payouts[0], "merchantId": merchant_of, "idempotencyKey": fresh() } }))
        .await;
    assert_eq!(code(&again), "PAYOUT_NOT_IN_TRANSIT", "{again}");
    let elsewhere = app.merchant("Race Stranger").await;
    let wrong = app
        .gql(step, json!({ "i": { "payoutId": payouts[0], "merchantId": elsewhere, "idempotencyKey": fresh() } }))
        .await;
    assert_eq!(code(&wrong), "NOT_FOUND", "{wrong}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE kind = 'payout_settled'").await, 12);

    // A step repeated under its key is answered again and posts once.
    let paid = app.pay(&elsewhere, "3.00", None, "USD", &fresh()).await;
    assert!(paid.get("errors").is_none(), "{paid}");
    let payout = app.create_payout(&elsewhere, &fresh()).await;
    let key = fresh();
    let input = json!({ "i": { "payoutId": payout, "merchantId": elsewhere, "idempotencyKey": key } });
    let first = app.ok(step, input.clone()).await;
    let replayed = app.ok(step, input).await;
    assert_eq!(first, replayed);
    assert_eq!(first["settlePayout"]["payout"]["state"], "SETTLED");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM transactions WHERE kind = 'payout_settled'").await, 13);
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn support_matches_a_line_by_hand_with_a_reason_after_a_dry_run() {
    // Arrange: a payout in transit, and a bank debit the rules cannot match
    // (no EndToEndId, 3.00 against a payout of 2.00).
    let app = spawn_app().await;
    let number = fresh_account_number();
    let account = register(&app, json!({ "name": "Payouts USD", "accountNumber": number, "currency": "USD" })).await;
    let merchant = app.merchant("Hand Match").await;
    app.pay(&merchant, "2.00", None, "USD", &fresh()).await;
    let payout = app.create_payout(&merchant, &fresh()).await;
    let imported =
        app.upload_statement(Some(&app.token), &account, &one_debit_statement(&number, "HAND-1", "H-1")).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    let rules_found = app.ok(MATCH, json!({ "b": account })).await;
    assert_eq!(rules_found["matchBankStatementLines"]["payouts"], json!([]), "the rules leave it in the queue");
    let lines = app.ok(LINES, json!({ "b": account, "s": "UNMATCHED" })).await;
    let line = lines["bankStatementLines"]["edges"][0]["node"]["id"].as_str().expect("line").to_owned();
    let support = app.staff("recon_support", "SUPPORT").await;
    let viewer = app.staff("recon_viewer", "VIEWER").await;
    const BY_HAND: &str = "mutation($l: ID!, $p: ID!, $r: String!, $dry: Boolean! = false) { \
        matchBankStatementLine(lineId: $l, payoutId: $p, reason: $r, dryRun: $dry) { action difference { amount } \
        transactionId line { state } payout { state } } }";
    let vars = |reason: &str, dry: bool| json!({ "l": line, "p": payout, "r": reason, "dry": dry });

    // Refusals: a viewer, no reason, a payout that does not exist.
    let viewed = app.gql_as(Some(&viewer), BY_HAND, vars("looks right", false)).await;
    assert_eq!(code(&viewed), "FORBIDDEN", "{viewed}");
    let blank = app.gql_as(Some(&support), BY_HAND, vars("  ", false)).await;
    assert_eq!(code(&blank), "REASON_REQUIRED", "{blank}");
    let nowhere = app
        .gql_as(Some(&support), BY_HAND, json!({ "l": line, "p": uuid::Uuid::now_v7().to_string(), "r": "x" }))
        .await;
    assert_eq!(code(&nowhere), "NOT_FOUND", "{nowhere}");

    // Act: the dry run, then the match.
    let dry = app.ok_as(Some(&support), BY_HAND, vars("bank fee of 1.00 taken from the payout", true)).await;
    assert_eq!(dry["matchBankStatementLine"]["action"], "SETTLE");
    assert_eq!(dry["matchBankStatementLine"]["difference"]["amount"], "1.00");
    assert_eq!(dry["matchBankStatementLine"]["transactionId"], Value::Null);
    assert_eq!(app.count("bank_line_matches").await, 0, "a dry run writes nothing");
    let done = app.ok_as(Some(&support), BY_HAND, vars("bank fee of 1.00 taken from the payout", false)).await;

    // Assert
    let m = &done["matchBankStatementLine"];
    assert_eq!((m["line"]["state"].as_str(), m["payout"]["state"].as_str()), (Some("MATCHED"), Some("SETTLED")));
    assert!(m["transactionId"].is_string(), "{m}");
    let again = app.gql_as(Some(&support), BY_HAND, vars("again", false)).await;
    assert_eq!(code(&again), "LINE_ALREADY_MATCHED", "{again}");
    let audit = app.lines("SELECT reason AS line FROM audit_log WHERE action = 'matchBankStatementLine'").await;
    assert_eq!(audit.len(), 1);
    assert!(audit[0].contains("bank fee of 1.00"), "{audit:?}");
    assert_eq!(app.count("bank_line_matches").await, 1);
    app.assert_books_consistent().await;
}
