/* global document, window, requestAnimationFrame */
// Figures of the web app in headless Chromium, printed as `name: value` lines:
//   node bench/ui.mjs first-render URL TOKEN
//   node bench/ui.mjs upload URL TOKEN FILE
//   node bench/ui.mjs tail RATE SECONDS   (a synthetic stream at RATE events/s, see below)
import { readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { launch } from "../e2e/lib.mjs";

const [what, ...args] = process.argv.slice(2);
const DIST = new URL("../dist/", import.meta.url).pathname;

async function firstRender(url, token) {
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const browser = await launch();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${url}/#token=${encodeURIComponent(token)}`);
    await page.locator("nav").waitFor();
    runs.push(
      await page.evaluate(() => ({
        first: performance.getEntriesByName("logpipe:first-render")[0]?.startTime ?? NaN,
        ready: performance.getEntriesByName("logpipe:ready")[0]?.startTime ?? NaN,
        dcl: performance.getEntriesByType("navigation")[0]?.domContentLoadedEventEnd ?? NaN,
      })),
    );
    await browser.close();
  }
  const med = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[2];
  console.log(`first_render_ms: ${med("first").toFixed(0)}`);
  console.log(`usable_after_api_ms: ${med("ready").toFixed(0)}`);
  console.log(`dom_content_loaded_ms: ${med("dcl").toFixed(0)}`);
}

async function upload(url, token, file) {
  const size = statSync(file).size;
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${url}/#token=${encodeURIComponent(token)}`);
  await page.locator("nav").waitFor();
  await page.goto(`${url}/#/upload`);
  const started = Date.now();
  await page.locator('[data-testid="file-input"]').setInputFiles(file);
  // Progress as the page shows it, sampled as it changes.
  const seen = new Set();
  const row = page.locator('[data-testid="upload-row"]');
  await row.waitFor();
  for (;;) {
    const txt = await row
      .locator('[data-testid="upload-progress"]')
      .textContent({ timeout: 1000 })
      .catch(() => null);
    if (txt) seen.add(txt);
    if ((await row.getAttribute("data-uploaded")) === "true") break;
    await page.waitForTimeout(250); // a sampling interval for the figure, not a synchronisation
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`upload_bytes: ${size}`);
  console.log(`upload_seconds: ${secs.toFixed(1)}`);
  console.log(`upload_mb_per_s: ${(size / 1048576 / secs).toFixed(1)}`);
  console.log(`upload_progress_values_shown: ${seen.size}`);
  await page.screenshot({ path: new URL("../test-output/bench-upload.png", import.meta.url).pathname });
  await browser.close();
}

/** The built app against a synthetic API whose stream sends `rate` events a second for
 * `secs` seconds in the API's own format, so that the page, not the server, is measured. */
async function tail(rate, secs) {
  const levels = ["debug", "info", "info", "info", "warn", "error"];
  let sent = 0;
  const server = createServer((req, res) => {
    const path = req.url.split("?")[0];
    if (path === "/api/stream-token") return json(res, { token: "t", expires_at: 0 });
    if (path === "/api/files") return json(res, { files: [{ id: "f", name: "bench.log", status: "done" }] });
    if (path === "/api/stream") {
      if (req.url.includes("only=file")) {
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        return;
      }
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      const t0 = Date.now();
      const timer = setInterval(() => {
        const due = Math.min(Math.floor(((Date.now() - t0) / 1000) * rate), rate * secs);
        const out = [];
        for (; sent < due; sent++) {
          const ev = {
            id: `f:${sent}`,
            file_id: "f",
            line: sent,
            line_count: sent % 50 === 0 ? 3 : 1,
            ts: new Date().toISOString(),
            level: levels[sent % levels.length],
            source: "bench",
            format: "app",
            message: `request ${sent} served in ${sent % 997} ms for user ${sent % 113}\u001b[32m ok\u001b[0m`,
            pattern_id: "p",
            fields: { n: sent },
          };
          out.push(`id: ${sent}\nevent: log\ndata: ${JSON.stringify(ev)}\n\n`);
        }
        if (out.length) res.write(out.join(""));
        if (sent >= rate * secs) clearInterval(timer);
      }, 10);
      req.on("close", () => clearInterval(timer));
      return;
    }
    const file = normalize(join(DIST, path === "/" ? "index.html" : path));
    if (!file.startsWith(DIST)) return res.writeHead(404).end();
    try {
      const body = readFileSync(file);
      const type =
        { ".js": "text/javascript", ".css": "text/css", ".html": "text/html" }[extname(file)] ?? "";
      res.writeHead(200, { "Content-Type": type }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${url}/#token=t`);
  await page.locator("nav").waitFor();
  await page.goto(`${url}/#/tail`);
  await page.locator('[data-testid="tail-state"]', { hasText: "open" }).waitFor();
  // Frames drawn while the stream runs, and the long ones (over 50 ms: a visible stall).
  await page.evaluate(() => {
    const w = window;
    w.__frames = [];
    const loop = (t) => {
      w.__frames.push(t);
      if (!w.__stopFrames) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  });
  const total = rate * secs;
  if (process.env.DEBUG_BENCH)
    setInterval(
      async () =>
        console.log(
          "received",
          await page
            .locator('[data-testid="received"]')
            .innerText()
            .catch(() => "?"),
          "sent",
          sent,
        ),
      2000,
    ).unref();
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="received"]')?.textContent) >= n,
    total,
    { timeout: (secs + 60) * 1000, polling: 200 },
  );
  const f = await page.evaluate(() => {
    window.__stopFrames = true;
    const t = window.__frames;
    const gaps = t.slice(1).map((x, i) => x - t[i]);
    return {
      frames: t.length,
      span: t[t.length - 1] - t[0],
      over50: gaps.filter((g) => g > 50).length,
      over33: gaps.filter((g) => g > 34).length,
      worst: Math.max(...gaps),
    };
  });
  const shown = Number(await page.locator('[data-testid="shown"]').innerText());
  const dropped = Number(
    (
      await page
        .locator('[data-testid="dropped"]')
        .textContent()
        .catch(() => "0")
    ).replace(/\D.*/s, "") || 0,
  );
  await page.screenshot({ path: new URL(`../test-output/bench-tail-${rate}.png`, import.meta.url).pathname });
  console.log(`tail_rate_events_per_s: ${rate}`);
  console.log(`tail_events_received: ${total}`);
  console.log(`tail_shown_plus_dropped_from_view: ${shown + dropped}`);
  console.log(`tail_fps: ${((f.frames / f.span) * 1000).toFixed(1)}`);
  console.log(`tail_frames_over_34ms: ${f.over33} of ${f.frames}`);
  console.log(`tail_frames_over_50ms: ${f.over50}`);
  console.log(`tail_worst_frame_ms: ${f.worst.toFixed(0)}`);
  await browser.close();
  server.close();
  server.closeAllConnections();
}

function json(res, body) {
  res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

if (what === "first-render") await firstRender(args[0], args[1]);
else if (what === "upload") await upload(args[0], args[1], args[2]);
else if (what === "tail") await tail(Number(args[0]), Number(args[1] ?? 10));
else throw new Error("usage: ui.mjs first-render|upload|tail ...");
