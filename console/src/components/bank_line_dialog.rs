//! The dialog of a hand action on one bank statement line: match it by hand
//! to a ledger item the bank has not confirmed, write it off to suspense, or
//! undo its match or write-off.
//!
//! Like the confirm dialog of a reversal ([`super::action_dialog`]) it shows
//! what will happen before anything does: "Check (dry run)" sends the very
//! write Confirm sends, with `dryRun: true` (the server runs every rule and
//! writes nothing), and Confirm stays disabled until that check passed for
//! the items and the reason now on screen. The reason is required: it goes
//! in the audit log. The candidates are the server's
//! (`unconfirmedLedgerItems`): payouts in transit for a debit or a return,
//! unsettled captures for a deposit, of which several may be picked.
//! Errors are shown in plain words and leave the dialog open.

use leptos::prelude::*;

use crate::api::{self, ApiError, BankLine, ErrorCode};
use crate::components::{empty, error_line, loading, money, short, when};
use crate::schema::{BankDirection, LedgerItemKind, PayoutMatchAction};
use crate::session::{Ctx, ctx};

/// What the dialog does to the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineAction {
    /// Match it by hand to a payout or to captures.
    Match,
    /// Write it off to the platform's `suspense` account.
    WriteOff,
    /// Undo its match or write-off.
    Unmatch,
}

/// Which ledger items can be this line: a payout for money out (its debit)
/// or a return of one (a reversal credit); captures for any other credit (a
/// processor's deposit).
pub fn candidate_kind(direction: BankDirection, reversal: bool) -> LedgerItemKind {
    match (direction, reversal) {
        (BankDirection::Debit, false) | (BankDirection::Credit, true) => LedgerItemKind::Payout,
        _ => LedgerItemKind::Capture,
    }
}

/// "Money in" or "Money out" (and "return" for a reversal), for people.
pub fn direction_label(direction: BankDirection, reversal: bool) -> &'static str {
    match (direction, reversal) {
        (BankDirection::Credit, false) => "Money in",
        (BankDirection::Credit, true) => "Money in (return)",
        (BankDirection::Debit, false) => "Money out",
        (BankDirection::Debit, true) => "Money out (reversal)",
    }
}

/// The references a person matches by: the bank's end-to-end ids and
/// remittance lines, then its free text.
pub fn references(line: &BankLine) -> String {
    let mut parts: Vec<String> = Vec::new();
    for d in &line.details {
        parts.extend(d.end_to_end_id.iter().cloned());
        parts.extend(d.remittance.iter().cloned());
    }
    parts.extend(line.additional_info.iter().cloned());
    parts.join(" · ")
}

/// What a check (dry run) or a confirm answered, in words; `Ok` only when
/// the server accepted it.
async fn send(
    ctx: Ctx,
    action: LineAction,
    kind: LedgerItemKind,
    line: String,
    picked: Vec<String>,
    reason: String,
    dry_run: bool,
) -> Result<String, ApiError> {
    let would = if dry_run { "would" } else { "did" };
    match action {
        LineAction::Match if kind == LedgerItemKind::Payout => {
            let payout =
                picked.first().ok_or_else(|| ApiError::new(ErrorCode::BadUserInput, "pick the payout this line is"))?;
            let m = api::match_line(&ctx, &line, payout, &reason, dry_run).await?;
            let verb = match m.action {
                PayoutMatchAction::Settle => "settle",
                PayoutMatchAction::Fail => "fail",
                PayoutMatchAction::Returned => "be the returned debit of",
            };
            let payout_amount = ctx.money(&m.payout.amount.amount, &m.payout.amount.currency);
            let difference = ctx.money(&m.difference.amount, &m.difference.currency);
            Ok(if dry_run {
                format!(
                    "Dry run, nothing written: this line would {verb} payout {} of {payout_amount}; the amounts differ by {difference}.",
                    short(&m.payout.id)
                )
            } else {
                format!(
                    "Matched: payout {} of {payout_amount} is now {}.",
                    short(&m.payout.id),
                    m.payout.state.as_str().to_lowercase().replace('_', " ")
                )
            })
        }
        LineAction::Match => {
            if picked.is_empty() {
                return Err(ApiError::new(ErrorCode::BadUserInput, "pick the captures this deposit settles"));
            }
            let d = api::match_deposit(&ctx, &line, &picked, &reason, dry_run).await?;
            let (gross, net, fee) = (
                ctx.money(&d.gross.amount, &d.gross.currency),
                ctx.money(&d.net.amount, &d.net.currency),
                ctx.money(&d.fee.amount, &d.fee.currency),
            );
            let n = d.captures.len();
            let head = if dry_run { "Dry run, nothing written: this deposit" } else { "Matched: this deposit" };
            Ok(format!(
                "{head} {would} settle {n} capture(s) of {gross} in all; the bank booked {net}, so the processor's fee is {fee}."
            ))
        }
        LineAction::WriteOff => {
            let done = api::write_off_line(&ctx, &line, &reason, dry_run).await?;
            Ok(if dry_run {
                "Dry run, nothing written: the line would be written off to the platform's suspense account, until someone finds what it is.".to_owned()
            } else {
                format!("Written off to suspense ({} transaction posted).", done.transactions.len())
            })
        }
        LineAction::Unmatch => {
            let done = api::unmatch_line(&ctx, &line, &reason, dry_run).await?;
            let back = done.lines.len();
            Ok(format!(
                "{}{back} line(s) {would} go back to the exception queue; {} transaction(s) {would} be reversed.",
                if dry_run { "Dry run, nothing written: " } else { "Unmatched: " },
                done.reverses.len()
            ))
        }
    }
}

/// The dialog. `account` is the bank account's id (for the candidates);
/// `on_close` runs on Cancel or Escape, `on_done` with what was done, in
/// words, once the server has written it.
#[component]
pub fn BankLineDialog(
    account: String,
    line: BankLine,
    action: LineAction,
    on_close: Callback<()>,
    on_done: Callback<String>,
) -> impl IntoView {
    let ctx = ctx();
    let kind = candidate_kind(line.direction, line.reversal);
    let many = kind == LedgerItemKind::Capture;
    let picked = RwSignal::new(Vec::<String>::new());
    let reason = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    // The dry run that passed, and for what (items and reason): Confirm
    // sends only what was checked.
    let checked = RwSignal::new(None::<(Vec<String>, String, String)>);
    let is_checked = move || {
        checked.with(|c| {
            c.as_ref().is_some_and(|(items, why, _)| picked.with(|p| p == items) && reason.with(|r| r.trim() == why))
        })
    };

    let candidates = LocalResource::new(move || {
        let account = account.clone();
        async move {
            if action == LineAction::Match {
                api::unconfirmed_items(&ctx, &account, Some(kind)).await
            } else {
                Ok(Vec::new())
            }
        }
    });

    let (title, verb) = match action {
        LineAction::Match => (format!("Match bank line #{} by hand", line.line_no), "Confirm match"),
        LineAction::WriteOff => (format!("Write off bank line #{}", line.line_no), "Confirm write-off"),
        LineAction::Unmatch => (format!("Unmatch bank line #{}", line.line_no), "Confirm unmatch"),
    };
    let note = match (action, kind) {
        (LineAction::Match, LedgerItemKind::Payout) => {
            "Pick the payout this line is. A debit settles the payout, a return fails it (its money goes back to the merchant's available balance)."
        }
        (LineAction::Match, LedgerItemKind::Capture) => {
            "Pick the captures this deposit settles. They move from processor clearing to the bank; what the bank booked less is the processor's fee."
        }
        (LineAction::WriteOff, _) => {
            "The line's amount goes to the platform's suspense account until someone finds what it is. Unmatch undoes it."
        }
        (LineAction::Unmatch, _) => {
            "The line goes back to the exception queue and what its match posted is reversed. A payout the bank settled or returned stays so."
        }
    };

    let line_id = line.id.clone();
    let run = move |dry_run: bool| {
        if pending.get_untracked() {
            return;
        }
        let why = reason.get_untracked().trim().to_owned();
        if why.is_empty() {
            error.set(Some(ApiError::new(ErrorCode::ReasonRequired, "")));
            return;
        }
        let items = picked.get_untracked();
        let line = line_id.clone();
        pending.set(true);
        error.set(None);
        if dry_run {
            checked.set(None);
        }
        leptos::task::spawn_local(async move {
            let result = send(ctx, action, kind, line, items.clone(), why.clone(), dry_run).await;
            let _ = pending.try_set(false);
            match result {
                Ok(words) if dry_run => {
                    let _ = checked.try_set(Some((items, why, words)));
                }
                Ok(words) => on_done.run(words),
                Err(e) => {
                    let _ = error.try_set(Some(e));
                }
            }
        });
    };
    let check = run.clone();

    let amount = money(&line.amount.amount, &line.amount.currency);
    let booked = line.booking_date.clone().unwrap_or_else(|| "—".to_owned());
    let refs = references(&line);
    let bank_ref = line.account_servicer_ref.clone().unwrap_or_default();
    let side = direction_label(line.direction, line.reversal);
    let is_match = action == LineAction::Match;
    let input_type = if many { "checkbox" } else { "radio" };

    view! {
        <div class="backdrop">
            <div
                class="dialog"
                role="dialog"
                aria-modal="true"
                aria-labelledby="line-dialog-title"
                on:keydown=move |ev| if ev.key() == "Escape" { on_close.run(()) }
            >
                <h2 id="line-dialog-title">{title}</h2>
                <dl class="facts">
                    <dt>"Booked"</dt><dd>{booked} " (" {line.age_days} " days ago)"</dd>
                    <dt>"Amount"</dt><dd>{amount} " · " {side}</dd>
                    <dt>"Bank reference"</dt><dd>{bank_ref}</dd>
                    <dt>"References"</dt><dd>{refs}</dd>
                </dl>
                <p>{note}</p>
                <Show when=move || is_match>
                    <h3 id="candidates-title">
                        {if many { "Unsettled captures (pick one or more)" } else { "Payouts in transit (pick one)" }}
                    </h3>
                    {move || match candidates.get() {
                        None => loading("the candidates").into_any(),
                        Some(Err(e)) => error_line(&e).into_any(),
                        Some(Ok(items)) if items.is_empty() => {
                            empty("No ledger item of this kind is waiting for the bank.").into_any()
                        }
                        Some(Ok(items)) => view! {
                            <table aria-labelledby="candidates-title" data-testid="candidates">
                                <thead><tr>
                                    <th scope="col">"Pick"</th><th scope="col">"Item"</th><th scope="col">"Merchant"</th>
                                    <th scope="col" class="num">"Amount"</th><th scope="col">"Since"</th><th scope="col" class="num">"Age (days)"</th>
                                </tr></thead>
                                <tbody>
                                    {items.into_iter().map(|item| {
                                        let id = item.id.clone();
                                        let id_for_check = id.clone();
                                        let amount = money(&item.amount.amount, &item.amount.currency);
                                        let label = format!("{} {} of {}", item.kind.label(), short(&item.id), amount);
                                        view! {
                                            <tr data-id=item.id.clone()>
                                                <td>
                                                    <input
                                                        type=input_type
                                                        name="candidate"
                                                        aria-label=label
                                                        prop:checked=move || picked.with(|p| p.contains(&id_for_check))
                                                        on:change=move |ev| {
                                                            let on = event_target_checked(&ev);
                                                            let id = id.clone();
                                                            picked.update(|p| {
                                                                if !many {
                                                                    p.clear();
                                                                }
                                                                p.retain(|x| *x != id);
                                                                if on {
                                                                    p.push(id);
                                                                }
                                                            });
                                                        }
                                                    />
                                                </td>
                                                <td><code title=item.id.clone()>{short(&item.id)}</code></td>
                                                <td><a href=crate::components::href(&format!("/merchants/{}", item.merchant_id))>{short(&item.merchant_id)}</a></td>
                                                <td class="num">{amount.clone()}</td>
                                                <td>{when(&item.since)}</td>
                                                <td class="num">{item.age_days}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }}
                </Show>
                <label for="line-reason">"Reason (kept in the audit log)"</label>
                <textarea
                    id="line-reason"
                    required
                    rows="3"
                    prop:value=move || reason.get()
                    on:input=move |ev| {
                        reason.set(event_target_value(&ev));
                        if error.with_untracked(|e| e.as_ref().is_some_and(|e| e.code == ErrorCode::ReasonRequired)) {
                            error.set(None);
                        }
                    }
                ></textarea>
                {move || checked.get().filter(|_| is_checked()).map(|(_, _, words)| view! {
                    <p class="success" role="status" data-testid="dry-run">{words}</p>
                })}
                {move || error.get().map(|e| error_line(&e))}
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
                    <button type="button" disabled=move || pending.get() on:click=move |_| check(true)>
                        "Check (dry run)"
                    </button>
                    <button
                        type="button"
                        class="danger"
                        disabled=move || pending.get() || !is_checked()
                        on:click=move |_| run(false)
                    >{move || if pending.get() { "Working…" } else { verb }}</button>
                </div>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debit_or_a_return_is_a_payout_and_a_deposit_is_captures() {
        assert_eq!(candidate_kind(BankDirection::Debit, false), LedgerItemKind::Payout);
        assert_eq!(candidate_kind(BankDirection::Credit, true), LedgerItemKind::Payout);
        assert_eq!(candidate_kind(BankDirection::Credit, false), LedgerItemKind::Capture);
    }
}
