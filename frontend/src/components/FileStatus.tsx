import type { FileInfo } from "../lib/api";
import { formatDuration } from "../lib/time";

export function duration(f: FileInfo): string {
  if (!f.finished_at) return "";
  return formatDuration(new Date(f.finished_at).getTime() - new Date(f.created_at).getTime());
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status.replace(/_/g, " ")}</span>;
}

export function Counts({ f }: { f: FileInfo }) {
  return (
    <span className="counts">
      <span data-testid="lines">{(f.lines ?? 0).toLocaleString()}</span> lines ·{" "}
      <span data-testid="events">{(f.events ?? 0).toLocaleString()}</span> events ·{" "}
      <span data-testid="errors" className={f.errors ? "has-errors" : undefined}>
        {(f.errors ?? 0).toLocaleString()}
      </span>{" "}
      errors
    </span>
  );
}
