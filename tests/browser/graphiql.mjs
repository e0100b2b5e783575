// GraphiQL in a real browser with no internet: Debian's headless chromium,
// driven by playwright-core, where every request to an address other than
// the server is blocked. tests/api/graphiql.rs starts the server and runs
// this script with BASE_URL, TOKEN (a staff session token), OUT_DIR
// (screenshots) and CHROMIUM. It opens /graphiql, types a query, runs it and
// sees UNAUTHENTICATED, adds the bearer header in the Headers tab, runs it
// again and sees the answer. Any failed expectation throws: the process
// exits non-zero with the step that failed.
import { env, expect, launchChromium, outDir } from "./browser.mjs";

const BASE = env("BASE_URL");
const TOKEN = env("TOKEN");
const OUT = outDir();

let step = "start";
const log = (s) => { step = s; console.log(`graphiql test: ${s}`); };

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const blocked = [];
const served = [];
// No internet: only the server answers.
await context.route("**/*", (route) => {
  const url = route.request().url();
  if (url.startsWith(BASE)) {
    served.push(url);
    return route.continue();
  }
  blocked.push(url);
  return route.abort("internetdisconnected");
});
const page = await context.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });

// Types into a CodeMirror editor as a person does: click, select all, type.
async function typeInto(editor, text) {
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(text);
}

const response = page.locator(".graphiql-response");
try {
  log("open GraphiQL");
  await page.goto(`${BASE}/graphiql`);
  await page.locator(".graphiql-container").waitFor({ timeout: 30000 });
  const query = page.locator(".graphiql-query-editor .CodeMirror").first();
  await query.waitFor();

  log("run a query without a token");
  await typeInto(query, "{ me { kind username role } }");
  await page.locator("button.graphiql-execute-button").click();
  await page.waitForFunction(
    () => document.querySelector(".graphiql-response")?.textContent.includes("UNAUTHENTICATED"),
    null, { timeout: 15000 });

  log("add the bearer header and run it again");
  await page.getByRole("button", { name: "Headers" }).click();
  const headers = page.locator(".graphiql-editor-tool .CodeMirror").last();
  await headers.waitFor();
  await typeInto(headers, `{"Authorization": "Bearer ${TOKEN}"`);
  await page.locator("button.graphiql-execute-button").click();
  await page.waitForFunction(
    () => document.querySelector(".graphiql-response")?.textContent.includes("\"username\": \"admin\""),
    null, { timeout: 15000 });
  const shown = await response.textContent();
  expect(shown.includes("\"kind\": \"STAFF\"") || shown.includes("STAFF"), `the answer names a staff caller: ${shown}`);
  expect(!shown.includes("UNAUTHENTICATED"), `no error with the token: ${shown}`);
  await page.screenshot({ path: `${OUT}/graphiql.png` });

  log("check what the page fetched");
  expect(errors.length === 0, `no page errors or CSP violations: ${errors.join("; ")}`);
  expect(served.some((u) => u.includes("/graphiql/assets/graphiql.min.js")), "GraphiQL came from the server");
  console.log(`graphiql test: ${served.length} requests to the server, ${blocked.length} blocked: ${blocked.join(" ")}`);
  expect(blocked.length === 0, `the page asked for nothing outside the server: ${blocked.join(" ")}`);
  log("done");
} catch (e) {
  console.error(`graphiql test failed at "${step}": ${e.stack || e}`);
  await page.screenshot({ path: `${OUT}/failure.png` }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
