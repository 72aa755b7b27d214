import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState } from "react";
import { Ansi } from "../components/Ansi";
import { JsonTree } from "../components/EventDetail";
import { Filters } from "../components/Filters";
import type { Bucket } from "../components/Histogram";
import { Histogram } from "../components/Histogram";
import type { LogEvent } from "../lib/api";
import { api, qs } from "../lib/api";
import { highlight, queryTerms, termsRegex } from "../lib/highlight";
import { setParams, useRoute } from "../lib/route";
import { formatTime, useZone } from "../lib/time";
import { firstLine } from "./Tail";

const RANGES = [
  ["-15m", "15 minutes"],
  ["-1h", "hour"],
  ["-24h", "24 hours"],
  ["-7d", "7 days"],
  ["-30d", "30 days"],
  ["", "all time"],
] as const;
const PAGE = 200;
const ROW = 22;
const EXPORT_MAX = 100_000;

interface Page {
  next_cursor: string | null;
  events: LogEvent[];
}

export function filterParams(p: URLSearchParams): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const k of ["q", "from", "to", "level", "source", "file_id", "pattern_id"])
    out[k] = p.get(k) || undefined;
  return out;
}

export function SearchPage() {
  const [route] = useRoute();
  const p = route.params;
  const filters = filterParams(p);
  const key = JSON.stringify(filters);
  const order = p.get("order") === "asc" ? "asc" : "desc";
  const selected = p.get("event");
  const zone = useZone();
  const re = useMemo(() => termsRegex(queryTerms(filters.q ?? "")), [filters.q]);

  const hist = useQuery({
    queryKey: ["histogram", key],
    queryFn: ({ signal }) =>
      api<{ buckets: Bucket[]; bucket_seconds: number; total: number }>(`/api/histogram${qs(filters)}`, {
        signal,
      }),
  });
  const results = useInfiniteQuery({
    queryKey: ["events", key, order],
    initialPageParam: "",
    queryFn: ({ pageParam, signal }) =>
      api<Page>(`/api/events${qs({ ...filters, order, limit: PAGE, cursor: pageParam || undefined })}`, {
        signal,
      }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = useMemo(() => results.data?.pages.flatMap((pg) => pg.events) ?? [], [results.data]);

  const scroller = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 20,
  });
  const items = v.getVirtualItems();
  const lastItem = items[items.length - 1];
  useEffect(() => {
    if (lastItem && lastItem.index >= rows.length - 20 && results.hasNextPage && !results.isFetchingNextPage)
      void results.fetchNextPage();
  }, [lastItem, rows.length, results]);

  // Find in results: over the loaded events, not the few rows the list has drawn.
  const [find, setFind] = useState("");
  const [findAt, setFindAt] = useState(0);
  const findRe = useMemo(() => (find ? termsRegex([find], false) : null), [find]);
  const matches = useMemo(() => {
    if (!findRe) return [];
    const out: number[] = [];
    rows.forEach((ev, i) => {
      findRe.lastIndex = 0;
      if (findRe.test(ev.message)) out.push(i);
    });
    return out;
  }, [rows, findRe]);
  const current = matches.length
    ? matches[((findAt % matches.length) + matches.length) % matches.length]
    : undefined;
  useEffect(() => {
    if (current !== undefined) v.scrollToIndex(current, { align: "center" });
  }, [current, v]);

  const [cursor, setCursor] = useState(-1);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (e.key === "/" && !(t && (t.tagName === "INPUT" || t.tagName === "SELECT"))) {
        e.preventDefault();
        document.querySelector<HTMLInputElement>('[data-testid="query"]')?.focus();
        return;
      }
      if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
      if (e.key === "j" || e.key === "k") {
        setCursor((c) => {
          const next = Math.max(0, Math.min(rows.length - 1, c + (e.key === "j" ? 1 : -1)));
          v.scrollToIndex(next);
          return next;
        });
      } else if (e.key === "Enter" && rows[cursor]) setParams({ event: rows[cursor]?.id }, true);
      else if (e.key === "Escape") setParams({ event: undefined });
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [rows, cursor, v]);

  const [exporting, setExporting] = useState("");
  const doExport = async (kind: "jsonl" | "csv") => {
    setExporting("exporting…");
    try {
      const out: LogEvent[] = [];
      let cursorParam: string | undefined;
      do {
        const pg = await api<Page>(
          `/api/events${qs({ ...filters, order, limit: 1000, cursor: cursorParam })}`,
        );
        out.push(...pg.events);
        cursorParam = pg.next_cursor ?? undefined;
        setExporting(`exporting… ${out.length}`);
      } while (cursorParam && out.length < EXPORT_MAX);
      download(kind === "jsonl" ? toJsonl(out) : toCsv(out), `logpipe-events.${kind}`);
      setExporting(
        cursorParam
          ? `exported the first ${out.length} (at most ${EXPORT_MAX}): narrow the search`
          : `exported ${out.length}`,
      );
    } catch (e) {
      setExporting(`export failed: ${(e as Error).message}`);
    }
  };

  return (
    <section>
      <h1>Search</h1>
      <div className="toolbar">
        <Filters params={p} queryLabel="Query" />
      </div>
      <div className="toolbar">
        <span>Time</span>
        {RANGES.map(([value, label]) => (
          <button
            key={label}
            aria-pressed={(filters.from ?? "") === value && !filters.to}
            onClick={() => setParams({ from: value, to: undefined }, true)}
          >
            {label}
          </button>
        ))}
        <label>
          from <TimeInput value={filters.from ?? ""} onChange={(x) => setParams({ from: x }, true)} />
        </label>
        <label>
          to <TimeInput value={filters.to ?? ""} onChange={(x) => setParams({ to: x }, true)} />
        </label>
        <label>
          <select
            value={order}
            onChange={(e) => setParams({ order: e.target.value === "asc" ? "asc" : undefined })}
          >
            <option value="desc">newest first</option>
            <option value="asc">oldest first</option>
          </select>
        </label>
      </div>
      {hist.data && hist.data.buckets.length > 0 && (
        <Histogram
          buckets={hist.data.buckets}
          bucketSeconds={hist.data.bucket_seconds}
          onZoom={(a, b) => setParams({ from: a.toISOString(), to: b.toISOString() }, true)}
        />
      )}
      <div className="toolbar small">
        {hist.data && <span data-testid="total">{hist.data.total.toLocaleString()} matches</span>}
        {results.isPending && <span>searching…</span>}
        <span>
          {rows.length.toLocaleString()} loaded{results.hasNextPage ? " (more as you scroll)" : ""}
        </span>
        <label>
          Find in results{" "}
          <input
            type="search"
            value={find}
            size={16}
            data-testid="find"
            onChange={(e) => {
              setFind(e.target.value);
              setFindAt(0);
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter") setFindAt((n) => n + (e.shiftKey ? -1 : 1));
            }}
          />
        </label>
        {find && (
          <span data-testid="find-count">
            {matches.length
              ? `${(((findAt % matches.length) + matches.length) % matches.length) + 1} of ${matches.length}`
              : "none"}{" "}
            <button onClick={() => setFindAt((n) => n - 1)} aria-label="previous match">
              ↑
            </button>
            <button onClick={() => setFindAt((n) => n + 1)} aria-label="next match">
              ↓
            </button>
          </span>
        )}
        <button onClick={() => void doExport("jsonl")}>Export JSON lines</button>
        <button onClick={() => void doExport("csv")}>Export CSV</button>
        {exporting && <span>{exporting}</span>}
      </div>
      {(results.error || hist.error) && (
        <p className="error" role="alert">
          {(results.error ?? hist.error)?.message}
        </p>
      )}
      {results.isSuccess && rows.length === 0 && (
        <p className="empty">
          No event matches. Widen the time range, drop a filter, or check the query (words match whole words;
          -word excludes; fields.key=value matches a field).
        </p>
      )}
      <div className="search-body">
        <div className="log-list" ref={scroller} data-testid="results">
          <div style={{ height: v.getTotalSize(), position: "relative" }}>
            {items.map((item) => {
              const ev = rows[item.index];
              if (!ev) return null;
              const isCurrent = item.index === current;
              return (
                <div
                  key={item.key}
                  data-testid="result-row"
                  className={`row${ev.id === selected || item.index === cursor ? " selected" : ""}`}
                  style={{
                    position: "absolute",
                    top: 0,
                    left: 0,
                    right: 0,
                    height: ROW,
                    transform: `translateY(${item.start}px)`,
                  }}
                  onClick={() => {
                    setCursor(item.index);
                    setParams({ event: ev.id }, true);
                  }}
                >
                  <span className="ts">{formatTime(ev.ts, zone)}</span>
                  <span className={`lvl lvl-${ev.level ?? "none"}`}>{ev.level ?? ""}</span>
                  <span className="msg">
                    {findRe && matches.length
                      ? highlight(firstLine(ev.message), findRe, isCurrent ? "current" : undefined)
                      : highlight(firstLine(ev.message), re)}
                    {ev.line_count > 1 && <span className="small"> (+{ev.line_count - 1} lines)</span>}
                  </span>
                </div>
              );
            })}
          </div>
        </div>
        {selected && <Context id={selected} re={re} />}
      </div>
    </section>
  );
}

/** An RFC 3339 time or a relative one (-2h), applied on Enter or when the box is left. */
function TimeInput({ value, onChange }: { value: string; onChange: (v: string | undefined) => void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const apply = () => {
    if (text !== value) onChange(text.trim() || undefined);
  };
  return (
    <input
      value={text}
      size={22}
      placeholder="2026-11-30T09:00:00Z or -2h"
      onChange={(e) => setText(e.target.value)}
      onBlur={apply}
      onKeyDown={(e) => {
        if (e.key === "Enter") apply();
      }}
    />
  );
}

interface ContextAnswer {
  event: LogEvent;
  before: LogEvent[];
  after: LogEvent[];
}

/** An event with the events around it in its file, as `grep -C` shows a match. */
function Context({ id, re }: { id: string; re: RegExp | null }) {
  const zone = useZone();
  const [n, setN] = useState(10);
  const q = useQuery({
    queryKey: ["context", id, n],
    queryFn: ({ signal }) =>
      api<ContextAnswer>(`/api/events/${encodeURIComponent(id)}${qs({ before: n, after: n })}`, { signal }),
  });
  const line = (ev: LogEvent, hit: boolean) => (
    <div key={ev.id} className={`context-line${hit ? " hit" : ""}`} id={hit ? "context-hit" : undefined}>
      <span className="small">{String(ev.line).padStart(6)}</span>{" "}
      <span className={`lvl-${ev.level ?? "none"}`}>{formatTime(ev.ts, zone)}</span>{" "}
      {hit ? highlight(ev.message, re) : <Ansi text={ev.message} />}
    </div>
  );
  return (
    <aside className="context" data-testid="context" aria-label="the event in its file">
      <div className="toolbar small">
        <b>In its file</b>
        <button onClick={() => setN((x) => x + 20)}>more lines</button>
        <button onClick={() => setParams({ event: undefined })} aria-label="close">
          ✕
        </button>
      </div>
      {q.error && <p className="error">{q.error.message}</p>}
      {q.data && (
        <pre>
          {q.data.before.map((ev) => line(ev, false))}
          {line(q.data.event, true)}
          {q.data.after.map((ev) => line(ev, false))}
        </pre>
      )}
      {q.data?.event.fields && <JsonTree value={q.data.event.fields} />}
    </aside>
  );
}

function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function toJsonl(events: LogEvent[]): string {
  return events.map((e) => JSON.stringify(e)).join("\n") + (events.length ? "\n" : "");
}

const CSV_COLUMNS = ["ts", "level", "source", "file_id", "line", "message", "fields"] as const;

export function toCsv(events: LogEvent[]): string {
  const cell = (v: unknown): string => {
    const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [CSV_COLUMNS.join(",")];
  for (const e of events) lines.push(CSV_COLUMNS.map((c) => cell(e[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}
