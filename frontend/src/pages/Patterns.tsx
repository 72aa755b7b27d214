import { useQuery } from "@tanstack/react-query";
import { Choice, asOptions, fileOptions } from "../components/Choice";
import { Sparkline } from "../components/Sparkline";
import { TableHead } from "../components/TableHead";
import { api, qs, LEVELS } from "../lib/api";
import { hrefFor, useRoute } from "../lib/route";
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

const SINCE = [
  { value: "-1h", label: "an hour ago" },
  { value: "-24h", label: "24 hours ago" },
  { value: "-7d", label: "7 days ago" },
];

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
        <Choice label="File" name="file_id" params={p} empty="all files" options={fileOptions(files)} />
        <Choice
          label="New compared with"
          name="base"
          params={p}
          empty="(choose a file: a last good run)"
          options={fileOptions(files?.filter((f) => f.id !== fileId))}
          disabled={!fileId}
          testId="base"
          title="the patterns of the file above that this one does not have"
        />
        {!compare && (
          <>
            <Choice label="Level" name="level" params={p} options={asOptions(LEVELS)} />
            <Choice label="Since" name="from" params={p} empty="all time" options={SINCE} />
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
            <TableHead columns={["Count", "Last 24 h", "Pattern and a sample", "Seen"]} />
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
