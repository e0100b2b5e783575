//! The Ledger support console: a Leptos client-side (WASM) app for support
//! staff handling a complaint. They find the merchant, see its money, find
//! the deal, and reverse or refund it with a reason.
//!
//! It talks only to the GraphQL API of the server that serves it (at
//! [`BASE`]), so every rule (roles, idempotency, limits) is the server's.
//!
//! Layout:
//! - [`api`]: every GraphQL call, typed; errors in plain words;
//! - [`session`]: the staff session, assets and connection state;
//! - [`money`] and [`preview`]: pure formatting and what-will-happen rules,
//!   unit-tested natively;
//! - [`components`]: pager, banners, header, the confirm dialog;
//! - [`pages`]: one module per URL.
//!
//! Built by `scripts/build-console` (cargo for `wasm32-unknown-unknown`,
//! then `wasm-bindgen`, then `wasm-opt` when installed).

mod api;
mod components;
mod money;
mod pages;
mod preview;
mod session;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// Where the server serves the console; every page URL starts with it.
pub const BASE: &str = "/console";

/// The app: header, connection banner and the page of the URL.
#[component]
fn App() -> impl IntoView {
    let ctx = session::Ctx::restore();
    provide_context(ctx);
    // Assets (for decimals and symbols) load once per session.
    Effect::new(move |_| {
        if ctx.session.with(|s| s.is_some()) && ctx.assets.with_untracked(|a| a.is_empty()) {
            leptos::task::spawn_local(async move {
                if let Ok(assets) = api::assets(&ctx).await {
                    ctx.assets.set(assets);
                }
            });
        }
    });
    view! {
        <Router base=BASE>
            <a class="skip" href="#main">"Skip to content"</a>
            <components::Header />
            <components::ConnectionBanner />
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <p>"No such page. " <a href=components::href("/")>"Find a merchant"</a></p> }>
                    <Route path=path!("/login") view=pages::login::LoginPage />
                    <Route path=path!("/") view=|| view! { <pages::RequireLogin><pages::merchants::MerchantSearch /></pages::RequireLogin> } />
                    <Route path=path!("/merchants/:id") view=|| view! { <pages::RequireLogin><pages::merchant::MerchantPage /></pages::RequireLogin> } />
                    <Route path=path!("/transactions/:id") view=|| view! { <pages::RequireLogin><pages::transaction::TransactionPage /></pages::RequireLogin> } />
                    <Route path=path!("/payments/:id") view=|| view! { <pages::RequireLogin><pages::payment::PaymentPage /></pages::RequireLogin> } />
                    <Route path=path!("/reports") view=|| view! { <pages::RequireLogin><pages::reports::ReportsPage /></pages::RequireLogin> } />
                    <Route path=path!("/audit") view=|| view! { <pages::RequireLogin><pages::audit::AuditPage /></pages::RequireLogin> } />
                </Routes>
            </main>
        </Router>
    }
}

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(App);
}
