// Talking to the logpipe API: the token, JSON requests and errors a person can act on.

const TOKEN_KEY = "logpipe.token";

/** Where the API answers: the page's own origin (the local runner), or VITE_API_BASE
 * when the app is deployed as static files beside an API elsewhere. */
export const API_BASE: string = (import.meta.env.VITE_API_BASE as string | undefined) ?? "";

export type ErrorKind = "unreachable" | "unauthorized" | "client" | "server";

export class ApiError extends Error {
  readonly kind: ErrorKind;
  readonly status: number;
  constructor(kind: ErrorKind, status: number, message: string) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(token: string): void {
  localStorage.setItem(TOKEN_KEY, token.trim());
}

export function clearToken(): void {
  localStorage.removeItem(TOKEN_KEY);
}

/** Take `#token=...` from the address (the link `logpipe run` prints), keep it, and
 * remove it from the address bar and the history. True if one was there. */
export function adoptTokenFromHash(loc: Location = window.location, hist: History = window.history): boolean {
  const m = /^#token=([^&]+)/.exec(loc.hash);
  if (!m || !m[1]) return false;
  setToken(decodeURIComponent(m[1]));
  hist.replaceState(null, "", loc.pathname + loc.search + "#/");
  return true;
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${getToken()}`);
  if (init.body && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  let res: Response;
  try {
    res = await fetch(API_BASE + path, { ...init, headers });
  } catch {
    if (init.signal?.aborted) throw new DOMException("aborted", "AbortError");
    throw new ApiError(
      "unreachable",
      0,
      `The logpipe API at ${API_BASE || window.location.origin} is unreachable.`,
    );
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const said =
      body && typeof body === "object" && "error" in body ? String((body as { error: unknown }).error) : "";
    if (res.status === 401) throw new ApiError("unauthorized", 401, said || "the API token is wrong");
    const kind: ErrorKind = res.status >= 500 ? "server" : "client";
    throw new ApiError(kind, res.status, said || `HTTP ${res.status}`);
  }
  return body as T;
}

/** The query string of the parameters that have a value. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") out.set(k, String(v));
  const s = out.toString();
  return s ? `?${s}` : "";
}

export const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type Level = (typeof LEVELS)[number];

export interface LogEvent {
  id: string;
  file_id: string;
  line: number;
  line_count: number;
  ts: string | null;
  ts_inferred?: boolean;
  level: Level | null;
  source: string | null;
  format: string | null;
  message: string;
  pattern_id: string | null;
  fields: Record<string, unknown> | null;
}

export interface FileInfo {
  id: string;
  name: string;
  size: number | null;
  status: string;
  lines: number | null;
  events: number | null;
  errors: number | null;
  created_at: string;
  finished_at: string | null;
  error: string | null;
  truncated_lines?: number | null;
  format?: string | null;
  timezone?: string | null;
}

export const FINAL_STATUSES = new Set(["done", "failed"]);
