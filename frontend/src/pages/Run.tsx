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
  /** The job's id where the events carry one (two jobs may share a name), else null. */
  id: number | null;
  name: string;
  steps: Step[];
  errors: number;
}
export interface Attempt {
  /** The run attempt (1 where the events do not say): a re-run's jobs are another attempt's. */
  attempt: number;
  jobs: Job[];
  errors: number;
}

const MAX_EVENTS = 50_000;

const positive = (v: unknown): number | null => {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : null;
};

/** A run's events as GitHub shows a run: its attempts, latest first, each with its jobs
 * (told apart by job id where the events carry it, else by name), each job with its steps
 * in order, each step's lines in order; an attempt, job or step with error lines says how
 * many. */
export function runTree(events: LogEvent[]): Attempt[] {
  const attempts = new Map<
    number,
    Map<string, { id: number | null; name: string; steps: Map<string, Step> }>
  >();
  for (const ev of events) {
    const f = ev.fields ?? {};
    const attempt = positive(f.run_attempt) ?? 1;
    const name = String(f.job ?? "(job)");
    const id = positive(f.job_id);
    const stepName = String(f.step ?? "(whole job)");
    const number = typeof f.step_number === "number" ? f.step_number : 0;
    let jobs = attempts.get(attempt);
    if (!jobs) attempts.set(attempt, (jobs = new Map()));
    const jobKey = id === null ? `name\u0000${name}` : `id\u0000${id}`;
    let job = jobs.get(jobKey);
    if (!job) jobs.set(jobKey, (job = { id, name, steps: new Map() }));
    const key = `${number}\u0000${stepName}`;
    let step = job.steps.get(key);
    if (!step) job.steps.set(key, (step = { name: stepName, number, events: [], errors: 0 }));
    step.events.push(ev);
    if (ev.level === "error" || ev.level === "fatal") step.errors++;
  }
  return [...attempts.entries()]
    .sort(([a], [b]) => b - a)
    .map(([attempt, jobMap]) => {
      const jobs = [...jobMap.values()]
        .sort((a, b) => a.name.localeCompare(b.name) || (a.id ?? 0) - (b.id ?? 0))
        .map(({ id, name, steps }) => {
          const list = [...steps.values()].sort(
            (a, b) => a.number - b.number || a.name.localeCompare(b.name),
          );
          for (const s of list)
            s.events.sort((a, b) => a.file_id.localeCompare(b.file_id) || a.line - b.line);
          return { id, name, steps: list, errors: list.reduce((n, s) => n + s.errors, 0) };
        });
      return { attempt, jobs, errors: jobs.reduce((n, j) => n + j.errors, 0) };
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

/** One Actions run: its attempts (the latest open), their jobs and steps folded as GitHub
 * folds them, error lines marked. */
export function RunView({ runId }: { runId: string }) {
  const q = useQuery({ queryKey: ["run", runId], queryFn: ({ signal }) => runEvents(runId, signal) });
  if (q.error) return <p className="error">{q.error.message}</p>;
  if (!q.data) return <p>Loading the run's logs…</p>;
  const attempts = runTree(q.data.events);
  if (attempts.length === 0)
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
      {attempts.map((run, i) => (
        <details key={run.attempt} open={i === 0} className="attempt" data-attempt={run.attempt}>
          <summary>
            Attempt {run.attempt}
            {i === 0 && attempts.length > 1 ? " (latest)" : ""} · {run.jobs.length} jobs
            {run.errors > 0 && <span className="error"> · {run.errors} error lines</span>}
          </summary>
          {run.jobs.map((job) => (
            <details key={job.id ?? `name:${job.name}`} open className="job">
              <summary>
                <b>{job.name}</b>
                {job.id !== null && run.jobs.some((o) => o !== job && o.name === job.name) && (
                  <span className="small"> · job {job.id}</span>
                )}
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
        </details>
      ))}
    </div>
  );
}
