//! Pieces every page uses: loading and error lines, the pager, the
//! connection banner, the header, the confirm dialog of a reversal or a
//! refund, and the dialog of a hand action on a bank statement line.

pub mod action_dialog;
pub mod bank_line_dialog;

use leptos::prelude::*;

use crate::api::ApiError;
use crate::session::ctx;

/// Prefixes a console path with the console's base (`/console`), for links.
pub fn href(path: &str) -> String {
    format!("{}{path}", crate::BASE)
}

/// "Loading …" for a list or a section, announced to screen readers.
pub fn loading(what: &'static str) -> impl IntoView {
    view! { <p class="loading" role="status" aria-live="polite">"Loading " {what} "…"</p> }
}

/// An error in plain words, announced to screen readers.
pub fn error_line(error: &ApiError) -> impl IntoView + use<> {
    let plain = error.plain();
    let code = error.code.as_str().to_owned();
    view! { <p class="error" role="alert" data-code=code>{plain}</p> }
}

/// "Done: REVERSAL #7 was posted." after a reversal or refund, with a link
/// to the new transaction; announced to screen readers.
pub fn done_notice(done: RwSignal<Option<crate::api::Posted>>) -> impl IntoView {
    move || {
        done.get().map(|link| {
            view! {
                <p class="success" role="status">
                    "Done: " <a href=href(&format!("/transactions/{}", link.id))>{format!("{} #{}", link.kind.as_str(), link.sequence)}</a> " was posted."
                </p>
            }
        })
    }
}

/// "None yet" for an empty list.
pub fn empty(what: &'static str) -> impl IntoView {
    view! { <p class="empty">{what}</p> }
}

/// Short form of a UUID for tables (first 8 hex digits).
pub fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Date and time to the second, from RFC 3339, in UTC.
pub fn when(rfc3339: &str) -> String {
    let trimmed: String = rfc3339.chars().take(19).collect();
    format!("{} UTC", trimmed.replace('T', " "))
}

/// Forward paging over a Relay connection, with the cursors of the pages
/// seen so far so that "Previous" works without backward cursors.
#[derive(Clone, Copy)]
pub struct Pager {
    cursors: RwSignal<Vec<Option<String>>>,
}

impl Pager {
    /// At the first page.
    pub fn new() -> Self {
        Self { cursors: RwSignal::new(vec![None]) }
    }

    /// The `after` cursor of the page shown (tracked).
    pub fn after(&self) -> Option<String> {
        self.cursors.with(|c| c.last().cloned().flatten())
    }

    /// True on the first page (tracked).
    pub fn at_first(&self) -> bool {
        self.cursors.with(|c| c.len() <= 1)
    }

    /// At the first page, and back to it whenever what `watch` reads changes
    /// (a search's query, a list's filters).
    pub fn resetting_on(watch: impl Fn() + 'static) -> Self {
        let pager = Self::new();
        Effect::new(move |_| {
            watch();
            pager.reset();
        });
        pager
    }

    /// Back to the first page.
    pub fn reset(&self) {
        self.cursors.set(vec![None]);
    }

    /// Previous and next buttons for a list whose next page starts after
    /// `next` (None on the last page).
    pub fn controls(self, label: &'static str, next: Option<String>) -> impl IntoView {
        let has_next = next.is_some();
        let number = self.cursors.with_untracked(|c| c.len());
        view! {
            <nav class="pager" aria-label=format!("{label} pages")>
                <button
                    type="button"
                    disabled=move || self.at_first()
                    on:click=move |_| self.cursors.update(|c| { if c.len() > 1 { c.pop(); } })
                >"← Previous"</button>
                <span>"Page " {number}</span>
                <button
                    type="button"
                    disabled=!has_next
                    on:click=move |_| if let Some(n) = next.clone() { self.cursors.update(|c| c.push(Some(n))) }
                >"Next →"</button>
            </nav>
        }
    }
}

impl Default for Pager {
    fn default() -> Self {
        Self::new()
    }
}

/// Money with its asset's decimals and symbol.
pub fn money(amount: &str, currency: &str) -> String {
    ctx().money(amount, currency)
}

/// The banner shown while the server cannot be reached; it goes away by
/// itself when a retry gets through.
#[component]
pub fn ConnectionBanner() -> impl IntoView {
    let ctx = ctx();
    view! {
        <Show when=move || !ctx.online.get()>
            <div class="banner offline" role="status" aria-live="assertive">
                "Connection lost: the ledger server cannot be reached. Retrying…"
            </div>
        </Show>
    }
}

/// The top bar: where you are, who you are, and log out.
#[component]
pub fn Header() -> impl IntoView {
    let ctx = ctx();
    let navigate = leptos_router::hooks::use_navigate();
    let log_out = move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            // The token dies on the server first; if the server is down the
            // session is forgotten here anyway.
            let _ = crate::api::logout(&ctx).await;
            ctx.sign_out();
            navigate("/login", Default::default());
        });
    };
    view! {
        <header class="top">
            <a class="brand" href=href("/")>"Ledger console"</a>
            <Show when=move || ctx.session.with(|s| s.is_some())>
                <nav aria-label="Main">
                    <a href=href("/")>"Merchants"</a>
                    <a href=href("/audit")>"Audit log"</a>
                    <a href=href("/reports")>"Reports"</a>
                    <a href=href("/reconciliation")>"Reconciliation"</a>
                </nav>
                <span class="who" data-testid="who">
                    {move || ctx.session.get().map(|s| format!("{} ({})", s.username, s.role.as_str().to_lowercase()))}
                </span>
                <button type="button" class="logout" on:click=log_out.clone()>"Log out"</button>
            </Show>
        </header>
    }
}
