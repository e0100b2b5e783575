//! The reconciliation page (issue 20): one of the platform's bank accounts
//! against the books.
//!
//! From top to bottom: the bank account picker; its imported statements;
//! the import of a new statement (an admin's: the file goes to
//! `POST /reconcile/bank_statement`); "Run matching…" (an admin's: the
//! server's dry run of the rules first, then the run); the statement lines,
//! by default the exception queue (unmatched lines, with their age), each
//! with its hand actions (match by hand, write off, unmatch; support and
//! admin); the ledger items the bank has not confirmed; and the report of a
//! period (matched share, unmatched lines and unconfirmed items by age,
//! clearing accounts left open).
//!
//! The account and the filters are in the URL
//! (`/reconciliation?account=&state=&statement=&direction=&kind=`). Every
//! section re-reads after a write on the page, so what is shown is what the
//! ledger committed.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, AgeBucket, BankLine, BankStatementRow, MatchRun, ReconMoney};
use crate::components::bank_line_dialog::{BankLineDialog, LineAction, direction_label, references};
use crate::components::{Pager, empty, error_line, href, loading, money, short, when};
use crate::schema::{LedgerItemKind, LineState, StaffRole};
use crate::session::ctx;

/// Days the report covers unless the person picks others (the server's
/// default period too).
const REPORT_DAYS: f64 = 30.0;

/// The UTC day `days_back` days before today, `YYYY-MM-DD`.
fn day(days_back: f64) -> String {
    let ms = js_sys::Date::now() - days_back * 86_400_000.0;
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    date.to_iso_string().as_string().unwrap_or_default().chars().take(10).collect()
}

/// The state filter of the URL (`state=`): the exception queue (unmatched)
/// unless another state, or `ALL`, is asked for.
fn state_of(param: &str) -> Option<LineState> {
    match param {
        "ALL" => None,
        "MATCHED" => Some(LineState::Matched),
        "WRITTEN_OFF" => Some(LineState::WrittenOff),
        _ => Some(LineState::Unmatched),
    }
}

/// The kind filter of the URL (`kind=`): both kinds unless one is asked for.
fn kind_of(param: &str) -> Option<LedgerItemKind> {
    match param {
        "PAYOUT" => Some(LedgerItemKind::Payout),
        "CAPTURE" => Some(LedgerItemKind::Capture),
        _ => None,
    }
}

/// Money that may be absent.
fn maybe_money(m: &Option<ReconMoney>) -> String {
    m.as_ref().map_or_else(|| "—".to_owned(), |m| money(&m.amount, &m.currency))
}

/// A 0-to-1 share as a percentage with one decimal (`1` → `100.0 %`).
fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// "0–7 days", "91 days or more".
fn bucket_label(b: &AgeBucket) -> String {
    match b.to_days {
        Some(to) => format!("{}–{to} days", b.from_days),
        None => format!("{} days or more", b.from_days),
    }
}

/// The reconciliation page, at `/reconciliation`.
#[component]
pub fn ReconciliationPage() -> impl IntoView {
    let ctx = ctx();
    let query = use_query_map();
    let navigate = use_navigate();
    let param = move |name: &'static str| Memo::new(move |_| query.with(|q| q.get(name).unwrap_or_default()));
    let (account, state, statement, direction, kind) =
        (param("account"), param("state"), param("statement"), param("direction"), param("kind"));
    // Bumped after every write on the page: each section reads again.
    let tick = RwSignal::new(0u64);
    let changed = Callback::new(move |_: ()| tick.update(|t| *t += 1));
    let admin = move || ctx.session.with(|s| s.as_ref().is_some_and(|s| s.role == StaffRole::Admin));

    // One filter changed: the URL gets it, the others stay; a new account
    // clears the statement filter (statements belong to one account).
    let set = move |name: &'static str, value: String| {
        let mut params = [
            ("account", account.get_untracked()),
            ("state", state.get_untracked()),
            ("statement", statement.get_untracked()),
            ("direction", direction.get_untracked()),
            ("kind", kind.get_untracked()),
        ];
        for (key, v) in params.iter_mut() {
            if *key == name {
                *v = value.clone();
            } else if name == "account" && *key == "statement" {
                v.clear();
            }
        }
        let parts: Vec<String> =
            params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", super::encode(v))).collect();
        let path = if parts.is_empty() {
            "/reconciliation".to_owned()
        } else {
            format!("/reconciliation?{}", parts.join("&"))
        };
        navigate(&path, NavigateOptions { replace: true, ..Default::default() });
    };

    let accounts = LocalResource::new(move || async move { api::bank_accounts(&ctx).await });
    let statements = LocalResource::new(move || {
        let account = account.get();
        tick.track();
        async move {
            if account.is_empty() {
                return Ok(Vec::new());
            }
            api::bank_statements(&ctx, &account).await
        }
    });

    let pick_account = set.clone();
    let pick_state = set.clone();
    let pick_statement = set.clone();
    let pick_direction = set.clone();
    let pick_kind = set;
    view! {
        <section class="reconciliation">
            <h1>"Bank reconciliation"</h1>
            <label for="recon-account">"Bank account"</label>
            {move || match accounts.get() {
                None => loading("the bank accounts").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    empty("No bank account is registered yet (an admin registers one with registerBankAccount).").into_any()
                }
                Some(Ok(list)) => {
                    let pick_account = pick_account.clone();
                    view! {
                        <select id="recon-account" on:change=move |ev| pick_account("account", event_target_value(&ev))>
                            <option value="" selected=account.get_untracked().is_empty()>"Choose a bank account…"</option>
                            {list.into_iter().map(|a| {
                                let selected = a.id == account.get_untracked();
                                let number = a.iban.clone().or(a.account_number.clone()).unwrap_or_default();
                                view! { <option value=a.id.clone() selected=selected>{format!("{} · {} · {}", a.name, number, a.currency)}</option> }
                            }).collect_view()}
                        </select>
                    }.into_any()
                }
            }}
            <Show when=move || !account.get().is_empty()>
                <h2 id="statements-title">"Statements"</h2>
                {move || match statements.get() {
                    None => loading("the statements").into_any(),
                    Some(Err(e)) => error_line(&e).into_any(),
                    Some(Ok(list)) if list.is_empty() => empty("No statement imported yet.").into_any(),
                    Some(Ok(list)) => statements_table(&list).into_any(),
                }}
                <Show
                    when=admin
                    fallback=|| view! { <p class="empty">"An admin imports statements and runs the matching rules."</p> }
                >
                    <ImportForm account=account on_done=changed />
                    <RunMatching account=account on_done=changed />
                </Show>

                <h2 id="lines-title">"Statement lines"</h2>
                <form class="filters" on:submit=|ev| ev.prevent_default()>
                    <label for="lines-state">"State"</label>
                    <select id="lines-state" on:change={
                        let pick_state = pick_state.clone();
                        move |ev| pick_state("state", event_target_value(&ev))
                    }>
                        {[("", "Unmatched (the exception queue)"), ("MATCHED", "Matched"), ("WRITTEN_OFF", "Written off"), ("ALL", "All")]
                            .into_iter()
                            .map(|(v, l)| view! { <option value=v selected=state.get_untracked() == v>{l}</option> })
                            .collect_view()}
                    </select>
                    <label for="lines-statement">"Statement"</label>
                    <select id="lines-statement" on:change={
                        let pick_statement = pick_statement.clone();
                        move |ev| pick_statement("statement", event_target_value(&ev))
                    }>
                        <option value="">"All statements"</option>
                        {move || statements.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|s| {
                            let selected = s.id == statement.get_untracked();
                            view! { <option value=s.id.clone() selected=selected>{s.statement_ref.clone()}</option> }
                        }).collect_view()}
                    </select>
                    <label for="lines-direction">"Direction (on this page)"</label>
                    <select id="lines-direction" on:change={
                        let pick_direction = pick_direction.clone();
                        move |ev| pick_direction("direction", event_target_value(&ev))
                    }>
                        {[("", "Both"), ("CREDIT", "Money in"), ("DEBIT", "Money out")]
                            .into_iter()
                            .map(|(v, l)| view! { <option value=v selected=direction.get_untracked() == v>{l}</option> })
                            .collect_view()}
                    </select>
                </form>
                <Lines account=account state=state statement=statement direction=direction tick=tick on_done=changed />

                <h2 id="items-title">"Ledger items the bank has not confirmed"</h2>
                <label for="items-kind">"Kind"</label>
                <select id="items-kind" on:change={
                    let pick_kind = pick_kind.clone();
                    move |ev| pick_kind("kind", event_target_value(&ev))
                }>
                    {[("", "Both"), ("PAYOUT", "Payouts in transit"), ("CAPTURE", "Unsettled captures")]
                        .into_iter()
                        .map(|(v, l)| view! { <option value=v selected=kind.get_untracked() == v>{l}</option> })
                        .collect_view()}
                </select>
                <Unconfirmed account=account kind=kind tick=tick />

                <Report account=account tick=tick />
            </Show>
        </section>
    }
}

fn statements_table(list: &[BankStatementRow]) -> impl IntoView + use<> {
    view! {
        <table aria-labelledby="statements-title" data-testid="statements">
            <thead><tr>
                <th scope="col">"Statement"</th><th scope="col">"Format"</th>
                <th scope="col" class="num">"Opening"</th><th scope="col" class="num">"Closing"</th>
                <th scope="col" class="num">"Lines (new)"</th><th scope="col">"Gap"</th><th scope="col">"Imported"</th>
            </tr></thead>
            <tbody>
                {list.iter().map(|s| {
                    let gap = s.gap.as_ref().map_or_else(
                        || "none".to_owned(),
                        |g| format!("{}: a statement may be missing before this one", money(&g.amount, &g.currency)),
                    );
                    view! {
                        <tr data-ref=s.statement_ref.clone()>
                            <td>{s.statement_ref.clone()}</td>
                            <td>{s.format.clone()}</td>
                            <td class="num">{maybe_money(&s.opening_balance)} " " {s.opening_date.clone().unwrap_or_default()}</td>
                            <td class="num">{maybe_money(&s.closing_balance)} " " {s.closing_date.clone().unwrap_or_default()}</td>
                            <td class="num">{format!("{} ({})", s.line_count, s.new_line_count)}</td>
                            <td>{gap}</td>
                            <td>{format!("{} by {}", when(&s.imported_at), s.imported_by)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The import of a statement file (an admin's).
#[component]
fn ImportForm(account: Memo<String>, on_done: Callback<()>) -> impl IntoView {
    let ctx = ctx();
    let file_input = NodeRef::<leptos::html::Input>::new();
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<api::ApiError>);
    let done = RwSignal::new(None::<api::StatementImported>);
    let import = move |_| {
        if pending.get_untracked() {
            return;
        }
        let file = file_input.get_untracked().and_then(|input| input.files()).and_then(|files| files.get(0));
        let Some(file) = file else {
            error.set(Some(api::ApiError::new(api::ErrorCode::BadUserInput, "choose a statement file first")));
            return;
        };
        let account = account.get_untracked();
        pending.set(true);
        error.set(None);
        done.set(None);
        leptos::task::spawn_local(async move {
            let result = api::import_statement(&ctx, &account, &file).await;
            let _ = pending.try_set(false);
            match result {
                Ok(imported) => {
                    let _ = done.try_set(Some(imported));
                    on_done.run(());
                }
                Err(e) => {
                    let _ = error.try_set(Some(e));
                }
            }
        });
    };
    view! {
        <fieldset class="import">
            <legend>"Import a bank statement"</legend>
            <label for="statement-file">"Statement file (camt.053 XML, or the bank's CSV export)"</label>
            <input id="statement-file" type="file" accept=".xml,.csv,.txt,text/xml,application/xml,text/csv" node_ref=file_input />
            <button type="button" disabled=move || pending.get() on:click=import>
                {move || if pending.get() { "Importing…" } else { "Import statement" }}
            </button>
            {move || done.get().map(|d| {
                let words = if d.replayed {
                    format!("Statement {} was imported before: nothing changed.", d.statement.statement_ref)
                } else {
                    let checked = if d.balance_checked {
                        "opening balance plus booked lines equals the closing balance"
                    } else {
                        "the file has no balances to check"
                    };
                    format!(
                        "Imported statement {} ({}): {} lines, {} new; {checked}.",
                        d.statement.statement_ref, d.statement.format, d.statement.line_count, d.statement.new_line_count
                    )
                };
                view! { <p class="success" role="status" data-testid="import-result">{words}</p> }
            })}
            {move || error.get().map(|e| error_line(&e))}
        </fieldset>
    }
}

/// One line per match of a run, in words.
fn run_lines(run: &MatchRun) -> Vec<String> {
    let payouts = run.payouts.iter().map(|m| {
        format!(
            "Line {} of {} → {} payout {} of {} (difference {})",
            m.line.account_servicer_ref.clone().unwrap_or_else(|| short(&m.line.id)),
            money(&m.line.amount.amount, &m.line.amount.currency),
            m.action.as_str().to_lowercase(),
            short(&m.payout.id),
            money(&m.payout.amount.amount, &m.payout.amount.currency),
            money(&m.difference.amount, &m.difference.currency),
        )
    });
    let deposits = run.deposits.iter().map(|d| {
        let lines: Vec<String> =
            d.lines.iter().map(|l| l.account_servicer_ref.clone().unwrap_or_else(|| short(&l.id))).collect();
        format!(
            "Deposit {} of {} → settles {} capture(s) of {} (processor fee {})",
            lines.join(", "),
            money(&d.net.amount, &d.net.currency),
            d.captures.len(),
            money(&d.gross.amount, &d.gross.currency),
            money(&d.fee.amount, &d.fee.currency),
        )
    });
    payouts.chain(deposits).collect()
}

/// "Run matching…": the server's dry run of the rules, then the run (an
/// admin's).
#[component]
fn RunMatching(account: Memo<String>, on_done: Callback<()>) -> impl IntoView {
    let ctx = ctx();
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<api::ApiError>);
    let preview = RwSignal::new(None::<MatchRun>);
    let done = RwSignal::new(None::<MatchRun>);
    let go = move |dry_run: bool| {
        if pending.get_untracked() {
            return;
        }
        let account = account.get_untracked();
        pending.set(true);
        error.set(None);
        done.set(None);
        leptos::task::spawn_local(async move {
            let result = api::match_lines(&ctx, &account, dry_run).await;
            let _ = pending.try_set(false);
            match result {
                Ok(run) if dry_run => {
                    let _ = preview.try_set(Some(run));
                }
                Ok(run) => {
                    let _ = preview.try_set(None);
                    let _ = done.try_set(Some(run));
                    on_done.run(());
                }
                Err(e) => {
                    let _ = error.try_set(Some(e));
                }
            }
        });
    };
    view! {
        <fieldset class="matching">
            <legend>"Match by the rules"</legend>
            <p>"Payout debits and returns are matched by their end-to-end id, processor deposits by the payments they name. The dry run shows what would match; nothing is written until you confirm."</p>
            <button type="button" disabled=move || pending.get() on:click=move |_| go(true)>"Run matching…"</button>
            {move || preview.get().map(|run| {
                let lines = run_lines(&run);
                let nothing = lines.is_empty();
                view! {
                    <div class="preview" data-testid="match-preview">
                        <p role="status">{format!(
                            "Dry run, nothing written: the rules would match {} payout line(s) and {} deposit(s).",
                            run.payouts.len(), run.deposits.len()
                        )}</p>
                        <ul>{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
                        <button
                            type="button"
                            class="danger"
                            disabled=move || pending.get() || nothing
                            on:click=move |_| go(false)
                        >"Confirm: run matching"</button>
                        <button type="button" on:click=move |_| preview.set(None)>"Cancel"</button>
                    </div>
                }
            })}
            {move || done.get().map(|run| view! {
                <p class="success" role="status" data-testid="match-result">{format!(
                    "Matching done: {} payout line(s) and {} deposit(s) matched.",
                    run.payouts.len(), run.deposits.len()
                )}</p>
            })}
            {move || error.get().map(|e| error_line(&e))}
        </fieldset>
    }
}

/// The statement lines of the filters, with the hand actions of each.
#[component]
fn Lines(
    account: Memo<String>,
    state: Memo<String>,
    statement: Memo<String>,
    direction: Memo<String>,
    tick: RwSignal<u64>,
    on_done: Callback<()>,
) -> impl IntoView {
    let ctx = ctx();
    let pager = Pager::resetting_on(move || {
        account.track();
        state.track();
        statement.track();
    });
    let list = LocalResource::new(move || {
        let (account, state, statement, after) =
            (account.get(), state_of(&state.get()), statement.get(), pager.after());
        tick.track();
        async move { api::bank_lines(&ctx, &account, state, &statement, after).await }
    });
    let may_act = move || ctx.session.with(|s| s.as_ref().is_some_and(|s| s.may_act()));
    let dialog = RwSignal::new(None::<(LineAction, BankLine)>);
    let done = RwSignal::new(None::<String>);
    let open = move |action: LineAction, line: BankLine| {
        done.set(None);
        dialog.set(Some((action, line)));
    };
    view! {
        {move || done.get().map(|words| view! { <p class="success" role="status" data-testid="line-done">{words}</p> })}
        {move || match list.get() {
            None => loading("the statement lines").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(page)) => {
                let wanted = direction.get();
                let nodes: Vec<BankLine> =
                    page.nodes.into_iter().filter(|l| wanted.is_empty() || l.direction.as_str() == wanted).collect();
                if nodes.is_empty() {
                    return view! {
                        {empty("No statement line matches these filters.")}
                        {pager.controls("Statement lines", page.next.clone())}
                    }.into_any();
                }
                view! {
                    <table aria-labelledby="lines-title" data-testid="lines">
                        <thead><tr>
                            <th scope="col">"Booked"</th><th scope="col" class="num">"Age (days)"</th>
                            <th scope="col">"Line"</th><th scope="col">"Bank reference"</th>
                            <th scope="col">"Direction"</th><th scope="col" class="num">"Amount"</th>
                            <th scope="col">"References"</th><th scope="col">"State"</th><th scope="col">"Actions"</th>
                        </tr></thead>
                        <tbody>
                            {nodes.into_iter().map(|l| {
                                let unmatched = l.state == LineState::Unmatched;
                                let (for_match, for_write_off, for_unmatch) = (l.clone(), l.clone(), l.clone());
                                view! {
                                    <tr data-ref=l.account_servicer_ref.clone().unwrap_or_default() data-state=l.state.as_str() data-id=l.id.clone()>
                                        <td>{l.booking_date.clone().unwrap_or_else(|| "—".to_owned())}</td>
                                        <td class="num" data-field="age">{l.age_days}</td>
                                        <td>{format!("#{} · {}", l.line_no, l.status)}</td>
                                        <td>{l.account_servicer_ref.clone().unwrap_or_default()}</td>
                                        <td>{direction_label(l.direction, l.reversal)}</td>
                                        <td class="num">{money(&l.amount.amount, &l.amount.currency)}</td>
                                        <td>{references(&l)}</td>
                                        <td data-field="state">{l.state.label()}</td>
                                        <td>
                                            <Show when=move || may_act() && unmatched>
                                                <button type="button" on:click={
                                                    let line = for_match.clone();
                                                    move |_| open(LineAction::Match, line.clone())
                                                }>"Match by hand…"</button>
                                                <button type="button" on:click={
                                                    let line = for_write_off.clone();
                                                    move |_| open(LineAction::WriteOff, line.clone())
                                                }>"Write off…"</button>
                                            </Show>
                                            <Show when=move || may_act() && !unmatched>
                                                <button type="button" on:click={
                                                    let line = for_unmatch.clone();
                                                    move |_| open(LineAction::Unmatch, line.clone())
                                                }>"Unmatch…"</button>
                                            </Show>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    {pager.controls("Statement lines", page.next.clone())}
                }.into_any()
            }
        }}
        {move || dialog.get().map(|(action, line)| view! {
            <BankLineDialog
                account=account.get_untracked()
                line=line
                action=action
                on_close=Callback::new(move |_| dialog.set(None))
                on_done=Callback::new(move |words: String| {
                    dialog.set(None);
                    done.set(Some(words));
                    on_done.run(());
                })
            />
        })}
    }
}

/// Payouts in transit and unsettled captures, oldest first.
#[component]
fn Unconfirmed(account: Memo<String>, kind: Memo<String>, tick: RwSignal<u64>) -> impl IntoView {
    let ctx = ctx();
    let list = LocalResource::new(move || {
        let (account, kind) = (account.get(), kind_of(&kind.get()));
        tick.track();
        async move { api::unconfirmed_items(&ctx, &account, kind).await }
    });
    view! {
        {move || match list.get() {
            None => loading("the unconfirmed ledger items").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(items)) if items.is_empty() => empty("The bank has confirmed every ledger item.").into_any(),
            Some(Ok(items)) => view! {
                <table aria-labelledby="items-title" data-testid="unconfirmed">
                    <thead><tr>
                        <th scope="col">"Kind"</th><th scope="col">"Item"</th><th scope="col">"Merchant"</th>
                        <th scope="col" class="num">"Amount"</th><th scope="col">"Since"</th><th scope="col" class="num">"Age (days)"</th>
                    </tr></thead>
                    <tbody>
                        {items.into_iter().map(|i| {
                            let item = match i.kind {
                                LedgerItemKind::Capture => view! { <a href=href(&format!("/payments/{}", i.id))>{short(&i.id)}</a> }.into_any(),
                                LedgerItemKind::Payout => view! { <code>{short(&i.id)}</code> }.into_any(),
                            };
                            view! {
                                <tr data-kind=i.kind.as_str() data-id=i.id.clone()>
                                    <td>{i.kind.label()}</td>
                                    <td>{item}</td>
                                    <td><a href=href(&format!("/merchants/{}", i.merchant_id))>{short(&i.merchant_id)}</a></td>
                                    <td class="num">{money(&i.amount.amount, &i.amount.currency)}</td>
                                    <td>{when(&i.since)}</td>
                                    <td class="num">{i.age_days}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any(),
        }}
    }
}

fn buckets_table(label: &'static str, buckets: &[AgeBucket]) -> impl IntoView + use<> {
    view! {
        <table aria-label=label data-testid=label>
            <thead><tr><th scope="col">"Age"</th><th scope="col" class="num">"Count"</th><th scope="col" class="num">"Amount"</th></tr></thead>
            <tbody>
                {buckets.iter().map(|b| view! {
                    <tr>
                        <th scope="row">{bucket_label(b)}</th>
                        <td class="num" data-field="count">{b.count}</td>
                        <td class="num">{money(&b.amount.amount, &b.amount.currency)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The report of a period (the last 30 days unless other days are picked).
#[component]
fn Report(account: Memo<String>, tick: RwSignal<u64>) -> impl IntoView {
    let ctx = ctx();
    let from = RwSignal::new(day(REPORT_DAYS));
    let to = RwSignal::new(day(0.0));
    let report = LocalResource::new(move || {
        let (account, from, to) = (account.get(), from.get(), to.get());
        tick.track();
        async move { api::reconciliation_report(&ctx, &account, &from, &to).await }
    });
    view! {
        <h2 id="report-title">"Report"</h2>
        <form class="filters" on:submit=|ev| ev.prevent_default()>
            <label for="report-from">"Lines booked from (UTC day)"</label>
            <input id="report-from" type="date" prop:value=move || from.get() on:change=move |ev| from.set(event_target_value(&ev)) />
            <label for="report-to">"To (UTC day, included)"</label>
            <input id="report-to" type="date" prop:value=move || to.get() on:change=move |ev| to.set(event_target_value(&ev)) />
        </form>
        {move || match report.get() {
            None => loading("the report").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(r)) => {
                let open = if r.open_clearing.is_empty() {
                    view! { <p class="empty" data-testid="open-clearing">{format!("No clearing account holds items older than {} days.", r.clearing_after_days)}</p> }.into_any()
                } else {
                    view! {
                        <table aria-label="Open clearing accounts" data-testid="open-clearing">
                            <thead><tr>
                                <th scope="col">"Account"</th><th scope="col">"Merchant"</th><th scope="col" class="num">"Amount"</th>
                                <th scope="col" class="num">"Items"</th><th scope="col" class="num">"Oldest (days)"</th>
                            </tr></thead>
                            <tbody>
                                {r.open_clearing.iter().map(|c| view! {
                                    <tr>
                                        <td>{c.code.clone()}</td>
                                        <td><a href=href(&format!("/merchants/{}", c.merchant_id))>{short(&c.merchant_id)}</a></td>
                                        <td class="num">{money(&c.amount.amount, &c.amount.currency)}</td>
                                        <td class="num">{c.items}</td>
                                        <td class="num">{c.oldest_days}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                };
                view! {
                    <dl class="facts" data-testid="report">
                        <dt>"Period"</dt><dd>{format!("{} to {}", r.from, r.to)}</dd>
                        <dt>"Lines booked"</dt><dd data-field="lines">{r.line_count}</dd>
                        <dt>"Amount booked"</dt><dd>{money(&r.line_amount.amount, &r.line_amount.currency)}</dd>
                        <dt>"Matched"</dt><dd data-field="matched">{format!("{} ({})", r.matched_count, money(&r.matched_amount.amount, &r.matched_amount.currency))}</dd>
                        <dt>"Written off"</dt><dd data-field="written-off">{format!("{} ({})", r.written_off_count, money(&r.written_off_amount.amount, &r.written_off_amount.currency))}</dd>
                        <dt>"Matched share"</dt><dd data-field="matched-share">{percent(r.matched_share)}</dd>
                        <dt>"Deposits short by a fee"</dt><dd>{format!("{} (fees {})", r.deposits_with_fee, money(&r.fees.amount, &r.fees.currency))}</dd>
                    </dl>
                    <h3>"Unmatched lines by age"</h3>
                    {buckets_table("Unmatched lines by age", &r.unmatched_lines)}
                    <h3>"Unconfirmed ledger items by age"</h3>
                    {buckets_table("Unconfirmed ledger items by age", &r.unconfirmed_items)}
                    <h3>{format!("Clearing accounts open after {} days", r.clearing_after_days)}</h3>
                    {open}
                }.into_any()
            }
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_the_default_and_all_states_is_asked_for() {
        assert_eq!(state_of(""), Some(LineState::Unmatched));
        assert_eq!(state_of("UNMATCHED"), Some(LineState::Unmatched));
        assert_eq!(state_of("WRITTEN_OFF"), Some(LineState::WrittenOff));
        assert_eq!(state_of("ALL"), None);
        assert_eq!(kind_of("PAYOUT"), Some(LedgerItemKind::Payout));
        assert_eq!(kind_of("sideways"), None);
    }

    #[test]
    fn shares_are_percentages_with_one_decimal() {
        assert_eq!(percent(1.0), "100.0 %");
        assert_eq!(percent(0.5), "50.0 %");
        assert_eq!(percent(0.0), "0.0 %");
    }
}
