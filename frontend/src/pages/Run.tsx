import { useQuery } from "@tanstack/react-query";
import { Ansi } from "../components/Ansi";
import type { LogEvent } from "../lib/api";
import { api, qs } from "../lib/api";
import { hrefFor } from "../lib/route";

export interface Step {
  name: string;
  number: number;
  events: LogEvent[];
  errors: number;
}
export interface Job {
  name: string;
  steps: Step[];
  errors: number;
}

const MAX_EVENTS = 50_000;

/** A run's events as GitHub shows a run: jobs, each with its steps in order, each step's
 * lines in order; a job or step with an error line says how many. */
export function runTree(events: LogEvent[]): Job[] {
  const jobs = new Map<string, Map<string, Step>>();
  for (const ev of events) {
    const f = ev.fields ?? {};
    const job = String(f.job ?? "(job)");
    const stepName = String(f.step ?? "(whole job)");
    const number = typeof f.step_number === "number" ? f.step_number : 0;
    let steps = jobs.get(job);
    if (!steps) jobs.set(job, (steps = new Map()));
    const key = `${number}\u0000${stepName}`;
    let step = steps.get(key);
    if (!step) steps.set(key, (step = { name: stepName, number, events: [], errors: 0 }));
    step.events.push(ev);
    if (ev.level === "error" || ev.level === "fatal") step.errors++;
  }
  return [...jobs.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, steps]) => {
      const list = [...steps.values()].sort((a, b) => a.number - b.number || a.name.localeCompare(b.name));
      for (const s of list) s.events.sort((a, b) => a.file_id.localeCompare(b.file_id) || a.line - b.line);
      return { name, steps: list, errors: list.reduce((n, s) => n + s.errors, 0) };
    });
}

async function runEvents(runId: string, signal: AbortSignal): Promise<{ events: LogEvent[]; cut: boolean }> {
  const out: LogEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await api<{ events: LogEvent[]; next_cursor: string | null }>(
      `/api/events${qs({ source: "github-actions", q: `fields.run_id=${runId}`, order: "asc", limit: 1000, cursor })}`,
      { signal },
    );
    out.push(...page.events);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && out.length < MAX_EVENTS);
  return { events: out, cut: Boolean(cursor) };
}

/** One Actions run: its jobs and steps folded as GitHub folds them, error lines marked. */
export function RunView({ runId }: { runId: string }) {
  const q = useQuery({ queryKey: ["run", runId], queryFn: ({ signal }) => runEvents(runId, signal) });
  if (q.error) return <p className="error">{q.error.message}</p>;
  if (!q.data) return <p>Loading the run's logs…</p>;
  const jobs = runTree(q.data.events);
  if (jobs.length === 0)
    return (
      <p className="empty">
        No log of run {runId} has been parsed (yet): its logs come after its `workflow_run` completed
        delivery.
      </p>
    );
  return (
    <div className="run" data-testid="run">
      <p className="small">
        Run {runId} · {q.data.events.length.toLocaleString()} log events
        {q.data.cut ? ` (the first ${MAX_EVENTS.toLocaleString()})` : ""} ·{" "}
        <a href={hrefFor("search", { source: "github-actions", q: `fields.run_id=${runId}` })}>search them</a>{" "}
        · <a href={hrefFor("search", { source: "github-actions", level: "error" })}>errors across runs</a>
      </p>
      {jobs.map((job) => (
        <details key={job.name} open className="job">
          <summary>
            <b>{job.name}</b>
            {job.errors > 0 && <span className="error"> · {job.errors} error lines</span>}
          </summary>
          {job.steps.map((step) => (
            <details key={`${step.number}-${step.name}`} open={step.errors > 0} className="step">
              <summary>
                {step.number > 0 ? `${step.number} ` : ""}
                {step.name}
                {step.errors > 0 && <span className="error"> · {step.errors} errors</span>}
              </summary>
              <pre>
                {step.events.map((ev) => (
                  <div
                    key={ev.id}
                    className={`run-line lvl-${ev.level ?? "none"}${ev.level === "error" ? " run-error" : ""}`}
                  >
                    <Ansi text={(ev as LogEvent & { raw?: string }).raw ?? ev.message} />
                  </div>
                ))}
              </pre>
            </details>
          ))}
        </details>
      ))}
    </div>
  );
}
