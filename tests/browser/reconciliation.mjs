// The console's reconciliation page in a real browser: Debian's headless
// chromium driven by playwright-core. tests/api/console_reconciliation.rs
// starts the server on a fresh database, seeds it and runs this script with:
//   BASE_URL, ADMIN_USER/ADMIN_PASSWORD (imports and runs the matching),
//   SUPPORT_USER/SUPPORT_PASSWORD (resolves the exception by hand),
//   BANK_ACCOUNT (the bank account's name), STATEMENT_FILE (a camt.053 file
//   with the payout's debit, its reference garbled, and the processor's
//   deposit of one capture), BAD_STATEMENT_FILE (the same, not adding up),
//   PAYOUT_ID and PAYMENT_ID (the payout in transit and the captured
//   payment), PAYOUT_LINE and DEPOSIT_LINE (the bank's references of the two
//   lines), REASON (of the hand match), OUT_DIR (screenshots), CHROMIUM.
// It clicks what a person would click. Any failed expectation throws, and
// the process exits non-zero with the step that failed.
import { env, expect, launchChromium, outDir } from "./browser.mjs";

const BASE = env("BASE_URL");
const OUT = outDir();

let step = "start";
const log = (s) => { step = s; console.log(`reconciliation test: ${s}`); };

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(String(e)));
// The server's Content-Security-Policy must not block anything the page does (the upload included).
page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) consoleErrors.push(m.text()); });

async function login(user, password) {
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Merchants" }).waitFor();
}

// Nothing on the page is still loading.
async function settled() {
  await page.waitForFunction(() => document.querySelectorAll(".loading").length === 0);
}

const lineRow = (ref) => page.locator(`[data-testid=lines] tr[data-ref="${ref}"]`);

try {
  log("1. log in as admin and open the reconciliation page from the menu");
  await page.goto(`${BASE}/console/`);
  await page.waitForURL(/\/console\/login$/);
  await login(env("ADMIN_USER"), env("ADMIN_PASSWORD"));
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reconciliation" }).click();
  await page.getByRole("heading", { name: "Bank reconciliation" }).waitFor();

  log("2. choose the bank account");
  const option = page.locator("#recon-account option", { hasText: env("BANK_ACCOUNT") });
  await option.waitFor({ state: "attached" });
  await page.getByLabel("Bank account").selectOption(await option.getAttribute("value"));
  await page.waitForURL(/account=/);
  await page.getByText("No statement imported yet.").waitFor();
  const pageUrl = page.url();

  log("3. importing without a file is refused in plain words");
  await page.getByRole("button", { name: "Import statement" }).click();
  await page.getByRole("alert").filter({ hasText: "choose a statement file first" }).waitFor();

  log("4. a statement that does not add up is refused, and nothing is imported");
  await page.getByLabel(/Statement file/).setInputFiles(env("BAD_STATEMENT_FILE"));
  await page.getByRole("button", { name: "Import statement" }).click();
  const unbalanced = page.getByRole("alert").filter({ hasText: "does not add up" });
  await unbalanced.waitFor();
  expect(await unbalanced.getAttribute("data-code") === "STATEMENT_UNBALANCED", "the refusal's code");
  expect((await unbalanced.innerText()).includes("nothing was imported"), "the refusal to say nothing was imported");
  expect(await page.getByText("No statement imported yet.").isVisible(), "still no statement");

  log("5. import the statement through the file input");
  await page.getByLabel(/Statement file/).setInputFiles(env("STATEMENT_FILE"));
  await page.getByRole("button", { name: "Import statement" }).click();
  const imported = page.getByTestId("import-result");
  await imported.waitFor();
  const importedText = await imported.innerText();
  expect(importedText.includes("2 lines, 2 new"), `the import to report its 2 new lines: ${importedText}`);
  await page.locator("[data-testid=statements] tr").nth(1).waitFor();
  expect(await page.locator("[data-testid=statements] tbody tr").count() === 1, "one statement listed");
  await lineRow(env("PAYOUT_LINE")).waitFor();
  await lineRow(env("DEPOSIT_LINE")).waitFor();
  expect(await lineRow(env("PAYOUT_LINE")).getAttribute("data-state") === "UNMATCHED", "the debit unmatched");

  log("6. preview the matching rules: the deposit would match, nothing is written yet");
  await page.getByRole("button", { name: "Run matching…" }).click();
  const preview = page.getByTestId("match-preview");
  await preview.waitFor();
  const previewText = await preview.innerText();
  expect(previewText.includes("0 payout line(s) and 1 deposit(s)"), `the preview to find the deposit only: ${previewText}`);
  expect(previewText.includes(env("DEPOSIT_LINE")), `the preview to name the deposit's line: ${previewText}`);
  expect(await lineRow(env("DEPOSIT_LINE")).count() === 1, "the dry run left the deposit in the queue");

  log("7. run matching: the deposit is matched, the debit stays in the exception queue");
  await preview.getByRole("button", { name: "Confirm: run matching" }).click();
  await page.getByTestId("match-result").filter({ hasText: "1 deposit(s) matched" }).waitFor();
  await lineRow(env("DEPOSIT_LINE")).waitFor({ state: "detached" });
  await lineRow(env("PAYOUT_LINE")).waitFor();
  await settled();
  const payoutItem = page.locator(`[data-testid=unconfirmed] tr[data-id="${env("PAYOUT_ID")}"]`);
  await payoutItem.waitFor();
  expect(await payoutItem.getAttribute("data-kind") === "PAYOUT", "the payout still waits for the bank");
  expect(await page.locator(`[data-testid=unconfirmed] tr[data-id="${env("PAYMENT_ID")}"]`).count() === 0,
    "the capture the deposit settled is no longer unconfirmed");
  await page.screenshot({ path: `${OUT}/reconciliation-queue.png`, fullPage: true });

  log("8. log in as support: the exception is theirs to resolve, the import is not");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/console\/login$/);
  await login(env("SUPPORT_USER"), env("SUPPORT_PASSWORD"));
  await page.goto(pageUrl);
  await page.getByRole("heading", { name: "Bank reconciliation" }).waitFor();
  await lineRow(env("PAYOUT_LINE")).waitFor();
  expect(await page.getByRole("button", { name: "Import statement" }).count() === 0, "no import for support");

  log("9. match the debit by hand: pick the payout, give a reason, see the dry run, confirm");
  await lineRow(env("PAYOUT_LINE")).getByRole("button", { name: "Match by hand…" }).click();
  const dialog = page.getByRole("dialog", { name: /Match bank line #\d+ by hand/ });
  await dialog.waitFor();
  const candidate = dialog.locator(`[data-testid=candidates] tr[data-id="${env("PAYOUT_ID")}"] input`);
  await candidate.check();
  await dialog.getByRole("button", { name: "Check (dry run)" }).click();
  await dialog.getByRole("alert").filter({ hasText: "Please give a reason" }).waitFor();
  expect(await dialog.getByRole("button", { name: "Confirm match" }).isDisabled(), "no confirm before a dry run");
  await dialog.getByLabel(/Reason/).fill(env("REASON"));
  await dialog.getByRole("button", { name: "Check (dry run)" }).click();
  const dryRun = dialog.getByTestId("dry-run");
  await dryRun.waitFor();
  const dryText = await dryRun.innerText();
  expect(dryText.includes("would settle payout") && dryText.includes("$80.00"), `the server's dry run: ${dryText}`);
  expect(dryText.includes("differ by $0.00"), `the amounts to agree: ${dryText}`);
  await page.screenshot({ path: `${OUT}/reconciliation-hand-match.png` });
  await dialog.getByRole("button", { name: "Confirm match" }).click();
  await dialog.waitFor({ state: "detached" });
  const done = page.getByTestId("line-done");
  await done.waitFor();
  expect((await done.innerText()).includes("is now settled"), `the payout settled: ${await done.innerText()}`);
  await lineRow(env("PAYOUT_LINE")).waitFor({ state: "detached" });
  await page.getByText("No statement line matches these filters.").waitFor();

  log("10. the matched lines show with their state and an unmatch action");
  await page.getByLabel("State", { exact: true }).selectOption("MATCHED");
  await page.waitForURL(/state=MATCHED/);
  for (const ref of [env("PAYOUT_LINE"), env("DEPOSIT_LINE")]) {
    await lineRow(ref).waitFor();
    expect(await lineRow(ref).getAttribute("data-state") === "MATCHED", `${ref} matched`);
    expect(await lineRow(ref).getByRole("button", { name: "Unmatch…" }).count() === 1, `${ref} can be unmatched`);
  }

  log("11. the report: 2 lines, 100 % matched, nothing unmatched or unconfirmed");
  await page.getByText("The bank has confirmed every ledger item.").waitFor();
  const report = page.getByTestId("report");
  await report.waitFor();
  await settled();
  const field = async (name) => (await report.locator(`[data-field=${name}]`).innerText()).trim();
  expect(await field("lines") === "2", `2 lines booked: ${await field("lines")}`);
  expect(await field("matched-share") === "100.0 %", `all matched: ${await field("matched-share")}`);
  expect((await field("written-off")).startsWith("0"), `nothing written off: ${await field("written-off")}`);
  const counts = await page.getByTestId("Unmatched lines by age").locator("[data-field=count]").allInnerTexts();
  expect(counts.length > 0 && counts.every((c) => c.trim() === "0"), `no unmatched line in any age bucket: ${counts}`);
  const items = await page.getByTestId("Unconfirmed ledger items by age").locator("[data-field=count]").allInnerTexts();
  expect(items.every((c) => c.trim() === "0"), `no unconfirmed ledger item: ${items}`);
  await page.getByTestId("report").scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${OUT}/reconciliation-report.png`, fullPage: true });

  expect(consoleErrors.length === 0, `no uncaught errors in the page: ${consoleErrors.join("; ")}`);
  console.log("reconciliation test: all steps passed");
} catch (e) {
  await page.screenshot({ path: `${OUT}/failure.png`, fullPage: true }).catch(() => {});
  // What the page showed, for a failure seen only in CI (the screenshot stays there).
  const shown = await page.evaluate(() => document.body.innerText).catch((err) => `(unreadable: ${err})`);
  console.error(`reconciliation test: the page was ${page.url()}\n--- its text ---\n${shown}\n--- end ---`);
  // The step and the error come last: CI keeps only the tail of the output.
  console.error(`reconciliation test: FAILED at step "${step}": ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
