// The support console in a real browser: Debian's headless chromium driven
// by playwright-core. tests/api/console.rs starts the server on a fresh
// database, seeds it and runs this script with:
//   BASE_URL, SUPPORT_USER/SUPPORT_PASSWORD, VIEWER_USER/VIEWER_PASSWORD,
//   MERCHANT_ID, PAYMENTS_KEY (the card processing service's key, which
//   records ShirtyPuff's payments), DEFECTIVE_REF (the
//   external ref of the defective deal), ORDER_REF (an order number of
//   CAPTURE_MERCHANT's, found and reversed), CAPTURE_MERCHANT and CAPTURE_TX (a
//   merchant with a captured card payment, and the capture's id),
//   DISPUTE_MERCHANT (a merchant with a disputed card payment of 20.00),
//   ADMIN_USER/ADMIN_PASSWORD (who pays that merchant out),
//   OUT_DIR (screenshots), CHROMIUM.
// It clicks what a person would click. Any failed expectation throws, and
// the process exits non-zero with the step that failed.
import { env, expect, launchChromium, outDir } from "./browser.mjs";
import { readFileSync } from "node:fs";

const BASE = env("BASE_URL");
const OUT = outDir();

let step = "start";
const log = (s) => { step = s; console.log(`console test: ${s}`); };

// Money as the console shows it, to cents.
const cents = (text) => Math.round(parseFloat(text.replace(/[^0-9.-]/g, "")) * 100);

async function gql(token, query, variables) {
  const res = await fetch(`${BASE}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(String(e)));
// The server's Content-Security-Policy must not block anything the app does.
page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) consoleErrors.push(m.text()); });

async function login(user, password) {
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

// The merchant page loads its sections (balances, transactions, payments,
// payouts) one by one, and each pushes the ones below it down as it
// arrives. A click aimed at a lower table can land on an upper one if a
// section arrives between Playwright's "stable" check and the click (seen
// once in CI: a click meant for the Payments table opened a transaction).
// Wait, as a person would, until nothing on the page is still loading.
async function merchantPageLoaded() {
  await page.locator("section.merchant h1").waitFor();
  await page.waitForFunction(() => document.querySelectorAll(".loading").length === 0);
}

const availableCell = () => page.locator('[data-testid=balances] tr[data-asset="USD"] [data-field=available]');

try {
  log("0. a wrong password is refused in plain words");
  await page.goto(`${BASE}/console/`);
  await page.waitForURL(/\/console\/login$/);
  await login(env("SUPPORT_USER"), "not-the-password");
  await page.getByRole("alert").filter({ hasText: "do not match" }).waitFor();

  log("2. log in as support");
  await login(env("SUPPORT_USER"), env("SUPPORT_PASSWORD"));
  await page.getByRole("heading", { name: "Merchants" }).waitFor();
  expect((await page.getByTestId("who").innerText()).includes("support"), "the header to name a support user");

  log("search results are paginated");
  await page.getByLabel("Search by name, external id or id").fill("Market Stall");
  const found = page.getByRole("table", { name: "Merchants found" }).locator("tbody tr");
  await page.getByRole("link", { name: "Market Stall 19" }).waitFor();
  expect((await found.count()) === 20, "a first page of 20");
  await page.getByRole("navigation", { name: "Merchants pages" }).getByRole("button", { name: "Next →" }).click();
  await page.getByRole("link", { name: "Market Stall 21" }).waitFor();
  expect((await found.count()) === 2, "a second page of 2");
  await page.getByRole("button", { name: "← Previous" }).click();
  await page.getByRole("link", { name: "Market Stall 00" }).waitFor();
  await page.getByLabel("Search by name, external id or id").fill("");

  log("3. search for ShirtyPuff as you type, and open it (keyboard only)");
  const search = page.getByLabel("Search by name, external id or id");
  await search.fill("");
  // From the search box to the merchant page with the keyboard only: type, Tab to the result, Enter.
  expect(await page.evaluate(() => document.activeElement?.id === "merchant-search"), "focus in the search box");
  await page.keyboard.type("shirty", { delay: 40 });
  await page.waitForURL(/\?q=shirty/);
  const rows = page.getByRole("table", { name: "Merchants found" }).locator("tbody tr");
  await page.getByRole("link", { name: "ShirtyPuff" }).waitFor();
  expect((await rows.count()) === 1, "one merchant to match 'shirty'");
  await page.keyboard.press("Tab");
  expect(await page.evaluate(() => document.activeElement?.textContent === "ShirtyPuff"), "Tab reaches the result");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "ShirtyPuff" }).waitFor();
  await page.waitForURL(new RegExp(`/console/merchants/${env("MERCHANT_ID")}$`));

  log("4. read the balance");
  await availableCell().waitFor();
  await page.getByTestId("live").filter({ hasText: "live" }).waitFor();
  const before = cents(await availableCell().innerText());
  expect((await availableCell().innerText()).startsWith("$"), "money shown with the asset's symbol");

  log("5. a payment posted through the API shows on the page without a reload");
  await page.evaluate(() => { window.__noReload = true; });
  const paid = await gql(env("PAYMENTS_KEY"),
    `mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }`,
    { i: { merchantId: env("MERCHANT_ID"), gross: { amount: "20.00", currency: "USD" }, fee: { amount: "0.60", currency: "USD" },
      externalRef: "order-live-1", idempotencyKey: `live-${Date.now()}` } });
  expect(!paid.errors, `the background payment to succeed: ${JSON.stringify(paid.errors)}`);
  await page.waitForFunction(
    ([sel, want]) => {
      const el = document.querySelector(sel);
      return el && Math.round(parseFloat(el.textContent.replace(/[^0-9.-]/g, "")) * 100) === want;
    },
    ['[data-testid=balances] tr[data-asset="USD"] [data-field=available]', before + 1940],
    { timeout: 15000 });
  expect(await page.evaluate(() => window.__noReload === true), "no page reload");
  await page.locator('[data-testid=transactions] tr[data-ref="order-live-1"]').waitFor();
  const afterLive = before + 1940;

  log("6. open the defective deal and reverse it, with a reason");
  await merchantPageLoaded();
  const defective = page.locator(`[data-testid=transactions] tr[data-ref="${env("DEFECTIVE_REF")}"]`);
  await defective.getByRole("link", { name: "PAYMENT" }).click();
  await page.getByRole("heading", { name: /Transaction #\d+ · PAYMENT/ }).waitFor();
  const txUrl = page.url();
  await page.getByRole("button", { name: "Reverse…" }).click();
  const dialog = page.getByRole("dialog", { name: /Reverse transaction/ });
  await dialog.waitFor();
  expect(await page.evaluate(() => document.activeElement?.id === "action-reason"), "focus in the reason box");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Reverse…" }).click();
  await dialog.waitFor();
  // The plan is the server's dry run: wait for it to arrive.
  await dialog.getByTestId("balance-changes").filter({ hasText: "ShirtyPuff · available (posted)" }).waitFor();
  const changes = await dialog.getByTestId("balance-changes").innerText();
  expect(changes.includes("ShirtyPuff · available (posted): -$48.50"), `the preview to show the merchant losing $48.50, got: ${changes}`);
  await dialog.getByRole("button", { name: "Confirm reversal" }).click();
  await dialog.getByRole("alert").filter({ hasText: "give a reason" }).waitFor();
  await dialog.getByLabel("Reason (kept in the audit log)").fill("Customer returned a torn shirt (ticket 4711)");
  await page.screenshot({ path: `${OUT}/reversal-dialog.png` });
  // A double click must not reverse twice (the key is the same and the button locks).
  await dialog.getByRole("button", { name: "Confirm reversal" }).dblclick();
  await page.getByTestId("reversed-by").waitFor();
  await page.getByRole("status").filter({ hasText: "REVERSAL" }).waitFor();

  log("back button returns to the merchant; a pasted link opens the transaction");
  await page.goBack();
  await page.getByRole("heading", { name: "ShirtyPuff" }).waitFor();
  await page.goto(txUrl);
  await page.getByTestId("reversed-by").waitFor();
  expect(await page.getByRole("button", { name: "Reverse…" }).count() === 0, "no Reverse button on a reversed transaction");

  log("7. the balance returns and the reversal is in the transaction list");
  await page.getByRole("link", { name: "ShirtyPuff" }).first().click();
  await page.getByRole("heading", { name: "ShirtyPuff" }).waitFor();
  await page.waitForFunction(
    ([sel, want]) => {
      const el = document.querySelector(sel);
      return el && Math.round(parseFloat(el.textContent.replace(/[^0-9.-]/g, "")) * 100) === want;
    },
    ['[data-testid=balances] tr[data-asset="USD"] [data-field=available]', afterLive - 4850],
    { timeout: 15000 });
  await page.locator("[data-testid=transactions] tr[data-kind=REVERSAL]").waitFor();
  expect(await page.locator("[data-testid=transactions] tr[data-kind=REVERSAL]").count() === 1, "exactly one reversal listed");
  await defective.getByRole("link", { name: /Reversed by #/ }).waitFor();
  await page.screenshot({ path: `${OUT}/merchant-page.png`, fullPage: true });

  log("8. the audit log shows it");
  await page.getByRole("link", { name: "Audit log for this merchant" }).click();
  const auditRow = page.locator("[data-testid=audit] tr[data-action=reverseTransaction]");
  await auditRow.waitFor();
  const auditText = await auditRow.innerText();
  expect(auditText.includes(env("SUPPORT_USER")) && auditText.includes("torn shirt"), `the audit row to name the agent and reason: ${auditText}`);
  await page.getByLabel("Staff member").fill("nobody-such");
  await page.getByLabel("Staff member").press("Enter");
  await page.getByText("No staff actions match.").waitFor();

  log("the reports page: this month's rollup, a chart, and a month picker in the URL");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reports" }).click();
  const rollupRow = page.locator('[data-testid=Rollup] tr[data-class="default"][data-asset="USD"]');
  await rollupRow.waitFor();
  // Payments of 30, 45, 50 and 20 and a captured 35: five captures, $180.00.
  expect(await rollupRow.locator("[data-field=gross]").innerText() === "$180.00", "gross volume $180.00");
  expect(await rollupRow.locator("[data-field=acceptance]").innerText() === "100.0 %", "the one authorization was captured");
  await page.getByTestId("chart").waitFor();
  expect(await page.locator("[data-testid=chart] rect.bar").count() === 12, "twelve months charted");
  await page.screenshot({ path: `${OUT}/reports-page.png`, fullPage: true });
  const thisMonth = new Date().toISOString().slice(0, 7);
  const lastMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
  await page.getByLabel("Month (UTC)").fill(lastMonth);
  await page.waitForURL(new RegExp(`/console/reports\\?month=${lastMonth}$`));
  await page.getByText("No activity dated this month.").waitFor();
  await page.goBack();
  await rollupRow.waitFor();
  await page.goto(`${BASE}/console/reports?month=${thisMonth}`);
  await rollupRow.waitFor();

  log("refund part of a card payment; too much is refused in plain words");
  await page.goto(`${BASE}/console/merchants/${env("MERCHANT_ID")}`);
  await merchantPageLoaded();
  await page.getByRole("table", { name: "Payments" }).getByRole("link").first().click();
  await page.getByRole("heading", { name: /Payment .* · CAPTURED/ }).waitFor();
  await page.getByRole("button", { name: "Refund…" }).click();
  const refund = page.getByRole("dialog", { name: /Refund payment/ });
  await refund.waitFor();
  expect(await refund.getByLabel(/Amount to refund/).inputValue() === "35.00", "the full captured amount offered");
  await refund.getByLabel(/Amount to refund/).fill("10.00");
  // The ledger's plan: $10.00 leaves clearing; the merchant and the fee
  // revenue (its schedule returns fees) share it.
  // Wait for the plan of 10.00, not the one of the full 35.00 shown before
  // the amount was changed (the plan is recomputed as the amount changes).
  await refund.getByTestId("balance-changes").filter({ hasText: "Platform · processor_clearing (posted): -$10.00" }).waitFor();
  await refund.getByTestId("balance-changes").filter({ hasText: "Platform · fee_revenue (posted): -$" }).waitFor();
  // The server's dry run also gives each account's balance after.
  await refund.getByTestId("balances-after").locator('tr[data-account="ShirtyPuff · available"]').waitFor();
  const planLines = await refund.getByTestId("balance-changes").locator("li").allInnerTexts();
  const lineCents = (prefix) => cents(planLines.find((l) => l.startsWith(prefix)).split(": ").pop());
  expect(lineCents("Platform · processor_clearing") === -1000, `clearing gives 10.00: ${planLines}`);
  expect(lineCents("ShirtyPuff · available") + lineCents("Platform · fee_revenue") === -1000,
    `merchant and fee share make 10.00: ${planLines}`);
  await refund.getByLabel("Reason (kept in the audit log)").fill("Wrong size, partial refund agreed");
  await refund.getByRole("button", { name: "Confirm refund" }).click();
  await page.getByRole("status").filter({ hasText: "REFUND" }).waitFor();
  await page.getByRole("heading", { name: /PARTIALLY_REFUNDED|REFUNDED/ }).waitFor();
  await page.getByRole("button", { name: "Refund…" }).click();
  await refund.getByLabel(/Amount to refund/).fill("30.00");
  // The ledger's own plan refuses it before anything is sent…
  await refund.getByRole("alert").filter({ hasText: "more than is left to refund" }).first().waitFor();
  await refund.getByLabel("Reason (kept in the audit log)").fill("Try too much");
  // …and so does the refund itself.
  await refund.getByRole("button", { name: "Confirm refund" }).click();
  await page.waitForFunction(() => [...document.querySelectorAll("[role=dialog] [role=alert]")]
    .filter((e) => e.textContent.includes("more than is left to refund")).length === 2);
  await refund.getByRole("button", { name: "Cancel" }).click();
  await refund.waitFor({ state: "detached" });

  log("reverse a card capture: the dialog shows the ledger's plan, and exactly that is posted");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Merchants" }).click();
  await page.getByLabel("Search by name, external id or id").fill(env("CAPTURE_MERCHANT"));
  await page.getByRole("link", { name: env("CAPTURE_MERCHANT") }).click();
  await page.getByRole("heading", { name: env("CAPTURE_MERCHANT") }).waitFor();
  await merchantPageLoaded();
  await page.getByRole("table", { name: "Payments" }).getByRole("link").first().click();
  await page.getByRole("heading", { name: /Payment .* · CAPTURED/ }).waitFor();
  await page.getByRole("list", { name: "Life cycle" }).getByRole("link", { name: /CAPTURE/ }).click();
  await page.getByRole("heading", { name: /Transaction #\d+ · CAPTURE/ }).waitFor();
  expect(page.url().endsWith(`/console/transactions/${env("CAPTURE_TX")}`), `the capture's page: ${page.url()}`);
  await page.getByRole("button", { name: "Reverse…" }).click();
  const reverseCapture = page.getByRole("dialog", { name: /Reverse transaction/ });
  await reverseCapture.waitFor();
  const planned = reverseCapture.getByRole("table", { name: "Entries to be posted" }).locator("tbody tr");
  await planned.first().waitFor();
  const shown = await planned.evaluateAll((rows) => rows.map((r) => ({
    account: r.dataset.account, direction: r.dataset.direction, layer: r.dataset.layer,
    amount: r.dataset.amount, text: r.innerText,
  })));
  expect(shown.length > 0 && shown.every((e) => e.account && e.direction && e.layer && e.amount),
    `every planned entry names its account, side, layer and amount: ${JSON.stringify(shown)}`);
  // What a person reads is the same plan: the side and the amount in euros.
  for (const e of shown) {
    expect(e.text.includes(e.direction === "DEBIT" ? "Debit" : "Credit") && e.text.includes(e.amount),
      `the row to say ${e.direction} ${e.amount}: ${e.text}`);
  }
  await reverseCapture.getByLabel("Reason (kept in the audit log)").fill("Goods never shipped (ticket 4712)");
  await page.screenshot({ path: `${OUT}/capture-reversal-dialog.png` });
  await reverseCapture.getByRole("button", { name: "Confirm reversal" }).click();
  await page.getByTestId("reversed-by").waitFor();
  const supportToken = await page.evaluate(() => JSON.parse(localStorage.getItem("ledger.console.session")).token);
  const reversed = await gql(supportToken,
    `query($id: ID!) { transaction(id: $id) { reversedBy { kind entries { direction layer amount { amount } account { id } } } } }`,
    { id: env("CAPTURE_TX") });
  expect(!reversed.errors, `the reversal to be readable: ${JSON.stringify(reversed.errors)}`);
  const posted = reversed.data.transaction.reversedBy.entries.map((e) => ({
    account: e.account.id, direction: e.direction, layer: e.layer, amount: e.amount.amount,
  }));
  const previewed = shown.map(({ account, direction, layer, amount }) => ({ account, direction, layer, amount }));
  expect(JSON.stringify(previewed) === JSON.stringify(posted),
    `the previewed entries to be the posted ones:\n previewed ${JSON.stringify(previewed)}\n posted    ${JSON.stringify(posted)}`);

  log("find a payment by the customer's order number and reverse it from there");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Merchants" }).click();
  await page.getByLabel("Find an order number, transaction id or payment id").fill("no-such-order");
  await page.getByRole("button", { name: "Find" }).click();
  await page.getByText("Nothing has this order number or id.").waitFor();
  await page.getByLabel("Find an order number, transaction id or payment id").fill(env("ORDER_REF"));
  await page.getByRole("button", { name: "Find" }).click();
  await page.waitForURL(new RegExp(`/console/find\\?q=${env("ORDER_REF")}$`));
  const foundRows = page.locator("[data-testid=found]");
  await foundRows.first().waitFor();
  expect(await foundRows.count() === 1, "one transaction has the order number");
  expect((await foundRows.first().innerText()).includes(env("CAPTURE_MERCHANT")), "the result names the merchant");
  await foundRows.first().getByRole("link", { name: /PAYMENT/ }).click();
  await page.getByRole("heading", { name: /Transaction #\d+ · PAYMENT/ }).waitFor();
  await page.getByRole("button", { name: "Reverse…" }).click();
  const reverseOrder = page.getByRole("dialog", { name: /Reverse transaction/ });
  // The server's dry run: the merchant's available after the reversal.
  const after = reverseOrder.getByTestId("balances-after").locator(`tr[data-account="${env("CAPTURE_MERCHANT")} · available"]`);
  await after.waitFor();
  // 12.00 in and, after the reversal, out again: what was there before.
  const postedAfter = cents(await after.locator("[data-field=posted]").innerText());
  expect(postedAfter >= 0, `the dry run's balance after: ${await after.innerText()}`);
  await reverseOrder.getByLabel("Reason (kept in the audit log)").fill("Order never arrived (customer's order number)");
  await page.screenshot({ path: `${OUT}/find-and-reverse-dialog.png` });
  await reverseOrder.getByRole("button", { name: "Confirm reversal" }).click();
  await page.getByTestId("reversed-by").waitFor();

  log("download an account's statement as CSV");
  await page.goto(`${BASE}/console/merchants/${env("MERCHANT_ID")}`);
  await merchantPageLoaded();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download statement" }).click(),
  ]);
  const csvPath = await download.path();
  const csv = readFileSync(csvPath, "utf8").trim().split("\n");
  expect(csv[0].startsWith("row,effectiveAt,transactionId"), `the CSV's header: ${csv[0]}`);
  expect(csv[1].startsWith("opening,") && csv[csv.length - 1].startsWith("closing,"), `opening and closing rows: ${csv.join(" | ")}`);
  expect(csv.filter((l) => l.startsWith("entry,")).length > 0, "entries between them");

  log("resolve a dispute: the dialog shows the server's dry run, then the resolution posts");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Merchants" }).click();
  await page.getByLabel("Search by name, external id or id").fill(env("DISPUTE_MERCHANT"));
  await page.getByRole("link", { name: env("DISPUTE_MERCHANT") }).click();
  await page.getByRole("heading", { name: env("DISPUTE_MERCHANT") }).waitFor();
  await merchantPageLoaded();
  await page.getByRole("table", { name: "Payments" }).getByRole("link").first().click();
  await page.getByRole("heading", { name: /Payment .* · DISPUTED/ }).waitFor();
  await page.getByRole("button", { name: "Resolve dispute…" }).click();
  const resolve = page.getByRole("dialog", { name: /Resolve the dispute/ });
  await resolve.waitFor();
  await resolve.getByRole("table", { name: "Entries to be posted" }).locator("tbody tr").first().waitFor();
  await resolve.getByLabel("Outcome").selectOption("WON");
  // Won: the dry run now gives the held money back to the merchant.
  const wonAfter = resolve.getByTestId("balances-after").locator(`tr[data-account="${env("DISPUTE_MERCHANT")} · available"]`);
  await page.waitForFunction(([sel]) => {
    const el = document.querySelector(sel);
    return el && el.textContent.includes("20.00");
  }, [`[role=dialog] [data-testid=balances-after] tr[data-account="${env("DISPUTE_MERCHANT")} · available"] [data-field=posted]`]);
  expect((await wonAfter.innerText()).includes("20.00"), `won: the merchant's 20.00 back: ${await wonAfter.innerText()}`);
  await resolve.getByLabel("Reason (kept in the audit log)").fill("Proof of delivery accepted by the network");
  await page.screenshot({ path: `${OUT}/dispute-dialog.png` });
  await resolve.getByRole("button", { name: "Confirm resolution" }).click();
  await page.getByRole("status").filter({ hasText: "DISPUTE" }).waitFor();
  await page.getByRole("heading", { name: /Payment .* · CAPTURED/ }).waitFor();

  log("a lost connection is shown and recovers by itself");
  await context.setOffline(true);
  await page.getByRole("link", { name: "Merchants" }).click();
  await page.getByText("Connection lost").waitFor();
  await context.setOffline(false);
  await page.getByText("Connection lost").waitFor({ state: "detached", timeout: 15000 });
  await page.getByLabel("Search by name, external id or id").waitFor();

  log("9. a viewer sees no reverse or refund button, and the server refuses anyway");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/console\/login$/);
  await login(env("VIEWER_USER"), env("VIEWER_PASSWORD"));
  await page.getByRole("heading", { name: "Merchants" }).waitFor();
  await page.goto(`${BASE}/console/merchants/${env("MERCHANT_ID")}`);
  await merchantPageLoaded();
  await page.locator('[data-testid=transactions] tr[data-ref="order-live-1"]').getByRole("link", { name: "PAYMENT" }).click();
  await page.getByRole("heading", { name: /Transaction #\d+ · PAYMENT/ }).waitFor();
  await page.getByText("Posted by").waitFor();
  expect(await page.getByRole("button", { name: /Reverse/ }).count() === 0, "no Reverse button for a viewer");
  await page.goto(`${BASE}/console/merchants/${env("MERCHANT_ID")}`);
  await merchantPageLoaded();
  await page.getByRole("table", { name: "Payments" }).getByRole("link").first().click();
  await page.getByRole("heading", { name: /Payment / }).waitFor();
  await page.getByText("Life cycle").waitFor();
  expect(await page.getByRole("button", { name: /Refund/ }).count() === 0, "no Refund button for a viewer");
  await page.goBack();
  await page.goBack();
  await page.getByRole("heading", { name: /Transaction #\d+ · PAYMENT/ }).waitFor();
  const viewerToken = await page.evaluate(() => JSON.parse(localStorage.getItem("ledger.console.session")).token);
  const txId = page.url().split("/").pop();
  const refused = await gql(viewerToken,
    `mutation($id: ID!) { reverseTransaction(transactionId: $id, reason: "try", idempotencyKey: "viewer-try") { transaction { id } } }`,
    { id: txId });
  expect(refused.errors?.[0]?.extensions?.code === "FORBIDDEN", `the server to refuse a viewer: ${JSON.stringify(refused)}`);

  log("an admin pays a merchant out: the dialog shows the server's dry run first");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/console\/login$/);
  await login(env("ADMIN_USER"), env("ADMIN_PASSWORD"));
  await page.getByRole("heading", { name: "Merchants" }).waitFor();
  await page.getByLabel("Search by name, external id or id").fill(env("DISPUTE_MERCHANT"));
  await page.getByRole("link", { name: env("DISPUTE_MERCHANT") }).click();
  await merchantPageLoaded();
  await page.getByRole("button", { name: "Pay out…" }).click();
  const payout = page.getByRole("dialog", { name: /Pay out/ });
  await payout.waitFor();
  await payout.getByRole("table", { name: "Entries to be posted" }).locator("tbody tr").first().waitFor();
  const transit = payout.getByTestId("balances-after").locator(`tr[data-account="${env("DISPUTE_MERCHANT")} · available"] [data-field=available]`);
  await transit.waitFor();
  expect(cents(await transit.innerText()) === 0, `after the payout nothing is left available: ${await transit.innerText()}`);
  await page.screenshot({ path: `${OUT}/payout-dialog.png` });
  await payout.getByRole("button", { name: "Confirm payout" }).click();
  await page.getByRole("status").filter({ hasText: "PAYOUT" }).waitFor();

  expect(consoleErrors.length === 0, `no uncaught errors in the page: ${consoleErrors.join("; ")}`);
  console.log("console test: all steps passed");
} catch (e) {
  await page.screenshot({ path: `${OUT}/failure.png`, fullPage: true }).catch(() => {});
  // What the page showed, for a failure seen only in CI (the screenshot stays there).
  const shown = await page.evaluate(() => document.body.innerText).catch((err) => `(unreadable: ${err})`);
  console.error(`console test: the page was ${page.url()}\n--- its text ---\n${shown}\n--- end ---`);
  // The step and the error come last: CI keeps only the tail of the output.
  console.error(`console test: FAILED at step "${step}": ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
