//! The server under test: a fresh database, a `ledger-server` process on it,
//! and afterwards `ledger-server verify` on that database before it is dropped.
//! Also the yardsticks every figure is divided by: pgbench's TPC-B, and
//! pgledger driven by pgbench (when `../shared/vendor/pgledger` is there).

use std::process::{Child, Command, Stdio};

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::Args;

/// The admin password the benchmark's server bootstraps with.
pub const BENCH_ADMIN_PASSWORD: &str = "bench-admin-password-1";

/// The scale of pgbench's database: 10 branches, 1,000,000 accounts. With
/// fewer branches than clients, TPC-B's branch row is itself a hot spot, as
/// in every published pgbench figure at this scale.
const PGBENCH_SCALE: &str = "10";

/// pgbench worker threads (the machine the numbers are taken on has two cores).
const PGBENCH_THREADS: &str = "2";

/// A `ledger-server` process on a database of its own.
pub struct BenchServer {
    child: Child,
    pub db_name: String,
    /// The database URL the server runs on (for `verify` and direct checks).
    pub db_url: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl BenchServer {
    /// Creates a fresh database on the PostgreSQL of `admin` (whose URL without
    /// the database name is `pg_base`) and starts the server on it, on a free port.
    pub async fn start(args: &Args, admin: &DatabaseConnection, pg_base: &str) -> anyhow::Result<Self> {
        Self::start_with_env(args, admin, pg_base, &[]).await
    }

    /// [`BenchServer::start`] with extra environment variables for the server
    /// (the `chain` scenario's `LEDGER_BENCH_NO_CHAIN`).
    pub async fn start_with_env(
        args: &Args,
        admin: &DatabaseConnection,
        pg_base: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let db_name = format!("ledger_bench_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {db_name}")).await?;
        // On a Citus coordinator the new database gets the extension on every
        // node and the nodes registered; the server's migrations distribute it.
        if crate::citus_db::on_citus(admin).await? {
            crate::citus_db::prepare_citus_database(admin, pg_base, &db_name).await?;
        }
        let db_url = format!("{pg_base}/{db_name}");
        let spawned = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .and_then(|port| {
                let child = Command::new(&args.server_bin)
                    .args(["--database-url", &db_url, "--listen", &format!("127.0.0.1:{port}"), "--log", "warn"])
                    .args(["--admin-password", BENCH_ADMIN_PASSWORD, "--mode", "production"])
                    .args(["--rate-limit-per-sec", "10000000", "--rate-limit-burst", "10000000"])
                    .args(["--pool-size", &args.pool_size.to_string()])
                    .envs(env.iter().copied())
                    .stdout(Stdio::null())
                    .spawn()?;
                Ok((port, child))
            });
        match spawned {
            Ok((port, child)) => Ok(Self { child, db_name, db_url, base: format!("http://127.0.0.1:{port}") }),
            Err(e) => {
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).await?;
                Err(anyhow::anyhow!("cannot start {}: {e}", args.server_bin))
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server, runs `ledger-server verify` on its database and drops
    /// it. Returns the server's peak RSS in KiB (read just before it is
    /// stopped) and whether verify passed.
    pub async fn finish(mut self, args: &Args, admin: &DatabaseConnection) -> anyhow::Result<(Option<u64>, bool)> {
        let peak = rss_kib(self.child.id(), "VmHWM:");
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its report is shown only when it fails: a run of every scenario would
        // otherwise print six of them between the figures.
        let verified = Command::new(&args.server_bin)
            .args(["--database-url", &self.db_url, "--log", "warn", "verify"])
            .output()
            .map(|out| {
                if !out.status.success() {
                    eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                }
                out.status.success()
            });
        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name)).await?;
        Ok((peak, verified?))
    }
}

/// A process's resident set size in KiB from `/proc/<pid>/status`: `field`
/// is `VmRSS:` (now) or `VmHWM:` (the peak since it started).
pub fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// pgbench TPC-B (its default script) with the same client count, on a fresh
/// database of the same PostgreSQL. Returns transactions per second.
pub async fn pgbench_tpcb(args: &Args, admin: &DatabaseConnection, pg_base: &str) -> anyhow::Result<f64> {
    let name = format!("ledger_bench_pgbench_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    let url = format!("{pg_base}/{name}");
    let measured = (|| {
        let init =
            Command::new("pgbench").args(["-i", "-q", "-s", PGBENCH_SCALE, &url]).stderr(Stdio::null()).status()?;
        anyhow::ensure!(init.success(), "pgbench -i failed (is pgbench installed? Debian's postgresql-client has it)");
        let out = Command::new("pgbench")
            .args(["-c", &args.clients.to_string(), "-j", PGBENCH_THREADS, "-T", &args.seconds.to_string()])
            .args(["-M", "prepared", &url])
            .stderr(Stdio::null())
            .output()?;
        tps_of(&String::from_utf8_lossy(&out.stdout))
    })();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    measured
}

/// pgledger's two pgbench scripts (see `../shared/vendor/README.md`).
pub const PGLEDGER_SCRIPTS: [&str; 2] = ["transfer.sql", "hot.sql"];

/// Accounts pgledger's scripts move money between (their `acct_ids` table).
const PGLEDGER_ACCOUNTS: u32 = 1_000;

/// pgledger (a ledger in PL/pgSQL: one function call per transfer, no HTTP,
/// idempotency, audit or event feed) loaded from `--pgledger-dir` into a fresh
/// database of the same PostgreSQL, with 1,000 USD accounts, then each of
/// `scripts` ([`PGLEDGER_SCRIPTS`]) run by pgbench with the same clients and
/// seconds as TPC-B. Returns each script's transactions per second, or None
/// when the folder is absent (a user's clone has no `../shared`).
pub async fn pgledger(
    args: &Args,
    admin: &DatabaseConnection,
    pg_base: &str,
    scripts: &[&str],
) -> anyhow::Result<Option<Vec<f64>>> {
    let dir = std::path::Path::new(&args.pgledger_dir);
    if !dir.join("pgledger.sql").is_file() {
        return Ok(None);
    }
    let name = format!("ledger_bench_pgledger_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    let url = format!("{pg_base}/{name}");
    let measured = (|| {
        let load = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url])
            .args(["-f", "ulid-to-uuid.sql", "-f", "uuid-to-ulid.sql", "-f", "pgledger.sql"])
            .args(["-c", "CREATE TABLE acct_ids (n serial PRIMARY KEY, id text NOT NULL)"])
            .arg("-c")
            .arg(format!(
                "INSERT INTO acct_ids (id) SELECT a.id FROM generate_series(1, {PGLEDGER_ACCOUNTS}) AS g, \
                 LATERAL pgledger_create_account('bench-' || g, 'USD') AS a ORDER BY g"
            ))
            .current_dir(dir)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(load.success(), "loading pgledger from {} failed", dir.display());
        scripts
            .iter()
            .map(|script| {
                let out = Command::new("pgbench")
                    .args([
                        "-n",
                        "-c",
                        &args.clients.to_string(),
                        "-j",
                        PGBENCH_THREADS,
                        "-T",
                        &args.seconds.to_string(),
                    ])
                    .args(["-M", "prepared", "-f", script, &url])
                    .current_dir(dir)
                    .stderr(Stdio::null())
                    .output()?;
                tps_of(&String::from_utf8_lossy(&out.stdout))
            })
            .collect::<anyhow::Result<Vec<f64>>>()
    })();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    measured.map(Some)
}

/// The `tps = …` figure of pgbench's output.
fn tps_of(text: &str) -> anyhow::Result<f64> {
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {text}"))
}

/// The commands the pgledger figures come from, for the report.
pub fn pgledger_command(args: &Args) -> String {
    format!(
        "cd {} && psql -f ulid-to-uuid.sql -f uuid-to-ulid.sql -f pgledger.sql, {PGLEDGER_ACCOUNTS} accounts in acct_ids; \
         pgbench -n -c {} -j {PGBENCH_THREADS} -T {} -M prepared -f transfer.sql (uniform) | -f hot.sql (hot)",
        args.pgledger_dir, args.clients, args.seconds
    )
}

/// The pgbench command the TPC-B figure comes from, for the report.
pub fn pgbench_command(args: &Args) -> String {
    format!(
        "pgbench -i -q -s {PGBENCH_SCALE} && pgbench -c {} -j {PGBENCH_THREADS} -T {} -M prepared",
        args.clients, args.seconds
    )
}

/// How a run that should have answered `expected` items did: `all N matched`,
/// or what it answered instead (its first error's code and message).
pub fn scalar_note(body: &serde_json::Value, got: usize, expected: usize) -> String {
    if got == expected {
        return format!("all {expected} matched");
    }
    let error = &body["errors"][0];
    format!(
        "{got} of {expected} answered; the request ended with {} \"{}\"",
        error["extensions"]["code"].as_str().unwrap_or("no code"),
        error["message"].as_str().unwrap_or_default()
    )
}
