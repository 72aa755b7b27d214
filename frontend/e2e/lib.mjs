// Helpers of the browser tests: Debian's Chromium driven by playwright-core, uploads
// through the API as a client would, and a waiting helper that fails loudly.
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.LOGPIPE_CHROMIUM || "/usr/bin/chromium";

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** Upload `bytes` as `name` through the API's presigned POST, as the page would. */
export async function uploadViaApi(base, token, name, bytes) {
  const res = await fetch(`${base}/api/uploads`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ filename: name, size: bytes.length, content_type: "text/plain" }),
  });
  if (!res.ok) throw new Error(`POST /api/uploads: ${res.status} ${await res.text()}`);
  const { file_id, upload } = await res.json();
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append("file", new Blob([bytes]), name);
  const put = await fetch(upload.url, { method: "POST", body: form });
  if (!put.ok) throw new Error(`upload to the bucket: ${put.status} ${await put.text()}`);
  return file_id;
}

export async function waitFor(what, check, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
