import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Choice, asOptions } from "../components/Choice";
import { JsonTree } from "../components/EventDetail";
import { TableHead } from "../components/TableHead";
import { api, qs } from "../lib/api";
import { hrefFor, setParams, useRoute } from "../lib/route";
import { formatTime, useZone } from "../lib/time";
import { RunView } from "./Run";

const EVENTS = [
  "workflow_run",
  "workflow_job",
  "check_run",
  "check_suite",
  "push",
  "pull_request",
  "deployment_status",
  "ping",
];

interface Delivery {
  id: string;
  seq: number;
  hook_id: string | null;
  event: string;
  action: string | null;
  repository: string | null;
  sender: string | null;
  received_at: string;
  payload?: Record<string, unknown>;
}

/** What a delivery says happened: the conclusion of its run, job, check, or deployment. */
export function outcome(payload: Record<string, unknown> | undefined): string {
  if (!payload) return "";
  for (const key of ["workflow_run", "workflow_job", "check_run", "check_suite"]) {
    const o = payload[key] as { conclusion?: string | null; status?: string | null } | undefined;
    if (o) return o.conclusion ?? o.status ?? "";
  }
  const ds = payload.deployment_status as { state?: string } | undefined;
  return ds?.state ?? "";
}

/** The Actions run a delivery is about, if any. */
function runOf(payload: Record<string, unknown> | undefined): string | undefined {
  const wr = payload?.workflow_run as { id?: number } | undefined;
  const wj = payload?.workflow_job as { run_id?: number } | undefined;
  const id = wr?.id ?? wj?.run_id;
  return id === undefined ? undefined : String(id);
}

export function GitHubPage() {
  const [route] = useRoute();
  const p = route.params;
  const zone = useZone();
  const event = p.get("event") ?? "";
  const repo = p.get("repo") ?? "";
  const selected = p.get("delivery");
  const runId = p.get("run");
  const [repoText, setRepoText] = useState(repo);
  useEffect(() => setRepoText(repo), [repo]);
  const list = useInfiniteQuery({
    queryKey: ["deliveries", event, repo],
    initialPageParam: "",
    queryFn: ({ pageParam, signal }) =>
      api<{ deliveries: Delivery[]; next_cursor: string | null }>(
        `/api/github/deliveries${qs({ event, repo, limit: 100, cursor: pageParam || undefined })}`,
        { signal },
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = list.data?.pages.flatMap((pg) => pg.deliveries) ?? [];
  return (
    <section>
      <h1>GitHub</h1>
      <div className="toolbar">
        <Choice label="Event" name="event" params={p} options={asOptions(EVENTS)} />
        <label>
          Repository{" "}
          <input
            value={repoText}
            placeholder="owner/name"
            size={20}
            onChange={(e) => setRepoText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") setParams({ repo: repoText.trim() });
            }}
            onBlur={() => setParams({ repo: repoText.trim() })}
          />
        </label>
        <a href={hrefFor("search", { source: "github" })}>Search every delivery and run log</a>
      </div>
      {runId && (
        <section aria-label="the run">
          <div className="toolbar">
            <a href={hrefFor("github", { event, repo })}>← deliveries</a>
          </div>
          <RunView runId={runId} />
        </section>
      )}
      {list.error && <p className="error">{list.error.message}</p>}
      {list.isSuccess && rows.length === 0 && (
        <p className="empty">
          No delivery yet. Point a repository's webhook at <code>/webhook/github</code> with the secret
          `logpipe run` printed; `workflow_run` and `workflow_job` events bring the Actions logs.
        </p>
      )}
      <div className="search-body">
        {rows.length > 0 && (
          <div className="table-wrap">
            <table>
              <TableHead columns={["Received", "Event", "Action", "Repository"]} wide={["Sender"]} />
              <tbody>
                {rows.map((d) => (
                  <tr
                    key={d.id}
                    data-testid="delivery-row"
                    className={d.id === selected ? "selected" : undefined}
                    tabIndex={0}
                    onClick={() => setParams({ delivery: d.id }, true)}
                    onKeyDown={(e) => {
                      if (e.key === "Enter") setParams({ delivery: d.id }, true);
                    }}
                  >
                    <td>{formatTime(d.received_at, zone)}</td>
                    <td>{d.event}</td>
                    <td>{d.action ?? ""}</td>
                    <td>{d.repository ?? ""}</td>
                    <td className="wide">{d.sender ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {list.hasNextPage && <button onClick={() => void list.fetchNextPage()}>More</button>}
          </div>
        )}
        {selected && <DeliveryDetail id={selected} />}
      </div>
    </section>
  );
}

function DeliveryDetail({ id }: { id: string }) {
  const q = useQuery({
    queryKey: ["delivery", id],
    queryFn: ({ signal }) => api<Delivery>(`/api/github/deliveries/${encodeURIComponent(id)}`, { signal }),
  });
  const d = q.data;
  const result = outcome(d?.payload);
  return (
    <aside className="context" data-testid="delivery-detail" aria-label="the delivery">
      <div className="toolbar small">
        <b>Delivery {id}</b>
        <button onClick={() => setParams({ delivery: undefined })} aria-label="close">
          ✕
        </button>
      </div>
      {q.error && <p className="error">{q.error.message}</p>}
      {d && (
        <>
          <p>
            {d.event}
            {d.action ? ` ${d.action}` : ""} · {d.repository ?? "no repository"}
            {result && (
              <>
                {" "}
                · outcome{" "}
                <b
                  data-testid="outcome"
                  className={/failure|timed_out|startup_failure|error/.test(result) ? "error" : undefined}
                >
                  {result}
                </b>
              </>
            )}
          </p>
          <p>
            <a href={hrefFor("search", { source: "github", q: `fields.delivery_id=${id}` })}>its event</a>
            {runOf(d.payload) && (
              <>
                {" "}
                · <a href={hrefFor("github", { run: runOf(d.payload) })}>its run's logs, by job and step</a>
              </>
            )}
          </p>
          {d.payload && <JsonTree value={d.payload} name="payload" />}
        </>
      )}
    </aside>
  );
}
