//! The console's state shared by every page: the staff session, the asset
//! list, and whether the server is reachable.
//!
//! It sits between the transport ([`crate::transport`], which knows no
//! session) and the typed calls ([`crate::api`], which know no token): it
//! adds the token to each operation and owns login state and storage.
//!
//! The session (token, username, role) is kept in `localStorage`, so a pasted
//! link opens in a new tab without logging in again; logging out removes it
//! and revokes the token on the server. Reads and writes go through
//! [`Ctx::call`], which marks the console offline while the server cannot be
//! reached and retries until it can: safe for reads, and safe for writes
//! because every write carries an idempotency key.

use graphql_client::GraphQLQuery;
use leptos::prelude::*;

use crate::money::AssetInfo;
use crate::schema::StaffRole;
use crate::transport::{self, ApiResult, ErrorCode};

/// `localStorage` key of the saved session.
const STORAGE_KEY: &str = "ledger.console.session";

/// A logged-in staff member.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Bearer token from `login`.
    pub token: String,
    /// Staff username.
    pub username: String,
    /// Viewer, support or admin.
    pub role: StaffRole,
}

impl Session {
    /// Support and admin staff may reverse and refund (the server enforces
    /// this too: a viewer gets `FORBIDDEN`).
    pub fn may_act(&self) -> bool {
        matches!(self.role, StaffRole::Support | StaffRole::Admin)
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// Shared state, provided as context by the app root. Every field is a
/// signal, so the struct is `Copy`.
#[derive(Clone, Copy)]
pub struct Ctx {
    /// The logged-in staff member, if any.
    pub session: RwSignal<Option<Session>>,
    /// Every asset, for formatting money with its decimals and symbol.
    pub assets: RwSignal<Vec<AssetInfo>>,
    /// False while the server cannot be reached.
    pub online: RwSignal<bool>,
}

impl Ctx {
    /// State with the session saved in this browser, if any.
    pub fn restore() -> Self {
        let saved = storage()
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|json| serde_json::from_str::<Session>(&json).ok());
        Self { session: RwSignal::new(saved), assets: RwSignal::new(Vec::new()), online: RwSignal::new(true) }
    }

    /// Keeps `session` for this browser and this page.
    pub fn sign_in(&self, session: Session) {
        if let (Some(s), Ok(json)) = (storage(), serde_json::to_string(&session)) {
            let _ = s.set_item(STORAGE_KEY, &json);
        }
        self.session.set(Some(session));
    }

    /// Forgets the session here (the caller revokes it on the server).
    pub fn sign_out(&self) {
        if let Some(s) = storage() {
            let _ = s.remove_item(STORAGE_KEY);
        }
        self.session.set(None);
    }

    /// Formats money of `code` with its decimals and symbol.
    pub fn money(&self, amount: &str, code: &str) -> String {
        self.assets.with(|assets| crate::money::format(amount, code, assets))
    }

    /// Decimals of `code`'s minor unit (2 when unknown).
    pub fn exponent(&self, code: &str) -> u32 {
        self.assets.with(|assets| assets.iter().find(|a| a.code == code).map_or(2, |a| a.exponent))
    }

    /// Sends operation `Q` with the session's token, retrying while the
    /// server is unreachable (backing off to [`transport::MAX_RECONNECT_DELAY`])
    /// and marking the console offline meanwhile. The same body is sent on
    /// every attempt, so a write's idempotency key makes a retry safe.
    /// `UNAUTHENTICATED` ends the session. Errors: the server's answer.
    pub async fn call<Q: GraphQLQuery>(&self, variables: Q::Variables) -> ApiResult<Q::ResponseData> {
        let body = transport::body::<Q>(variables)?;
        let mut attempt = 0;
        loop {
            let session = self.session.get_untracked();
            match transport::post::<Q::ResponseData>(session.as_ref().map(|s| s.token.as_str()), &body).await {
                Err(e) if e.is_offline() => {
                    self.online.set(false);
                    gloo_timers::future::sleep(transport::reconnect_delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.online.set(true);
                    if e.code == ErrorCode::Unauthenticated && session.is_some() {
                        self.sign_out();
                    }
                    return Err(e);
                }
                Ok(data) => {
                    self.online.set(true);
                    return Ok(data);
                }
            }
        }
    }
}

/// The shared state. Panics only when called outside the app root, which is
/// a programming error, never a request path.
pub fn ctx() -> Ctx {
    expect_context::<Ctx>()
}
