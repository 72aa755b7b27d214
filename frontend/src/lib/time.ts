// Every time on the page follows one timezone choice: the browser's, UTC, or any IANA zone.
import { createContext, useContext } from "react";

export const BROWSER = "browser";
const ZONE_KEY = "logpipe.tz";

export function storedZone(): string {
  try {
    return localStorage.getItem(ZONE_KEY) ?? BROWSER;
  } catch {
    return BROWSER;
  }
}

export function storeZone(zone: string): void {
  localStorage.setItem(ZONE_KEY, zone);
}

export function isZone(zone: string): boolean {
  if (zone === BROWSER) return true;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("sv-SE", {
      timeZone: zone === BROWSER ? undefined : zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      fractionalSecondDigits: 3,
      hour12: false,
    });
    formatters.set(zone, f);
  }
  return f;
}

/** `2026-11-30 14:05:00.123` in `zone`; "" for no time. */
export function formatTime(iso: string | null | undefined, zone: string): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return formatter(zone).format(d).replace(",", ".");
}

export const ZoneContext = createContext<string>(BROWSER);

export function useZone(): string {
  return useContext(ZoneContext);
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
