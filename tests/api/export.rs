//! Journals for Beancount and hledger (issue 21): `ledger-server export`
//! writes the books, `bean-check` and `hledger check` accept them, and every
//! account's balance in `bean-query` and `hledger bal` equals ours to the
//! minor unit. `scripts/test` installs Debian's `beancount` and `hledger`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ledger_server::core::journals::names;
use ledger_server::domain::{AccountCode, AssetCode, Direction, MerchantId, Owner};
use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::{TestApp, fresh, spawn_app};

/// `(account name, commodity)` → balance, zero balances left out.
pub type Books = BTreeMap<(String, String), Decimal>;

/// Runs `ledger-server export` over the test's database; returns the file
/// and the command's exit status and standard error.
pub fn export(app: &TestApp, args: &[&str]) -> (PathBuf, std::process::ExitStatus, String) {
    let path = std::env::temp_dir().join(format!("ledger-export-{}", fresh()));
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-test-server"))
        .args(["--database-url", &app.database_url, "--log", "warn", "export", "--output"])
        .arg(&path)
        .args(args)
        .output()
        .expect("run ledger-test-server export");
    (path, out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs a tool; panics with its output when it is missing or fails.
fn tool(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(program).args(args).arg(file).output().unwrap_or_else(|e| {
        panic!("{program} is not installed ({e}): scripts/test installs Debian's beancount and hledger")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} {} failed: {stdout}{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `program options… file query`; panics with its output when it is
/// missing or fails.
fn query(program: &str, options: &[&str], file: &Path, query: &str) -> String {
    let out = Command::new(program).args(options).arg(file).arg(query).output().unwrap_or_else(|e| {
        panic!("{program} is not installed ({e}): scripts/test installs Debian's beancount and hledger")
    });
    assert!(out.status.success(), "{program} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `bean-check` accepts the file.
pub fn bean_check(file: &Path) {
    tool("bean-check", &[], file);
}

/// `hledger check` accepts the file (parsing, balanced transactions, balance assertions).
pub fn hledger_check(file: &Path) {
    tool("hledger", &["check", "-f"], file);
}

/// Every account's balance per commodity as `bean-query` sums it.
pub fn bean_query_balances(file: &Path) -> Books {
    let csv =
        query("bean-query", &["-f", "csv"], file, "SELECT account, currency, sum(number) GROUP BY account, currency");
    let mut books = Books::new();
    for line in csv.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [account, commodity, number] = cols[..] else { panic!("bean-query line {line}") };
        let n: Decimal = number.parse().unwrap_or_else(|e| panic!("bean-query number {number}: {e}"));
        if !n.is_zero() {
            books.insert((account.to_owned(), commodity.to_owned()), n);
        }
    }
    books
}

/// Every account's balance per commodity as `hledger bal` reports it.
pub fn hledger_balances(file: &Path) -> Books {
    let csv = tool("hledger", &["bal", "--flat", "--no-total", "--layout", "bare", "-O", "csv", "-f"], file);
    let mut books = Books::new();
    for line in csv.lines().skip(1) {
        let cols: Vec<String> = line.split(',').map(|c| c.trim().trim_matches('"').to_owned()).collect();
        let [account, commodity, number] = &cols[..] else { panic!("hledger line {line}") };
        let n: Decimal = number.parse().unwrap_or_else(|e| panic!("hledger number {number}: {e}"));
        if !n.is_zero() {
            books.insert((account.clone(), commodity.clone()), n);
        }
    }
    books
}

/// Our balances, from the balance rows, named as the journal names them:
/// each account's posted and pending balance (debit positive), every
/// account or only `merchant`'s own and the platform's subsidiary for it.
pub async fn our_balances(app: &TestApp, merchant: Option<&str>, exponents: &BTreeMap<&str, u32>) -> Books {
    let rows = app
        .lines(
            "SELECT a.merchant_id::text || ' ' || a.platform::text || ' ' || a.code || ' ' || a.asset || ' ' || \
             a.normal_balance || ' ' || (b.debits_posted - b.credits_posted)::text || ' ' || \
             (b.debits_pending - b.credits_pending)::text AS line FROM accounts a \
             JOIN balances b ON b.merchant_id = a.merchant_id AND b.account_id = a.id",
        )
        .await;
    let mut books = Books::new();
    for row in rows {
        let f: Vec<&str> = row.split(' ').collect();
        let id = MerchantId(f[0].parse().expect("merchant id"));
        if merchant.is_some_and(|m| m != f[0]) {
            continue;
        }
        let owner = Owner::stored(id, f[1] == "true");
        let code = AccountCode::parse(f[2]).expect("code");
        let asset = AssetCode::parse(f[3]).expect("asset");
        let normal = Direction::parse(f[4]).expect("normal balance");
        let exponent = exponents
            .get(f[3])
            .copied()
            .or_else(|| ledger_server::domain::Asset::iso4217(f[3]).map(|a| a.exponent))
            .unwrap_or_else(|| panic!("exponent of {}", f[3]));
        for (pending, minor) in [(false, f[5]), (true, f[6])] {
            let minor: i64 = minor.parse().expect("minor units");
            if minor != 0 {
                let name = names::account(owner, &code, normal, pending);
                books.insert((name, names::commodity(&asset)), Decimal::new(minor, exponent));
            }
        }
    }
    books
}

/// Books with a payment and its fee, a pending authorization, a payout in
/// transit, and goods of a custom asset (no decimals, a code with `_`).
async fn some_books(app: &TestApp) -> (String, String) {
    let a = app.merchant("Export Shop A").await;
    let b = app.merchant("Export Shop B").await;
    assert!(app.pay(&a, "10.00", Some("1.00"), "USD", &fresh()).await.get("errors").is_none());
    assert!(app.pay(&b, "20.00", None, "USD", &fresh()).await.get("errors").is_none());
    app.authorize(&a, "5.25", &fresh()).await;
    app.create_payout(&b, &fresh()).await;
    app.ok(
        "mutation($i: RegisterAssetInput!) { registerAsset(input: $i) { asset { code } } }",
        json!({ "i": { "code": "SKU_7", "exponent": 0, "idempotencyKey": fresh() } }),
    )
    .await;
    app.stock(&a, "3", "SKU_7", &fresh()).await;
    (a, b)
}

#[tokio::test]
async fn the_books_export_to_beancount_and_hledger_and_both_tools_agree_with_ours() {
    // Arrange
    let app = spawn_app().await;
    let (a, _b) = some_books(&app).await;
    let exponents = BTreeMap::from([("USD", 2), ("SKU_7", 0)]);
    let ours = our_balances(&app, None, &exponents).await;
    assert!(ours.len() >= 8, "the books have accounts in both layers and assets: {ours:?}");
    assert!(ours.keys().any(|(n, _)| n.ends_with("-Pending")), "a pending balance: {ours:?}");
    assert!(ours.keys().any(|(_, c)| c == "SKU_7"), "the custom asset: {ours:?}");

    // Act
    let (bean, status, err) = export(&app, &["--format", "beancount"]);
    assert!(status.success(), "{err}");
    let (ledger, status, err) = export(&app, &["--format", "hledger"]);
    assert!(status.success(), "{err}");

    // Assert: both tools accept the journals (balanced transactions, every
    // closing balance assertion), and their balances are ours.
    bean_check(&bean);
    hledger_check(&ledger);
    assert_eq!(bean_query_balances(&bean), ours);
    assert_eq!(hledger_balances(&ledger), ours);
    let text = std::fs::read_to_string(&bean).expect("the journal");
    assert!(text.contains(" commodity SKU_7\n") && text.contains(" commodity USD\n"), "commodities declared");
    assert!(text.contains(" balance Liabilities:Merchants:M"), "closing balance assertions");

    // A tampered journal fails its own assertions in both tools.
    let tampered = bean.with_extension("tampered");
    std::fs::write(&tampered, text.replacen("    9.00 USD", "    9.01 USD", 1).replacen("-9.00 USD", "-9.01 USD", 1))
        .expect("write");
    let checked = Command::new("bean-check").arg(&tampered).output().expect("bean-check");
    assert!(!checked.status.success(), "bean-check must refuse a journal whose postings moved");
    let _ = a;
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn one_merchants_books_export_alone_and_bad_arguments_are_refused() {
    let app = spawn_app().await;
    let (a, _b) = some_books(&app).await;
    let exponents = BTreeMap::from([("USD", 2), ("SKU_7", 0)]);

    // One merchant's books: its accounts close at our balances.
    let (bean, status, err) = export(&app, &["--format", "beancount", "--merchant", &a]);
    assert!(status.success(), "{err}");
    bean_check(&bean);
    let (ledger, status, err) = export(&app, &["--format", "hledger", "--merchant", &a]);
    assert!(status.success(), "{err}");
    hledger_check(&ledger);
    let theirs = bean_query_balances(&bean);
    let ours = our_balances(&app, Some(&a), &exponents).await;
    for (key, value) in &ours {
        assert_eq!(theirs.get(key), Some(value), "{key:?} in {theirs:?}");
    }
    assert_eq!(hledger_balances(&ledger).into_iter().filter(|(k, _)| ours.contains_key(k)).collect::<Books>(), ours);
    let text = std::fs::read_to_string(&bean).expect("the journal");
    let hex = a.replace('-', "").to_uppercase();
    for line in text.lines().filter(|l| l.contains(" balance ")) {
        assert!(line.contains(&hex), "only the merchant's accounts are closed: {line}");
    }

    // Until a time before any transaction: nothing exported, and still valid.
    let (empty, status, err) = export(&app, &["--format", "beancount", "--until", "2000-01-01T00:00:00Z"]);
    assert!(status.success(), "{err}");
    assert!(err.contains("exported 0 transactions"), "{err}");
    bean_check(&empty);

    // Refusals: an unknown merchant, an unknown format, a time that is not one.
    let (_, status, err) = export(&app, &["--format", "beancount", "--merchant", &uuid::Uuid::now_v7().to_string()]);
    assert!(!status.success() && err.contains("merchant not found"), "{err}");
    let (_, status, err) = export(&app, &["--format", "ledger-cli"]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("invalid value 'ledger-cli'"), "{err}");
    let (_, status, err) = export(&app, &["--format", "hledger", "--until", "yesterday"]);
    assert_eq!(status.code(), Some(2), "{err}");
}

/// The Olist life-cycle replay's books (with the reconciliation's
/// settlements), exported whole in both formats: both checkers accept them,
/// and every account's balance in both equals ours. Called at the end of
/// `replay::olist_lifecycle_replay_…`, so the suite replays Olist once.
pub async fn the_olist_books_pass_bean_check_and_hledger_check_at_our_balances(app: &TestApp) {
    let ours = our_balances(app, None, &BTreeMap::new()).await;
    for format in ["beancount", "hledger"] {
        let started = std::time::Instant::now();
        let (file, status, err) = export(app, &["--format", format]);
        assert!(status.success(), "{err}");
        eprintln!("olist export ({format}): {err} in {:.2} s (debug build)", started.elapsed().as_secs_f64());
        let theirs = if format == "beancount" {
            bean_check(&file);
            bean_query_balances(&file)
        } else {
            hledger_check(&file);
            hledger_balances(&file)
        };
        assert_eq!(theirs.len(), ours.len(), "{format}: every account with a balance, and no other");
        assert_eq!(theirs, ours, "{format}: balances equal ours to the minor unit");
        let _ = std::fs::remove_file(&file);
    }
}

/// The same journals for staff over HTTP (`GET /journal`): what a staff
/// member downloads passes `bean-check` and `hledger check` at our balances;
/// merchants and anonymous callers may not download the whole books, and bad
/// arguments are refused.
#[tokio::test]
async fn staff_download_the_journals_over_http_and_no_one_else_may() {
    let app = spawn_app().await;
    let (a, _b) = some_books(&app).await;
    let exponents = BTreeMap::from([("USD", 2), ("SKU_7", 0)]);
    let viewer = app.staff("journal-viewer", "VIEWER").await;
    let get = |query: String, token: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = app.http.get(format!("{}/journal?{query}", app.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.expect("request");
            (resp.status().as_u16(), resp.text().await.expect("body"))
        }
    };
    for (format, check) in [("beancount", bean_check as fn(&Path)), ("hledger", hledger_check as fn(&Path))] {
        let (status, body) = get(format!("format={format}"), Some(viewer.clone())).await;
        assert_eq!(status, 200, "{body}");
        let path = std::env::temp_dir().join(format!("ledger-http-{format}-{}", fresh()));
        std::fs::write(&path, &body).expect("write");
        check(&path);
        let ours = our_balances(&app, None, &exponents).await;
        let theirs = if format == "beancount" { bean_query_balances(&path) } else { hledger_balances(&path) };
        assert_eq!(theirs, ours, "{format}");
    }
    let (status, body) =
        get(format!("format=beancount&merchant={a}&until=2999-01-01T00:00:00Z"), Some(app.token.clone())).await;
    assert_eq!(status, 200, "{body}");
    let path = std::env::temp_dir().join(format!("ledger-http-one-{}", fresh()));
    std::fs::write(&path, &body).expect("write");
    bean_check(&path);

    let merchant_key = app.merchant_key(&a).await;
    assert_eq!(get("format=beancount".into(), Some(merchant_key)).await.0, 403);
    assert_eq!(get("format=beancount".into(), None).await.0, 401);
    assert_eq!(get("format=ledger".into(), Some(viewer.clone())).await.0, 400);
    assert_eq!(get("format=hledger&until=yesterday".into(), Some(viewer.clone())).await.0, 400);
    let (status, body) = get(format!("format=hledger&merchant={}", uuid::Uuid::new_v4()), Some(viewer)).await;
    assert_eq!(status, 404, "{body}");
    app.assert_books_consistent().await;
}
