import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useCallback, useEffect, useLayoutEffect, useReducer, useRef, useState } from "react";
import { Ansi } from "../components/Ansi";
import { EventDetail } from "../components/EventDetail";
import { Filters } from "../components/Filters";
import type { LogEvent } from "../lib/api";
import { useRoute } from "../lib/route";
import { openStream } from "../lib/stream";
import { TailBuffer } from "../lib/tailBuffer";
import { formatTime, useZone } from "../lib/time";

export const TAIL_CAPACITY = 10_000;
// The screen takes what arrived at most this often: at thousands of events a second a
// redraw per batch, not per event nor per frame, leaves the browser time to scroll.
const BATCH_MS = 100;
const ROW = 22;

export function TailPage() {
  const [route] = useRoute();
  const p = route.params;
  const filter = {
    level: p.get("level") ?? undefined,
    source: p.get("source") ?? undefined,
    file_id: p.get("file_id") ?? undefined,
    q: p.get("q") ?? undefined,
  };
  const key = JSON.stringify(filter);
  const buffer = useRef(new TailBuffer(TAIL_CAPACITY));
  const incoming = useRef<LogEvent[]>([]);
  const [following, setFollowing] = useState(true);
  const followingRef = useRef(true);
  const [state, setState] = useState("connecting");
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [cursor, setCursor] = useState(-1);
  const zone = useZone();
  const scroller = useRef<HTMLDivElement>(null);

  // Events arrive one by one; the screen takes them in batches, in a frame, every BATCH_MS at most.
  useEffect(() => {
    let frame = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    buffer.current = new TailBuffer(TAIL_CAPACITY); // other filters: another tail
    incoming.current = [];
    const flush = () => {
      frame = 0;
      last = performance.now();
      const batch = incoming.current;
      incoming.current = [];
      buffer.current.add(batch, followingRef.current);
      redraw();
    };
    const close = openStream(JSON.parse(key) as Record<string, string | undefined>, {
      onEvent: (ev) => {
        incoming.current.push(ev);
        if (frame || timer) return;
        const wait = last + BATCH_MS - performance.now();
        if (wait <= 0) frame = requestAnimationFrame(flush);
        else
          timer = setTimeout(() => {
            timer = undefined;
            frame = requestAnimationFrame(flush);
          }, wait);
      },
      onState: (s, detail) => setState(detail ? `${s}: ${detail}` : s),
    });
    return () => {
      close();
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [key]);

  const toggle = useCallback(() => {
    const next = !followingRef.current;
    followingRef.current = next;
    if (next) buffer.current.resume();
    setFollowing(next);
  }, []);

  const rows = buffer.current.rows;
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 30,
    getItemKey: (i) => rows[i]?.id ?? i,
  });

  // Following: stay at the bottom (one write of scrollTop, not a search for the row).
  useLayoutEffect(() => {
    const el = scroller.current;
    if (following && el) el.scrollTop = el.scrollHeight;
  });

  // Space: follow/pause; j/k: move; Enter: open.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
      if (e.key === " " && t?.tagName === "BUTTON") return; // the focused button takes its own space
      if (e.key === " ") {
        e.preventDefault();
        toggle();
      } else if (e.key === "j" || e.key === "k") {
        const n = buffer.current.rows.length;
        setCursor((c) => {
          const next = Math.max(0, Math.min(n - 1, (c < 0 ? n - 1 : c) + (e.key === "j" ? 1 : -1)));
          v.scrollToIndex(next);
          return next;
        });
        if (followingRef.current) toggle();
      } else if (e.key === "Enter" && cursor >= 0) {
        const id = buffer.current.rows[cursor]?.id;
        if (id) setOpen((o) => flip(o, id));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [toggle, cursor, v]);

  const pick = useCallback((index: number, id: string) => {
    setCursor(index);
    setOpen((o) => flip(o, id));
  }, []);

  const b = buffer.current;
  return (
    <section>
      <h1>Live tail</h1>
      <div className="toolbar">
        <button onClick={toggle} data-testid="follow" aria-pressed={following} title="space">
          {following ? "❚❚ Pause" : "▶ Follow"}
        </button>
        <Filters params={p} />
      </div>
      <div className="toolbar small">
        <span data-testid="tail-state">{state}</span>
        <span>
          <span data-testid="shown">{b.rows.length}</span> shown of{" "}
          <span data-testid="received">{b.received}</span> received
        </span>
        {!following && (
          <span className="notice" data-testid="pending">
            paused: {b.arrivedWhilePaused} new since
          </span>
        )}
        {b.dropped > 0 && (
          <span className="notice" data-testid="dropped">
            {b.dropped} older events dropped from view (this page keeps the last{" "}
            {TAIL_CAPACITY.toLocaleString()}; Search has them all)
          </span>
        )}
        {rows.length > 0 && (
          <button
            className="link"
            onClick={() => {
              b.clear();
              redraw();
            }}
          >
            clear
          </button>
        )}
      </div>
      <div className="log-list" ref={scroller} data-testid="tail-list" tabIndex={0}>
        {rows.length === 0 && (
          <p className="empty" style={{ padding: 12 }}>
            Waiting for events{filterText(filter)}. Upload a file, or send logs, and they appear here as they
            are parsed.
          </p>
        )}
        <div style={{ height: v.getTotalSize(), position: "relative" }}>
          {v.getVirtualItems().map((item) => {
            const ev = rows[item.index];
            if (!ev) return null;
            return (
              <Row
                key={item.key}
                ev={ev}
                index={item.index}
                start={item.start}
                expanded={open.has(ev.id)}
                selected={cursor === item.index}
                zone={zone}
                measure={open.has(ev.id) ? v.measureElement : undefined}
                onPick={pick}
              />
            );
          })}
        </div>
      </div>
    </section>
  );
}

interface RowProps {
  ev: LogEvent;
  index: number;
  start: number;
  expanded: boolean;
  selected: boolean;
  zone: string;
  measure: ((el: Element | null) => void) | undefined;
  onPick: (index: number, id: string) => void;
}

/** One event; drawn again only when it changes (new arrivals leave the others alone).
 * Only an opened event is measured: a closed one is one line of known height. */
const Row = memo(function Row({ ev, index, start, expanded, selected, zone, measure, onPick }: RowProps) {
  return (
    <div
      data-index={index}
      ref={measure}
      style={{ position: "absolute", top: 0, left: 0, right: 0, transform: `translateY(${start}px)` }}
    >
      <div
        className={`row${selected ? " selected" : ""}`}
        data-testid="tail-row"
        onClick={() => onPick(index, ev.id)}
      >
        <span className="ts">{formatTime(ev.ts, zone)}</span>
        <span className={`lvl lvl-${ev.level ?? "none"}`}>{ev.level ?? ""}</span>
        <span className="msg">
          <Ansi text={firstLine(ev.message)} />
          {ev.line_count > 1 && <span className="small"> (+{ev.line_count - 1} lines)</span>}
        </span>
      </div>
      {expanded && <EventDetail ev={ev} />}
    </div>
  );
});

function flip(s: Set<string>, id: string): Set<string> {
  const n = new Set(s);
  if (n.has(id)) n.delete(id);
  else n.add(id);
  return n;
}

export function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return i < 0 ? s : s.slice(0, i);
}

function filterText(f: Record<string, string | undefined>): string {
  const set = Object.entries(f).filter(([, v]) => v);
  return set.length ? ` matching ${set.map(([k, v]) => `${k}=${v}`).join(", ")}` : "";
}
