//! Test harness: a real server on port 0 over a fresh PostgreSQL database per test.

use std::time::Duration;

use ledger_server::config::Settings;
use ledger_server::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

/// The server-level PostgreSQL URL the tests create databases through.
/// `scripts/test` makes sure it answers; override with `TEST_DATABASE_URL`.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A running server and a direct connection to its database. Clones share both.
#[derive(Clone)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A direct connection, for invariant checks only (never for setup).
    pub db: DatabaseConnection,
    /// The database URL the server uses.
    pub database_url: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The bootstrap admin's password (`--admin-password`), username [`ADMIN_USERNAME`].
    pub admin_password: String,
    /// A session token of the bootstrap admin; [`TestApp::gql`] sends it.
    pub token: String,
    /// Batches and requests the server's group committer has run.
    pub group_commits: std::sync::Arc<ledger_server::core::posting::GroupStats>,
    /// The reports service, to close months with a chosen clock.
    pub reports: std::sync::Arc<ledger_server::core::reports::Reports>,
}

/// Username of the admin the server bootstraps on first start.
pub const ADMIN_USERNAME: &str = "admin";

/// The bootstrap admin's password in tests (`--admin-password`); a test that
/// reads the logs checks that it never appears there.
pub const TEST_ADMIN_PASSWORD: &str = "test-admin-Zq8w3Lk5";

/// Flags every test server gets before the test's own: development mode (so
/// GraphiQL and introspection are on; production mode is tested on purpose) and
/// rate limits high enough that only the rate-limit tests meet them.
const TEST_DEFAULT_FLAGS: [&str; 8] = [
    "--mode",
    "development",
    "--rate-limit-per-sec",
    "100000",
    "--rate-limit-burst",
    "100000",
    "--login-attempts-per-minute",
    "1000",
];

/// Sends the server's warnings and errors to this test's stderr while the
/// guard lives: a request that failed with `INTERNAL_SERVER_ERROR` is then
/// explained in the test's output. Thread-local, so it suits the
/// current-thread runtime of `#[tokio::test]`, where the server's tasks run
/// on the test's thread.
pub fn server_logs_to_stderr() -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(
        tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).finish(),
    )
}

/// How many times [`TestApp::ok_as`] resends a request answered `TRY_AGAIN`.
pub const TRY_AGAIN_RESENDS: usize = 3;

/// Creates a fresh database with a random name, starts the server on port 0.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like [`spawn_app`], with extra command-line flags for the server.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let (url, _migrating) = fresh_database().await;
    spawn_flags(Some(url), extra).await
}

/// Like [`spawn_app`], with the server (and [`TestApp::db`]) talking to
/// PostgreSQL through a proxy that notes every protocol message
/// ([`crate::wire`]).
pub async fn spawn_app_through_wire() -> (TestApp, crate::wire::Wire) {
    let (url, _migrating) = fresh_database().await;
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (credentials, rest) = rest.rsplit_once('@').expect("credentials in the URL");
    let (host, database) = rest.split_once('/').expect("a database in the URL");
    let (addr, wire) = crate::wire::proxy(host.to_owned()).await;
    // No TLS, so the proxy reads plain protocol messages.
    let through = format!("{scheme}://{credentials}@{addr}/{database}?sslmode=disable");
    // These tests count the statements of short windows: the background jobs
    // run at start-up at most, and stay out of them.
    (spawn_flags(Some(through), QUIET_JOBS).await, wire)
}

/// Flags that keep a test server's background jobs (the expiry sweeper every
/// 30 s, the payout scheduler, month rollups, checkpoints every 30 s) to their
/// round at start-up, for tests that count what the database sees.
pub const QUIET_JOBS: &[&str] = &[
    "--sweep-interval-secs",
    "3600",
    "--payout-interval-secs",
    "3600",
    "--rollup-interval-secs",
    "3600",
    "--checkpoint-interval-ms",
    "3600000",
];

/// Makes a fresh, empty test database and returns its URL, and on Citus a
/// guard to hold until the server has migrated it.
async fn fresh_database() -> (String, Option<tokio::sync::MutexGuard<'static, ()>>) {
    let admin_url = admin_url();
    let name = format!("ledger_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await.expect("connect to PostgreSQL (is it running? see scripts/test)");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    let base_url = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("admin url has a database");
    let citus = on_citus(&admin).await;
    // On Citus one test database at a time is made and migrated: the
    // migrations' DDL (roles, distribution) is cluster-wide, and two at once
    // deadlock across the nodes or update the same role row.
    static CITUS_SETUP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let setup = if citus { Some(CITUS_SETUP.lock().await) } else { None };
    if citus {
        crate::citus_db::prepare_citus_database(&admin, &base_url, &name).await.expect("make a Citus test database");
    }
    admin.close().await.ok();
    (format!("{base_url}/{name}"), setup)
}

/// Whether the test databases are made on a Citus coordinator.
pub async fn on_citus(db: &DatabaseConnection) -> bool {
    crate::citus_db::on_citus(db).await.expect("read pg_extension")
}

/// Settings as the command line would give them, with extra flags.
pub fn settings_for(database_url: &str, extra: &[&str]) -> Settings {
    use clap::Parser;
    let mut argv = vec!["ledger-server", "--database-url", database_url, "--listen", "127.0.0.1:0", "--log", "warn"];
    argv.extend_from_slice(&TEST_DEFAULT_FLAGS);
    argv.extend_from_slice(extra);
    argv.extend_from_slice(&["--pool-size", "10"]);
    ledger_server::config::Cli::try_parse_from(argv).expect("settings").settings
}

/// Starts a server over `database_url` (None: a fresh SQLite file).
pub async fn spawn_with(database_url: Option<String>) -> TestApp {
    spawn_flags(database_url, &[]).await
}

/// Starts a server over `database_url` with extra flags (None: a fresh SQLite file).
pub async fn spawn_flags(database_url: Option<String>, extra: &[&str]) -> TestApp {
    let database_url = database_url.unwrap_or_else(|| {
        let dir = std::env::temp_dir().join(format!("ledger-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        format!("sqlite://{}?mode=rwc", dir.join("ledger.sqlite").display())
    });
    // Every server over one database bootstraps the same admin, so a second
    // server (two instances, one database) accepts the same password.
    let admin_password = TEST_ADMIN_PASSWORD.to_owned();
    let mut flags = vec!["--admin-password", TEST_ADMIN_PASSWORD];
    flags.extend_from_slice(extra);
    let settings = settings_for(&database_url, &flags);
    let app = Application::build(&settings).await.expect("build app");
    let addr = app.local_addr().expect("local addr");
    let group_commits = app.group_commit_stats();
    let reports = app.reports();
    tokio::spawn(app.run_until(std::future::pending()));
    let db = Database::connect(&database_url).await.expect("connect test db");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let mut app = TestApp {
        base: format!("http://{addr}"),
        db,
        database_url,
        http,
        admin_password,
        token: String::new(),
        group_commits,
        reports,
    };
    app.token = app.login(ADMIN_USERNAME, &app.admin_password.clone()).await;
    app
}

impl TestApp {
    /// POSTs a GraphQL request as the bootstrap admin and returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(Some(&self.token), query, variables).await
    }

    /// POSTs a GraphQL request with `Authorization: Bearer <token>` (none when
    /// `token` is `None`) and returns the whole response body.
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        gql_at(&self.http, &self.base, token, query, variables).await
    }

    /// POSTs any JSON body (a GraphQL request, a batch, anything) to /graphql
    /// with an optional bearer token; returns status, headers and body.
    pub async fn post_raw(&self, token: Option<&str>, body: Value) -> Raw {
        let mut req = self.http.post(format!("{}/graphql", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Raw::read(req.json(&body).send().await.expect("send")).await
    }

    /// GETs /graphql with `query` in the URL (GraphQL over HTTP's GET), as
    /// the bootstrap admin.
    pub async fn get_query(&self, query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/graphql", self.base))
            .bearer_auth(&self.token)
            .query(&[("query", query)])
            .send()
            .await
            .expect("send")
    }

    /// Like [`TestApp::gql_as`], but panics on errors and returns `data`.
    /// A `TRY_AGAIN` answer (the server was busy; nothing of the request is
    /// lost, see the README's error codes) is resent as it was, with the same
    /// idempotency key, up to [`TRY_AGAIN_RESENDS`] times, as a client should.
    pub async fn ok_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut body = self.gql_as(token, query, variables.clone()).await;
        for _ in 0..TRY_AGAIN_RESENDS {
            if body["errors"][0]["extensions"]["code"] != "TRY_AGAIN" {
                break;
            }
            eprintln!("the server answered TRY_AGAIN; sending the request again: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            body = self.gql_as(token, query, variables.clone()).await;
        }
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// POSTs a bank statement file to `POST /reconcile/bank_statement` as a
    /// `multipart/form-data` upload with `Authorization: Bearer <token>`.
    pub async fn upload_statement(&self, token: Option<&str>, bank_account: &str, file: &[u8]) -> Raw {
        let (content_type, body) =
            multipart(&[("bank_account_id", None, bank_account.as_bytes()), ("file", Some("statement"), file)]);
        let mut req = self.http.post(format!("{}/reconcile/bank_statement", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Raw::read(req.header("content-type", content_type).body(body).send().await.expect("send")).await
    }

    /// POSTs a GraphQL request whose variable `file_var` is a file, by the
    /// GraphQL multipart request spec (parts `operations`, `map`, `0`).
    pub async fn gql_upload_as(
        &self,
        token: Option<&str>,
        query: &str,
        mut variables: Value,
        file_var: &str,
        file: &[u8],
    ) -> Value {
        variables[file_var] = Value::Null;
        let operations = json!({ "query": query, "variables": variables }).to_string();
        let map = json!({ "0": [format!("variables.{file_var}")] }).to_string();
        let (content_type, body) = multipart(&[
            ("operations", None, operations.as_bytes()),
            ("map", None, map.as_bytes()),
            ("0", Some("f"), file),
        ]);
        let mut req = self.http.post(format!("{}/graphql", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.header("content-type", content_type).body(body).send().await.expect("send");
        let text = resp.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    /// Logs a staff user in; returns the session token. Panics when refused.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let data = self
            .ok_as(
                None,
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
                json!({ "u": username, "p": password }),
            )
            .await;
        data["login"]["token"].as_str().expect("session token").to_owned()
    }

    /// Creates a staff user with `role` (`VIEWER`, `SUPPORT` or `ADMIN`) as the
    /// admin, logs it in and returns its session token.
    pub async fn staff(&self, username: &str, role: &str) -> String {
        let password = format!("{username}-password-1");
        self.ok(
            "mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) { user { id } } }",
            json!({ "i": { "username": username, "password": password, "role": role,
                "idempotencyKey": format!("staff:{username}:{}", uuid::Uuid::new_v4()) } }),
        )
        .await;
        self.login(username, &password).await
    }

    /// Creates an API key for `merchant` as the admin; returns the secret key.
    /// A merchant key reads its books and moves its own money; it cannot
    /// record payments (use [`TestApp::service_key`] or the admin for that).
    pub async fn merchant_key(&self, merchant: &str) -> String {
        let data = self
            .ok(
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id prefix } } }",
                json!({ "i": { "merchantId": merchant, "name": "test",
                    "idempotencyKey": format!("key:{merchant}:{}", uuid::Uuid::new_v4()) } }),
            )
            .await;
        data["createApiKey"]["key"].as_str().expect("api key").to_owned()
    }

    /// Creates a key for the platform service `service` holding `scopes`
    /// (e.g. `["payments:write"]`) as the admin; returns the secret key.
    pub async fn service_key(&self, service: &str, scopes: &[&str]) -> String {
        let data = self
            .ok(
                "mutation($i: CreateServiceKeyInput!) { createServiceKey(input: $i) { key apiKey { id prefix } } }",
                json!({ "i": { "service": service, "scopes": scopes, "name": "test",
                    "idempotencyKey": format!("service:{service}:{}", uuid::Uuid::new_v4()) } }),
            )
            .await;
        data["createServiceKey"]["key"].as_str().expect("service key").to_owned()
    }

    /// Opens `merchant`'s USD account `reserve` (normal balance CREDIT) with
    /// `token`; returns its id. Panics when refused.
    pub async fn open_reserve_as(&self, token: Option<&str>, merchant: &str, key: &str) -> String {
        let data = self
            .ok_as(
                token,
                "mutation($i: OpenAccountInput!) { openAccount(input: $i) { account { id } } }",
                json!({ "i": { "merchantId": merchant, "code": "reserve", "asset": "USD", "normalBalance": "CREDIT",
                    "idempotencyKey": key } }),
            )
            .await;
        data["openAccount"]["account"]["id"].as_str().expect("account id").to_owned()
    }

    /// [`TestApp::open_reserve_as`] as the bootstrap admin.
    pub async fn open_reserve(&self, merchant: &str, key: &str) -> String {
        self.open_reserve_as(Some(&self.token), merchant, key).await
    }

    /// Like [`TestApp::gql`], but panics on errors and returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        self.ok_as(Some(&self.token), query, variables).await
    }

    /// Creates a merchant; returns its id.
    pub async fn merchant(&self, name: &str) -> String {
        let data = self
            .ok(
                "mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { merchant { id } } }",
                json!({ "i": { "name": name, "idempotencyKey": format!("merchant:{}:{}", name.replace(char::is_whitespace, "_"), uuid::Uuid::new_v4()) } }),
            )
            .await;
        data["createMerchant"]["merchant"]["id"].as_str().expect("id").to_owned()
    }

    /// Records a payment; returns the whole response body.
    pub async fn pay(&self, merchant: &str, gross: &str, fee: Option<&str>, currency: &str, key: &str) -> Value {
        let mut input = json!({
            "merchantId": merchant,
            "gross": { "amount": gross, "currency": currency },
            "idempotencyKey": key,
        });
        if let Some(fee) = fee {
            input["fee"] = json!({ "amount": fee, "currency": currency });
        }
        self.gql(
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { replayed transaction { id sequence entries { direction amount { amount currency } account { id code } } } } }",
            json!({ "i": input }),
        )
        .await
    }

    /// Authorizes a USD card payment of `merchant` as the admin (a hold on
    /// `pending`); returns the payment id. Panics when refused.
    pub async fn authorize(&self, merchant: &str, amount: &str, key: &str) -> String {
        let data = self
            .ok(
                "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }",
                json!({ "i": { "merchantId": merchant, "amount": { "amount": amount, "currency": "USD" }, "idempotencyKey": key } }),
            )
            .await;
        data["authorizePayment"]["payment"]["id"].as_str().expect("payment id").to_owned()
    }

    /// Captures `amount` USD of `payment` (all that is left when `None`) as
    /// the admin; returns the capture's transaction id. Panics when refused.
    pub async fn capture(&self, payment: &str, amount: Option<&str>, key: &str) -> String {
        let amount = amount.map(|a| json!({ "amount": a, "currency": "USD" }));
        let data = self
            .ok(
                "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { transaction { id } } }",
                json!({ "i": { "paymentId": payment, "amount": amount, "idempotencyKey": key } }),
            )
            .await;
        data["capturePayment"]["transaction"]["id"].as_str().expect("capture transaction id").to_owned()
    }

    /// A fully captured USD payment of `merchant` (idempotency keys `{key}-a`
    /// and `{key}-c`); returns the payment id.
    pub async fn captured_payment(&self, merchant: &str, amount: &str, key: &str) -> String {
        let payment = self.authorize(merchant, amount, &format!("{key}-a")).await;
        self.capture(&payment, None, &format!("{key}-c")).await;
        payment
    }

    /// Creates a payout of all of `merchant`'s available USD as the admin;
    /// returns the payout id. Panics when refused.
    pub async fn create_payout(&self, merchant: &str, key: &str) -> String {
        let data = self
            .ok(
                "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id } } }",
                json!({ "i": { "merchantId": merchant, "asset": "USD", "idempotencyKey": key } }),
            )
            .await;
        data["createPayout"]["payout"]["id"].as_str().expect("payout id").to_owned()
    }

    /// Puts `amount` of `asset` into `merchant`'s `available`, from the
    /// platform's `goods_clearing`, as the admin (goods to sell in deals).
    pub async fn stock(&self, merchant: &str, amount: &str, asset: &str, key: &str) {
        self.ok(
            "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }",
            json!({ "i": { "merchantId": merchant, "idempotencyKey": key, "entries": [
                { "accountCode": "goods_clearing", "platform": true, "direction": "DEBIT", "amount": { "amount": amount, "currency": asset } },
                { "accountCode": "available", "direction": "CREDIT", "amount": { "amount": amount, "currency": asset } },
            ] } }),
        )
        .await;
    }

    /// The merchant's balances per asset, as (asset, posted, pending, available).
    pub async fn balances(&self, merchant: &str) -> Vec<(String, String, String, String)> {
        let data = self
            .ok(
                "query($id: ID!) { merchant(id: $id) { balances { asset posted { amount } pending { amount } available { amount } } } }",
                json!({ "id": merchant }),
            )
            .await;
        data["merchant"]["balances"]
            .as_array()
            .expect("balances")
            .iter()
            .map(|b| {
                (
                    b["asset"].as_str().unwrap_or_default().to_owned(),
                    b["posted"]["amount"].as_str().unwrap_or_default().to_owned(),
                    b["pending"]["amount"].as_str().unwrap_or_default().to_owned(),
                    b["available"]["amount"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The available balance in one asset ("0" style when absent).
    pub async fn available(&self, merchant: &str, asset: &str) -> Option<String> {
        self.balances(merchant).await.into_iter().find(|b| b.0 == asset).map(|b| b.3)
    }

    /// Counts rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }

    /// The text column `line` of every row `sql` selects, in its order, read
    /// over the direct connection: books in a form two moments can compare.
    pub async fn lines(&self, sql: &str) -> Vec<String> {
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(self.db.get_database_backend(), sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter().map(|r| r.try_get::<String>("", "line").unwrap_or_else(|e| panic!("{sql}: {e}"))).collect()
    }

    /// The one BIGINT that `sql` selects, read over the direct connection.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(self.db.get_database_backend(), sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: no row"));
        row.try_get_by_index::<i64>(0).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs the books check and asserts it is clean.
    pub async fn assert_books_consistent(&self) {
        let report = ledger_server::core::reports::verify(&self.db).await.expect("verify");
        assert!(report.is_clean(), "books breached: {report:?}");
        for (asset, net) in ledger_server::core::reports::asset_totals(&self.db).await.expect("totals") {
            assert_eq!(net, 0, "asset {asset} does not sum to zero");
        }
    }
}

impl Drop for TestApp {
    /// `verify` is clean after every test: when a test that did not fail drops
    /// its app, the books are checked (each balance equals the sum of its
    /// entries, each asset sums to zero, each transaction balances) over a
    /// fresh owner connection, on a thread of its own because `drop` cannot
    /// await. A test that breaks the books on purpose repairs them before it
    /// ends (`books`, `reads`). Each check is one statement, so writes still
    /// committing in the background cannot make it see half a transaction.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let url = self.database_url.clone();
        let report = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let db = Database::connect(&url).await.expect("connect for the closing verify");
                let report = ledger_server::core::reports::verify(&db).await.expect("closing verify");
                db.close().await.ok();
                report
            })
        })
        .join()
        .expect("closing verify thread");
        assert!(report.is_clean(), "verify after the test found breaches: {report:?}");
    }
}

/// The `extensions.code` of the first error.
pub fn code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<no code>").to_owned()
}

/// `recordPayout`, answering the transaction's id; variables from [`payout_input`].
pub const RECORD_PAYOUT: &str = "mutation($i: RecordPayoutInput!) { recordPayout(input: $i) { transaction { id } } }";

/// [`RECORD_PAYOUT`]'s variables: a payout of `amount` USD from `merchant`.
pub fn payout_input(merchant: &str, amount: &str, key: &str) -> Value {
    json!({ "i": { "merchantId": merchant, "amount": { "amount": amount, "currency": "USD" }, "idempotencyKey": key } })
}

/// The id of the transaction a `recordPayment` response posted; panics when
/// the payment was refused.
pub fn txn_id(body: &Value) -> String {
    body["data"]["recordPayment"]["transaction"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no transaction id: {body}"))
        .to_owned()
}

/// The id of the account with `code` among the entries of a `pay` response
/// (`available` is the merchant's own). Panics when there is none.
pub fn paid_account(body: &Value, code: &str) -> String {
    body["data"]["recordPayment"]["transaction"]["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["account"]["code"] == code))
        .and_then(|e| e["account"]["id"].as_str())
        .unwrap_or_else(|| panic!("no {code} account among the entries: {body}"))
        .to_owned()
}

/// Every error message of a response, one a line (empty when there is none).
pub fn messages(body: &Value) -> String {
    body["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| e["message"].to_string()).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

/// A fresh unique suffix (lowercase hex), for names and idempotency keys.
pub fn fresh() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A `postTransaction` input moving `amount` USD of `merchant` from its
/// `available` account to its `reserve` account (which the test must open).
pub fn transfer(merchant: &str, amount: &str, key: &str) -> Value {
    transfer_between(merchant, "available", "reserve", amount, key)
}

/// A `postTransaction` input moving `amount` USD of `merchant` from its
/// account coded `from` (debited) to its account coded `to` (credited).
pub fn transfer_between(merchant: &str, from: &str, to: &str, amount: &str, key: &str) -> Value {
    json!({ "merchantId": merchant, "idempotencyKey": key, "entries": [
        { "accountCode": from, "direction": "DEBIT", "amount": { "amount": amount, "currency": "USD" } },
        { "accountCode": to, "direction": "CREDIT", "amount": { "amount": amount, "currency": "USD" } },
    ] })
}

/// Awaits racing requests and returns how many succeeded; every other one
/// must have been refused with the error code `refused`.
pub async fn successes(tasks: Vec<tokio::task::JoinHandle<Value>>, refused: &str) -> usize {
    let mut ok = 0;
    for task in tasks {
        let body = task.await.expect("request task");
        if body.get("errors").is_none() {
            ok += 1;
        } else {
            assert_eq!(code(&body), refused, "{body}");
        }
    }
    ok
}

/// Fields that hold an id (a UUID, or a request id), redacted in snapshots.
const SNAPSHOT_ID_FIELDS: [&str; 7] =
    ["id", "merchantId", "accountId", "transactionId", "paymentId", "payoutId", "requestId"];

/// Fields that hold a time, redacted in snapshots.
const SNAPSHOT_TIME_FIELDS: [&str; 5] = ["at", "createdAt", "postedAt", "expiresAt", "capturedAt"];

/// Settings for an `insta` snapshot of a GraphQL response: what changes from
/// run to run is redacted (ids, in their fields and inside error messages;
/// sequences, which count every database's writes; times), and what is left
/// is the shape of the answer, its states, codes and amounts. Use as
/// `snapshot_settings().bind(|| insta::assert_json_snapshot!(name, value))`.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for field in SNAPSHOT_ID_FIELDS {
        settings.add_redaction(&format!(".**.{field}"), "[id]");
    }
    for field in SNAPSHOT_TIME_FIELDS {
        settings.add_redaction(&format!(".**.{field}"), "[time]");
    }
    settings.add_redaction(".**.sequence", "[sequence]");
    settings.add_dynamic_redaction(".**.message", |message, _| message.as_str().map(redact_uuids).unwrap_or_default());
    settings
}

/// `text` with every UUID in it replaced by `[id]`.
fn redact_uuids(text: &str) -> String {
    const UUID_LEN: usize = 36;
    let is_uuid = |s: &str| {
        s.len() == UUID_LEN
            && s.char_indices()
                .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if rest.get(..UUID_LEN).is_some_and(is_uuid) {
            out.push_str("[id]");
            rest = &rest[UUID_LEN..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Who is calling, as staff, merchant keys and service keys all may ask.
pub const ME: &str = "{ me { kind merchantId username role keyPrefix } }";

pub use crate::multipart::form as multipart;

/// A response as it came over HTTP: status and headers as well as the body
/// (a JSON value, or the text as a string when it is not JSON).
pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Raw {
    /// Reads a whole response.
    pub async fn read(resp: reqwest::Response) -> Raw {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Raw { status, headers, body }
    }

    /// The `x-request-id` header, when there is one.
    pub fn request_id(&self) -> Option<String> {
        self.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// A WebSocket connection (tokio-tungstenite) adapted to the
/// `graphql-ws-client` crate, which speaks `graphql-transport-ws` over it.
pub struct WsConnection(tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>);

impl graphql_ws_client::Connection for WsConnection {
    async fn receive(&mut self) -> Option<graphql_ws_client::Message> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            return match self.0.next().await? {
                Ok(Message::Text(text)) => Some(graphql_ws_client::Message::Text(text.to_string())),
                Ok(Message::Ping(_)) => Some(graphql_ws_client::Message::Ping),
                Ok(Message::Pong(_)) => Some(graphql_ws_client::Message::Pong),
                Ok(Message::Close(frame)) => Some(graphql_ws_client::Message::Close {
                    code: frame.as_ref().map(|f| f.code.into()),
                    reason: frame.map(|f| f.reason.to_string()),
                }),
                Ok(_) => continue,
                Err(_) => None,
            };
        }
    }

    async fn send(&mut self, message: graphql_ws_client::Message) -> Result<(), graphql_ws_client::Error> {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        let message = match message {
            graphql_ws_client::Message::Text(text) => Message::Text(text.into()),
            graphql_ws_client::Message::Close { code, reason } => {
                Message::Close(code.map(|c| CloseFrame { code: c.into(), reason: reason.unwrap_or_default().into() }))
            }
            graphql_ws_client::Message::Ping => Message::Ping(Default::default()),
            graphql_ws_client::Message::Pong => Message::Pong(Default::default()),
        };
        self.0.send(message).await.map_err(|e| graphql_ws_client::Error::Send(e.to_string()))
    }
}

/// A GraphQL operation for `graphql-ws-client`: its responses are the raw
/// `{ data, errors }` payloads.
#[derive(serde::Serialize, Clone)]
pub struct Operation {
    query: String,
    variables: Value,
}

impl Operation {
    /// An operation with its variables.
    pub fn new(query: &str, variables: Value) -> Self {
        Self { query: query.to_owned(), variables }
    }
}

impl graphql_ws_client::graphql::GraphqlOperation for Operation {
    type Response = Value;
    type Error = serde_json::Error;
    fn decode(&self, data: Value) -> Result<Value, serde_json::Error> {
        Ok(data)
    }
}

/// Opens a WebSocket to `/graphql/ws` of `base` offering `protocol`
/// (`graphql-transport-ws` or the legacy `graphql-ws`).
pub async fn ws_connect(
    base: &str,
    protocol: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("ws request");
    request.headers_mut().insert("sec-websocket-protocol", protocol.parse().expect("header value"));
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket upgrade");
    socket
}

/// A `graphql-transport-ws` client authenticated with `token` in
/// `connection_init`, its actor running on the test runtime. Errors: the
/// server refused the connection (for example `UNAUTHENTICATED`).
pub async fn ws_client(base: &str, token: Option<&str>) -> Result<WsClient, graphql_ws_client::Error> {
    use std::future::IntoFuture;
    let socket = ws_connect(base, "graphql-transport-ws").await;
    let mut builder = graphql_ws_client::Client::build(WsConnection(socket)).subscription_buffer_size(100_000);
    if let Some(t) = token {
        builder = builder.payload(json!({ "Authorization": format!("Bearer {t}") }))?;
    }
    let (client, actor) = builder.await?;
    Ok(WsClient { client, actor: tokio::spawn(actor.into_future()) })
}

/// A connected `graphql-ws-client` and the task that owns its socket.
pub struct WsClient {
    client: graphql_ws_client::Client,
    actor: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for WsClient {
    type Target = graphql_ws_client::Client;
    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl WsClient {
    /// Drops the connection at once, as a crashed client would (no `complete`,
    /// no close handshake).
    pub fn kill(self) {
        self.actor.abort();
    }
}

/// POSTs a GraphQL request to the server at `base` (this test's or a
/// [`ServerProcess`]) with `Authorization: Bearer <token>` (none when `token`
/// is `None`) and returns the whole response body.
pub async fn gql_at(http: &reqwest::Client, base: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut req = http.post(format!("{base}/graphql"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json body")
}

/// A `ledger-server` running as a separate OS process (the test package's copy,
/// `ledger-test-server`), killed (SIGKILL) when dropped.
pub struct ServerProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: std::process::Child,
}

impl ServerProcess {
    /// Starts a server process over `database_url` with the test flags and
    /// `extra`, and waits until `/healthz` answers.
    pub async fn start(database_url: &str, extra: &[&str]) -> ServerProcess {
        Self::start_logging(database_url, extra, "warn", std::process::Stdio::inherit()).await
    }

    /// [`ServerProcess::start`] with the log filter `log` and its log lines
    /// (stderr) sent to `stderr`.
    pub async fn start_logging(
        database_url: &str,
        extra: &[&str],
        log: &str,
        stderr: impl Into<std::process::Stdio>,
    ) -> ServerProcess {
        Self::start_with_env(database_url, extra, log, stderr, &[]).await
    }

    /// [`ServerProcess::start_logging`] with `env` added to the process's
    /// environment (the `OTEL_*` variables, say).
    pub async fn start_with_env(
        database_url: &str,
        extra: &[&str],
        log: &str,
        stderr: impl Into<std::process::Stdio>,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let listen = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-test-server"))
            .args(["--database-url", database_url, "--listen", &listen, "--log", log])
            .args(TEST_DEFAULT_FLAGS)
            .args(["--admin-password", TEST_ADMIN_PASSWORD, "--pool-size", "10"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start ledger-test-server");
        let mut process = ServerProcess { base: format!("http://{listen}"), child };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{}/healthz", process.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("ledger-test-server exited early: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        process.kill();
        panic!("ledger-test-server did not answer /healthz within 30 s");
    }

    /// Kills the process at once (SIGKILL: no drain, no clean shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many migrations, from the newest back to and including `name`,
/// `Migrator::down` must undo to reach the schema before `name`: a
/// round-trip test keeps working as later migrations are added.
pub fn steps_back_to(name: &str) -> u32 {
    use migration::MigratorTrait;
    let all = migration::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == name).unwrap_or_else(|| panic!("no migration named {name}"));
    u32::try_from(all.len() - at).expect("a few migrations")
}
