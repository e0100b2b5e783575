// What the browser scripts share: reading their settings, failing a step,
// and starting Debian's headless chromium through playwright-core the same
// way (no sandbox as root, no background traffic of chromium's own).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

/** The value of environment variable `name`; throws when it is unset. */
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing ${name}`);
  return value;
};

/** OUT_DIR (screenshots), made when missing. */
export const outDir = () => {
  const out = env("OUT_DIR");
  mkdirSync(out, { recursive: true });
  return out;
};

/** Throws `expected <what>` unless `cond` holds. */
export function expect(cond, what) { if (!cond) throw new Error(`expected ${what}`); }

/** Headless chromium at CHROMIUM (default /usr/bin/chromium). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
