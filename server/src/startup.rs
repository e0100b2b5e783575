//! Building and running the application: connect and migrate, bind the listener,
//! serve until the shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{Mode, Settings};
use crate::core::access::auth::Authenticator;
use crate::core::posting::Ledger;
use crate::events::EventHub;
use crate::events::relay::{self, RelaySettings};
use crate::graphql::build_schema;
use crate::http::ws::ConnectionLimits;
use crate::http::{AppState, HttpSettings, router};

/// Connections to the reporting replica: reports are few and heavy; four
/// let the job and a few report views run at once without crowding it.
pub const REPORTING_POOL_SIZE: u32 = 4;

/// A built application: a migrated database and a bound listener.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    hub: Arc<EventHub>,
    stop: tokio::sync::watch::Sender<bool>,
    listen_url: Option<String>,
    relay: Option<RelaySettings>,
    sweep_every: std::time::Duration,
    payout_every: std::time::Duration,
    reports: Arc<crate::core::reports::Reports>,
    rollup_every: std::time::Duration,
    checkpoint_schedule: crate::core::chain::checkpoint::Schedule,
}

/// The checkpoint signing key of `settings`: read from its file, or made
/// now when there is none. Errors: an unreadable file or a bad key.
fn checkpoint_key(settings: &Settings) -> anyhow::Result<crate::core::chain::checkpoint::CheckpointKey> {
    use crate::core::chain::checkpoint::CheckpointKey;
    match &settings.checkpoint_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("LEDGER_CHECKPOINT_KEY_FILE {}: {e}", path.display()))?;
            Ok(CheckpointKey::from_private(&text)?)
        }
        None => {
            let (key, _) = CheckpointKey::generate(&settings.checkpoint_key_name)?;
            tracing::warn!(
                public_key = key.verifier_key(),
                "no LEDGER_CHECKPOINT_KEY_FILE: checkpoints are signed with a key made for this run"
            );
            Ok(key)
        }
    }
}

impl Application {
    /// Connects to the database, runs the migrations and binds the listen
    /// address (port 0 binds a free port; see [`Application::local_addr`]).
    ///
    /// Errors: database connection, migration or bind failures.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        tracing::info!(database = %settings.database_label(), mode = ?settings.mode, "ledger starting");
        // First, so that what starts below (the group committers) records too.
        let metrics = if settings.metrics { crate::telemetry::metrics::install() } else { None };
        let url = settings.database_url();
        // Migrations run as the database URL's own user; requests never do.
        crate::core::connect_and_migrate(&url, 1).await?.close().await?;
        let db = crate::core::connect_app(&url, settings.pool_size).await?;
        let ttl = chrono::Duration::seconds(i64::from(settings.authorization_ttl_secs));
        let postgres = url.starts_with("postgres");
        let group_commit = crate::core::posting::GroupCommit {
            window: std::time::Duration::from_micros(settings.group_commit_window_us),
            max_batch: settings.group_commit_max_batch,
            // SQLite has one connection and one writer: more lanes would only
            // queue for it.
            lanes: if postgres { usize::try_from(settings.group_commit_lanes).unwrap_or(1) } else { 1 },
            concurrency: usize::try_from(settings.group_commit_concurrency).unwrap_or(1),
        };
        tracing::info!(
            lanes = group_commit.lanes,
            concurrency = group_commit.concurrency.min(group_commit.lanes),
            max_batch = group_commit.max_batch,
            "group commit"
        );
        let group_pool =
            if postgres { Some(crate::core::connect_app(&url, group_commit.lanes as u32 + 1).await?) } else { None };
        let auth_cache = Arc::new(crate::core::access::cache::AuthCache::new());
        let ledger = Arc::new(
            Ledger::new(db.clone())
                .with_authorization_ttl(ttl)
                .with_auth_cache(auth_cache.clone())
                .with_group_commit(group_commit, group_pool),
        );
        ledger.load_assets().await?;
        let session_ttl = chrono::Duration::seconds(i64::from(settings.session_ttl_secs.max(1)));
        let auth = Authenticator::new(db.clone(), session_ttl, settings.login_attempts_per_minute, auth_cache);
        let admin_password = settings.admin_password.as_ref().map(|s| s.expose());
        auth.bootstrap_admin(&settings.admin_username, admin_password).await?;
        // Report reads go to the reporting replica when one is configured.
        let reporting = match &settings.reporting_database_url {
            Some(url) => Some(crate::core::connect_app(url, settings.pool_size.min(REPORTING_POOL_SIZE)).await?),
            None => None,
        };
        let mut pools = vec![("requests", db.clone())];
        if let Some(p) = ledger.group_pool() {
            pools.push(("group_commit", p.clone()));
        }
        if let Some(p) = &reporting {
            pools.push(("reporting", p.clone()));
        }
        let report_ttl = std::time::Duration::from_secs(settings.report_cache_ttl_secs.max(1));
        let mut reports = crate::core::reports::Reports::new(db.clone(), reporting, report_ttl);
        if let Some(url) = &settings.redis_url {
            let shared = crate::core::reports::SharedCache::connect(url, &settings.redis_key_prefix, report_ttl)
                .await
                .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
            reports = reports.with_shared_cache(shared);
        }
        let reports = Arc::new(reports);
        let rollup_every = std::time::Duration::from_secs(settings.rollup_interval_secs.max(1));
        let checkpoints =
            crate::core::chain::checkpoint::Checkpoints::start(db.clone(), checkpoint_key(settings)?).await?;
        let checkpoint_schedule = crate::core::chain::checkpoint::Schedule {
            every: settings.checkpoint_every,
            max_age: std::time::Duration::from_secs(settings.checkpoint_max_age_secs),
            tick: std::time::Duration::from_millis(settings.checkpoint_interval_ms),
        };
        let listener = TcpListener::bind(settings.listen).await?;
        let production = settings.mode == Mode::Production;
        let sweep_every = std::time::Duration::from_secs(u64::from(settings.sweep_interval_secs.max(1)));
        let payout_every = std::time::Duration::from_secs(u64::from(settings.payout_interval_secs.max(1)));
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let hub = EventHub::new(
            db.clone(),
            ledger.instance().to_owned(),
            ledger.committed_events(),
            settings.subscriber_buffer,
        );
        // Only PostgreSQL has LISTEN/NOTIFY; an SQLite server is one process,
        // woken by its own commits.
        let listen_url = postgres.then(|| url.clone());
        let relay = settings.nats_url.clone().map(|url| RelaySettings {
            url,
            stream: settings.nats_stream.clone(),
            subject_prefix: settings.nats_subject_prefix.clone(),
        });
        let metrics = metrics.map(|handle| {
            let relay = relay.as_ref().map(RelaySettings::relay_name);
            Arc::new(crate::http::metrics::Scrape { handle, pools, relay })
        });
        Ok(Self {
            listener,
            state: AppState {
                schema: build_schema(ledger.clone(), auth.clone(), hub.clone(), reports.clone(), production),
                ledger,
                auth,
                checkpoints,
                http: HttpSettings::from(settings),
                shutting_down: stop_rx,
                metrics,
                ws_limits: ConnectionLimits::new(
                    settings.max_connections_per_key.max(1),
                    settings.max_subscriptions_per_connection.max(1),
                ),
            },
            hub,
            stop,
            listen_url,
            relay,
            sweep_every,
            payout_every,
            reports,
            rollup_every,
            checkpoint_schedule,
        })
    }

    /// Batches and requests the group committer has run (see
    /// [`crate::core::posting::group`]); the tests use it to show that concurrent
    /// requests share commits.
    pub fn group_commit_stats(&self) -> Arc<crate::core::posting::GroupStats> {
        self.state.ledger.group_stats()
    }

    /// The reports service (the tests close months with their own clock).
    pub fn reports(&self) -> Arc<crate::core::reports::Reports> {
        self.reports.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "listening: GraphQL at /graphql, the support console at /console");
        let sweeper = tokio::spawn(crate::core::payments::sweeper::run(self.state.ledger.clone(), self.sweep_every));
        let payouts = tokio::spawn(crate::core::payouts::job::run(self.state.ledger.clone(), self.payout_every));
        let rollups = tokio::spawn(crate::core::reports::run(self.reports.clone(), self.rollup_every));
        let checkpoints =
            tokio::spawn(crate::core::chain::checkpoint::run(self.state.checkpoints.clone(), self.checkpoint_schedule));
        // Revocations from other instances clear this one's authentication
        // cache (PostgreSQL; an SQLite server is one process).
        let revocations = self
            .listen_url
            .clone()
            .map(|url| tokio::spawn(crate::core::access::cache::listen(url, self.state.ledger.auth_cache().clone())));
        let hub = tokio::spawn(self.hub.clone().run(self.listen_url));
        let upkeep =
            self.state.metrics.as_ref().map(|m| tokio::spawn(crate::telemetry::metrics::run_upkeep(m.handle.clone())));
        let relay = self.relay.map(|settings| {
            tracing::info!(stream = %settings.stream, prefix = %settings.subject_prefix, "publishing events to NATS");
            tokio::spawn(relay::run(self.state.ledger.db().clone(), self.hub.head(), settings))
        });
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let stop = self.stop;
        let shutdown = async move {
            shutdown.await;
            stop.send_replace(true);
        };
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        sweeper.abort();
        payouts.abort();
        rollups.abort();
        checkpoints.abort();
        hub.abort();
        if let Some(r) = revocations {
            r.abort();
        }
        if let Some(r) = relay {
            r.abort();
        }
        if let Some(u) = upkeep {
            u.abort();
        }
        served
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received; draining requests");
}
