import type { LogEvent } from "../lib/api";
import { hrefFor } from "../lib/route";
import { formatTime, useZone } from "../lib/time";
import { Ansi } from "./Ansi";

/** An event opened: its whole body (stack traces as written) and its fields as a tree. */
export function EventDetail({ ev, children }: { ev: LogEvent; children?: React.ReactNode }) {
  const zone = useZone();
  return (
    <div className="detail" data-testid="event-detail" onClick={(e) => e.stopPropagation()}>
      <div className="small">
        {formatTime(ev.ts, zone)} {ev.ts_inferred ? "(time inferred)" : ""} · line {ev.line}
        {ev.line_count > 1 ? `–${ev.line + ev.line_count - 1}` : ""} · {ev.format ?? "?"}
        {ev.source ? ` · source ${ev.source}` : ""} ·{" "}
        <a href={hrefFor("search", { file_id: ev.file_id, event: ev.id })}>in its file, with context</a>
        {ev.pattern_id && (
          <>
            {" "}
            · <a href={hrefFor("search", { pattern_id: ev.pattern_id })}>events like it</a>
          </>
        )}
      </div>
      <pre data-testid="event-body">
        <Ansi text={ev.message} />
      </pre>
      {ev.fields && Object.keys(ev.fields).length > 0 && <JsonTree value={ev.fields} />}
      {children}
    </div>
  );
}

export function JsonTree({ value, name }: { value: unknown; name?: string }) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value);
    return (
      <details open={name === undefined} className="json">
        <summary>{name ?? "fields"}</summary>
        <ul>
          {entries.map(([k, v]) => (
            <li key={k}>
              {v !== null && typeof v === "object" ? (
                <JsonTree value={v} name={k} />
              ) : (
                <>
                  <span className="json-key">{k}</span>:{" "}
                  <span className="json-value">{JSON.stringify(v)}</span>
                </>
              )}
            </li>
          ))}
        </ul>
      </details>
    );
  }
  return <span>{JSON.stringify(value)}</span>;
}
