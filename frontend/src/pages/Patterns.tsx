import { useQuery } from "@tanstack/react-query";
import { Sparkline } from "../components/Sparkline";
import { api, qs, LEVELS } from "../lib/api";
import { hrefFor, setParams, useRoute } from "../lib/route";
import { formatTime, useZone } from "../lib/time";
import { useFiles } from "../lib/useFiles";

interface Pattern {
  id: string;
  template: string;
  count: number;
  first_seen: string | null;
  last_seen: string | null;
  sample: string;
}

interface Rollups {
  buckets: { start: string; counts: Record<string, number> }[];
}

export function PatternsPage() {
  const [route] = useRoute();
  const p = route.params;
  const zone = useZone();
  const { files } = useFiles();
  const fileId = p.get("file_id") ?? "";
  const base = p.get("base") ?? "";
  const level = p.get("level") ?? "";
  const from = p.get("from") ?? "";
  const compare = Boolean(fileId && base);

  const top = useQuery({
    queryKey: ["patterns", fileId, base, level, from],
    queryFn: ({ signal }) =>
      compare
        ? api<{ patterns: Pattern[] }>(`/api/patterns/new${qs({ file_id: fileId, base, limit: 100 })}`, {
            signal,
          })
        : api<{ patterns: Pattern[] }>(
            `/api/patterns${qs({ file_id: fileId, level, from: from ? isoFrom(from) : undefined, limit: 100 })}`,
            { signal },
          ),
  });
  // One request for every pattern's sparkline: the last 24 hours by hour.
  const spark = useQuery({
    queryKey: ["rollups-pattern-24h"],
    queryFn: ({ signal }) => api<Rollups>(`/api/rollups?by=pattern&bucket=1h&from=-24h`, { signal }),
  });
  const series = (id: string) => spark.data?.buckets.map((b) => b.counts[id] ?? 0) ?? [];

  return (
    <section>
      <h1>Patterns</h1>
      <div className="toolbar">
        <label>
          File{" "}
          <select value={fileId} onChange={(e) => setParams({ file_id: e.target.value })}>
            <option value="">all files</option>
            {files?.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          New compared with{" "}
          <select
            value={base}
            disabled={!fileId}
            data-testid="base"
            onChange={(e) => setParams({ base: e.target.value })}
            title="the patterns of the file above that this one does not have"
          >
            <option value="">(choose a file: a last good run)</option>
            {files
              ?.filter((f) => f.id !== fileId)
              .map((f) => (
                <option key={f.id} value={f.id}>
                  {f.name}
                </option>
              ))}
          </select>
        </label>
        {!compare && (
          <>
            <label>
              Level{" "}
              <select value={level} onChange={(e) => setParams({ level: e.target.value })}>
                <option value="">any</option>
                {LEVELS.map((l) => (
                  <option key={l} value={l}>
                    {l}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Since{" "}
              <select value={from} onChange={(e) => setParams({ from: e.target.value })}>
                <option value="">all time</option>
                <option value="-1h">an hour ago</option>
                <option value="-24h">24 hours ago</option>
                <option value="-7d">7 days ago</option>
              </select>
            </label>
          </>
        )}
      </div>
      {compare && (
        <p className="hint">
          Patterns of this file that the other does not have: what appeared in this run that the last good one
          did not.
        </p>
      )}
      {top.error && <p className="error">{top.error.message}</p>}
      {top.data && top.data.patterns.length === 0 && (
        <p className="empty">
          {compare
            ? "Nothing new: every pattern of this file is in the other."
            : "No pattern yet. Upload a log file and its lines are grouped into patterns as it is parsed."}
        </p>
      )}
      {top.data && top.data.patterns.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Count</th>
                <th>Last 24 h</th>
                <th>Pattern and a sample</th>
                <th>Seen</th>
              </tr>
            </thead>
            <tbody>
              {top.data.patterns.map((pt) => (
                <tr key={pt.id} data-testid="pattern-row">
                  <td>{pt.count.toLocaleString()}</td>
                  <td>
                    <Sparkline values={series(pt.id)} />
                  </td>
                  <td>
                    <a href={hrefFor("search", { pattern_id: pt.id, file_id: fileId || undefined })}>
                      <code>{pt.template}</code>
                    </a>
                    <div className="small hint sample">{pt.sample.split("\n", 1)[0]}</div>
                  </td>
                  <td className="small">
                    {formatTime(pt.first_seen, zone)}
                    <br />
                    {formatTime(pt.last_seen, zone)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function isoFrom(rel: string): string {
  const m = /^-(\d+)([hd])$/.exec(rel);
  if (!m) return rel;
  const ms = Number(m[1]) * (m[2] === "h" ? 3_600_000 : 86_400_000);
  return new Date(Date.now() - ms).toISOString();
}
