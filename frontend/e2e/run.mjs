/* global document, window, location, DataTransfer, DragEvent, getComputedStyle */
// End-to-end tests of the web app in headless Chromium against a running logpipe
// (LOGPIPE_URL, LOGPIPE_TOKEN): real uploads to the bucket, real parsing, the real stream.
// Prints one line per test and "N passed, N failed"; screenshots go to test-output/.
import { mkdirSync } from "node:fs";
import { createHmac, randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { launch, uploadViaApi } from "./lib.mjs";

const BASE = process.env.LOGPIPE_URL;
const TOKEN = process.env.LOGPIPE_TOKEN;
const OUT = process.env.LOGPIPE_SCREENSHOTS || new URL("../test-output/", import.meta.url).pathname;
const ONLY = process.env.LOGPIPE_E2E_ONLY || "";
const GITHUB_SECRET = process.env.LOGPIPE_GITHUB_SECRET || "";
if (!BASE || !TOKEN) throw new Error("set LOGPIPE_URL and LOGPIPE_TOKEN");
mkdirSync(OUT, { recursive: true });

const run = `r${Date.now().toString(36)}`;

/** A log file whose counts are known by construction: `n` INFO lines, `errors` ERROR
 * lines each followed by a 3-line traceback (one event of 4 lines). The tag goes last: a
 * word that every line has in one place is a column to the layout finder, not the message. */
function logFile(tag, n, errors) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = String(i % 60).padStart(2, "0");
    out.push(`2026-11-30T10:00:${s}Z INFO ${served(tag, i)}`);
    if (i < errors) {
      out.push(`2026-11-30T10:00:${s}Z ERROR handler failed for request ${i} of ${tag}`);
      out.push("Traceback (most recent call last):");
      out.push('  File "app.py", line 12, in handle');
      out.push(`ValueError: bad request ${i}`);
    }
  }
  return { text: out.join("\n") + "\n", lines: n + errors * 4, events: n + errors, errors };
}

function served(tag, i) {
  return `request ${i} served in ${i % 97} ms for ${tag}`;
}

const results = [];
async function test(name, fn) {
  if (ONLY && !name.includes(ONLY)) return;
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const started = Date.now();
  try {
    await fn(page, context);
    if (problems.length) throw new Error(problems.join("; "));
    results.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e.stack || e}`);
    await page.screenshot({ path: `${OUT}/FAIL-${name.replace(/\W+/g, "-")}.png` }).catch(() => {});
  } finally {
    await browser.close();
  }
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function signIn(page, hash = "") {
  await page.goto(`${BASE}/#token=${encodeURIComponent(TOKEN)}`);
  await page.locator("nav").waitFor();
  if (hash) await page.goto(`${BASE}/${hash}`);
}

async function uploadThroughPage(page, name, body, mimeType = "text/plain") {
  await page.goto(`${BASE}/#/upload`);
  await page
    .locator('[data-testid="file-input"]')
    .setInputFiles({ name, mimeType, buffer: Buffer.from(body) });
  const row = page.locator('[data-testid="upload-row"]', { hasText: name });
  await row
    .locator(
      '[data-testid="parse-status"][data-status="done"], [data-testid="parse-status"][data-status="failed"]',
    )
    .waitFor({ timeout: 90_000 });
  return row;
}

async function counts(row) {
  const n = async (id) => Number((await row.locator(`[data-testid="${id}"]`).innerText()).replace(/\D/g, ""));
  return { lines: await n("lines"), events: await n("events"), errors: await n("errors") };
}

await test("token link signs in and leaves the address bar", async (page) => {
  await page.goto(`${BASE}/#token=${encodeURIComponent(TOKEN)}`);
  await page.locator("nav").waitFor();
  check(!page.url().includes(TOKEN), `the token is still in the address: ${page.url()}`);
  check(
    (await page.evaluate(() => localStorage.getItem("logpipe.token"))) === TOKEN,
    "the token was not kept",
  );
});

await test("token prompt: a wrong token is refused, the right one signs in", async (page) => {
  await page.goto(`${BASE}/`);
  await page.getByLabel("API token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("The API refused this token").waitFor();
  await page.screenshot({ path: `${OUT}/token-prompt.png` });
  await page.getByLabel("API token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("nav").waitFor();
});

await test("API down: the page says the API is unreachable", async (page) => {
  await signIn(page);
  await page.route("**/api/**", (route) => route.abort("connectionrefused"));
  await page.reload();
  await page.getByText("logpipe is unreachable").waitFor();
  await page.screenshot({ path: `${OUT}/api-down.png` });
  await page.unroute("**/api/**");
  await page.getByRole("button", { name: "Try again" }).click();
  await page.locator("nav").waitFor();
});

await test("upload a file through the page: done with the right counts", async (page) => {
  await signIn(page);
  const f = logFile(`${run}plain`, 300, 7);
  const row = await uploadThroughPage(page, `${run}-plain.log`, f.text);
  check(
    (await row.locator('[data-testid="parse-status"]').getAttribute("data-status")) === "done",
    "not done",
  );
  const got = await counts(row);
  check(
    JSON.stringify(got) === JSON.stringify({ lines: f.lines, events: f.events, errors: f.errors }),
    `counts ${JSON.stringify(got)}, expected ${JSON.stringify(f)}`,
  );
  await page.screenshot({ path: `${OUT}/upload.png` });
  await row.locator('[data-testid="events-link"]').click();
  await page.locator('[data-testid="result-row"]').first().waitFor();
});

await test("upload a gzip file: done with the same counts as plain", async (page) => {
  await signIn(page);
  const f = logFile(`${run}gz`, 200, 3);
  const row = await uploadThroughPage(page, `${run}-gz.log.gz`, gzipSync(f.text), "application/gzip");
  const got = await counts(row);
  check(
    JSON.stringify(got) === JSON.stringify({ lines: f.lines, events: f.events, errors: f.errors }),
    `counts ${JSON.stringify(got)}, expected ${JSON.stringify(f)}`,
  );
});

await test("a file above the multipart threshold goes in parts, with the right counts", async (page) => {
  await signIn(page);
  const f = logFile(`${run}multi`, 150_000, 40); // about 11 MiB: 3 parts of 5 MiB under the test's settings
  const row = await uploadThroughPage(page, `${run}-multi.log`, f.text);
  const got = await counts(row);
  check(
    JSON.stringify(got) === JSON.stringify({ lines: f.lines, events: f.events, errors: f.errors }),
    `counts ${JSON.stringify(got)}, expected lines ${f.lines}, events ${f.events}, errors ${f.errors}`,
  );
});

await test("an upload the bucket did not take says so, and Retry sends it again, once", async (page) => {
  await signIn(page);
  let asked = 0;
  // The first request to the bucket (another origin than the API's) fails as a dropped connection would.
  await page.route(
    (url) => url.origin !== new URL(BASE).origin,
    (route) => (asked++ === 0 ? route.abort("connectionreset") : route.continue()),
  );
  const name = `${run}-retry.log`;
  const f = logFile(`${run}retry`, 50, 2);
  await page.goto(`${BASE}/#/upload`);
  await page
    .locator('[data-testid="file-input"]')
    .setInputFiles({ name, mimeType: "text/plain", buffer: Buffer.from(f.text) });
  const row = page.locator('[data-testid="upload-row"]', { hasText: name });
  await row.getByText("upload failed: the bucket at").waitFor();
  await row.getByRole("button", { name: "Retry" }).click();
  await row.locator('[data-testid="parse-status"][data-status="done"]').waitFor({ timeout: 90_000 });
  const got = await counts(row);
  check(got.events === f.events && got.lines === f.lines, `counts ${JSON.stringify(got)} after a retry`);
  const files = await page.evaluate(async (token) => {
    const r = await fetch("/api/files?limit=1000", { headers: { Authorization: `Bearer ${token}` } });
    return (await r.json()).files;
  }, TOKEN);
  check(files.filter((x) => x.name === name).length === 1, "the retry recorded the file twice");
});

await test("a file that fails says why", async (page) => {
  await signIn(page);
  // gzip's magic bytes, then bytes no gzip stream holds
  const bad = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(64, 0xff)]);
  const row = await uploadThroughPage(page, `${run}-broken.gz`, bad, "application/gzip");
  check(
    (await row.locator('[data-testid="parse-status"]').getAttribute("data-status")) === "failed",
    "not failed",
  );
  const reason = await row.locator('[data-testid="fail-reason"]').innerText();
  check(reason.length > 5, `no reason shown: ${reason}`);
  await page.screenshot({ path: `${OUT}/upload-failed.png` });
});

await test("files page lists the uploads with their status", async (page) => {
  await signIn(page, "#/files");
  await page.locator('[data-testid="file-row"]', { hasText: `${run}-plain.log` }).waitFor();
  await page.screenshot({ path: `${OUT}/files.png` });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${OUT}/files-phone.png` });
});

await test("live tail shows lines written after it opened and loses none across a pause", async (page) => {
  await signIn(page, "#/tail");
  await page.locator('[data-testid="tail-state"]', { hasText: "open" }).waitFor();
  const a = logFile(`${run}tailA`, 40, 0);
  await uploadViaApi(BASE, TOKEN, `${run}-tailA.log`, a.text);
  await page
    .locator('[data-testid="tail-row"]', { hasText: served(`${run}tailA`, 0) })
    .waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="received"]')?.textContent) >= n,
    a.events,
  );
  await page.screenshot({ path: `${OUT}/tail.png` });
  const before = Number(await page.locator('[data-testid="received"]').innerText());
  await page.locator('[data-testid="tail-list"]').focus();
  await page.keyboard.press("Space");
  await page.locator('[data-testid="pending"]').waitFor();
  const b = logFile(`${run}tailB`, 120, 2);
  await uploadViaApi(BASE, TOKEN, `${run}-tailB.log`, b.text);
  await page.waitForFunction(
    (n) =>
      (document.querySelector('[data-testid="pending"]')?.textContent ?? "").includes(`paused: ${n} new`),
    b.events,
    { timeout: 60_000 },
  );
  const shownPaused = Number(await page.locator('[data-testid="shown"]').innerText());
  check(shownPaused === before, `the screen moved while paused: ${shownPaused} rows, ${before} before`);
  await page.screenshot({ path: `${OUT}/tail-paused.png` });
  await page.keyboard.press("Space");
  const shown = Number(await page.locator('[data-testid="shown"]').innerText());
  check(shown === before + b.events, `after resuming ${shown} rows, expected ${before} + ${b.events}`);
  await page.locator('[data-testid="tail-row"]', { hasText: served(`${run}tailB`, 119) }).waitFor();
  // an event opens to its whole body
  await page.locator('[data-testid="tail-row"]', { hasText: served(`${run}tailB`, 119) }).click();
  await page.locator('[data-testid="event-body"]').first().waitFor();
});

await test("search finds the line and its context opens", async (page) => {
  await signIn(page, `#/search?q=${encodeURIComponent(`${run}tailB failed`)}`);
  const hit = page.locator('[data-testid="result-row"]', { hasText: "handler failed for request 1" });
  await hit.waitFor({ timeout: 60_000 });
  await hit.locator("mark").first().waitFor();
  await page.screenshot({ path: `${OUT}/search.png` });
  await hit.click();
  const ctx = page.locator('[data-testid="context"]');
  await ctx.waitFor();
  await ctx.getByText("ValueError: bad request 1").first().waitFor();
  await ctx.getByText(served(`${run}tailB`, 2)).waitFor();
  await page.screenshot({ path: `${OUT}/search-context.png` });
});

await test("find in results reaches a match the virtualised list has not drawn", async (page) => {
  await signIn(page, `#/search?q=${encodeURIComponent(`${run}tailB`)}&order=asc`);
  await page.locator('[data-testid="result-row"]').first().waitFor();
  check(
    (await page.getByText("request 118 served").count()) === 0,
    "the last rows were drawn before scrolling",
  );
  await page.locator('[data-testid="find"]').fill("request 118 served");
  await page.locator('[data-testid="find-count"]', { hasText: "1 of 1" }).waitFor();
  await page.locator("mark.current", { hasText: "request 118 served" }).waitFor();
});

await test("dragging across the histogram zooms the time range", async (page) => {
  await signIn(page, `#/search?q=${encodeURIComponent(`${run}tailB`)}&from=-2d`);
  const chart = page.locator('[data-testid="histogram"] .u-over');
  await chart.waitFor();
  const box = await chart.boundingBox();
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => /from=20\d\d-/.test(location.hash) && /to=20\d\d-/.test(location.hash));
});

await test("every time follows the time zone chosen", async (page) => {
  await signIn(page, `#/search?q=${encodeURIComponent(`${run}tailB failed`)}`);
  const ts = page.locator('[data-testid="result-row"] .ts').first();
  await page.getByLabel("Time zone").fill("UTC");
  await page.locator('[data-testid="result-row"] .ts', { hasText: "2026-11-30 10:00:01" }).first().waitFor();
  await page.getByLabel("Time zone").fill("Asia/Tokyo");
  await page.locator('[data-testid="result-row"] .ts', { hasText: "2026-11-30 19:00:01" }).first().waitFor();
  check((await ts.innerText()).startsWith("2026-11-30 19:00"), "the row did not follow the zone");
});

await test("files dropped on any page upload", async (page) => {
  await signIn(page, "#/tail");
  const name = `${run}-dropped.log`;
  const text = logFile(`${run}drop`, 10, 1).text;
  await page.evaluate(
    ([n, t]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([t], n, { type: "text/plain" }));
      for (const type of ["dragenter", "dragover", "drop"])
        document.body.dispatchEvent(
          new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }),
        );
    },
    [name, text],
  );
  const row = page.locator('[data-testid="upload-row"]', { hasText: name });
  await row.locator('[data-testid="parse-status"][data-status="done"]').waitFor({ timeout: 90_000 });
  check(page.url().includes("#/upload"), `not on the upload page: ${page.url()}`);
});

await test("new patterns: what one file has that another lacks", async (page) => {
  await signIn(page, "#/files");
  const ids = await page.evaluate(
    async ([token, names]) => {
      const r = await fetch("/api/files?limit=100", { headers: { Authorization: `Bearer ${token}` } });
      const files = (await r.json()).files;
      return names.map((n) => files.find((f) => f.name === n)?.id);
    },
    [TOKEN, [`${run}-tailB.log`, `${run}-tailA.log`]],
  );
  await page.goto(`${BASE}/#/patterns?file_id=${ids[0]}&base=${ids[1]}`);
  const rows = page.locator('[data-testid="pattern-row"]');
  await rows.first().waitFor();
  check((await rows.count()) === 1, `expected one new pattern, got ${await rows.count()}`);
  await rows.locator("code", { hasText: "handler failed for request" }).waitFor();
  await page.screenshot({ path: `${OUT}/patterns-new.png` });
});

await test("each page at phone width and in the dark", async (page) => {
  await signIn(page);
  await page.setViewportSize({ width: 390, height: 844 });
  for (const p of ["upload", "files", "tail", "search", "patterns", "github"]) {
    await page.goto(`${BASE}/#/${p}`);
    await page.locator("h1").waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `${p} is ${overflow}px wider than a phone`);
    await page.screenshot({ path: `${OUT}/${p}-phone.png` });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(`${BASE}/#/tail`);
  await page.locator("h1").waitFor();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg === "rgb(20, 23, 29)", `the dark theme did not apply: ${bg}`);
  await page.screenshot({ path: `${OUT}/tail-dark.png` });
});

if (GITHUB_SECRET)
  await test("a signed GitHub delivery shows on the GitHub page with its outcome", async (page) => {
    const id = randomUUID();
    const body = JSON.stringify({
      action: "completed",
      check_run: { id: 42, name: `${run} build`, status: "completed", conclusion: "failure" },
      repository: { full_name: "octo-org/octo-repo" },
      sender: { login: "ana" },
    });
    const signature = "sha256=" + createHmac("sha256", GITHUB_SECRET).update(body).digest("hex");
    const res = await fetch(`${BASE}/webhook/github`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-GitHub-Event": "check_run",
        "X-GitHub-Delivery": id,
        "X-Hub-Signature-256": signature,
      },
      body,
    });
    check(res.status === 202, `the webhook answered ${res.status}: ${await res.text()}`);
    await signIn(page, "#/github?event=check_run");
    const row = page.locator('[data-testid="delivery-row"]', { hasText: "octo-org/octo-repo" }).first();
    await row.waitFor();
    await row.click();
    await page.locator('[data-testid="outcome"]', { hasText: "failure" }).waitFor();
    check(page.url().includes(`delivery=${id}`), `the delivery is not in the address: ${page.url()}`);
    await page.screenshot({ path: `${OUT}/github.png` });
  });

await test("patterns page shows top patterns", async (page) => {
  await signIn(page, "#/patterns");
  await page.locator('[data-testid="pattern-row"]').first().waitFor({ timeout: 60_000 });
  await page.screenshot({ path: `${OUT}/patterns.png` });
});

const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
