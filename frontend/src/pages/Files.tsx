import { Counts, StatusBadge, duration } from "../components/FileStatus";
import { TableHead } from "../components/TableHead";
import { hrefFor } from "../lib/route";
import { formatBytes, formatTime, useZone } from "../lib/time";
import { useFiles } from "../lib/useFiles";

export function FilesPage() {
  const { files, error } = useFiles();
  const zone = useZone();
  if (error) return <p className="error">Could not list the files: {error.message}</p>;
  if (!files) return <p>Loading the files…</p>;
  if (files.length === 0)
    return (
      <p className="empty">
        No file yet. <a href={hrefFor("upload")}>Upload one</a>, or drop log files anywhere on this page.
      </p>
    );
  return (
    <section>
      <h1>Files</h1>
      <div className="table-wrap">
        <table className="files">
          <TableHead columns={["Name", "Status", "Size", "Counts"]} wide={["Uploaded", "Took"]} />
          <tbody>
            {files.map((f) => (
              <tr key={f.id} data-testid="file-row" data-status={f.status}>
                <td>
                  <a href={hrefFor("search", { file_id: f.id })}>{f.name}</a>
                </td>
                <td>
                  <StatusBadge status={f.status} />
                  {f.error && <div className="error small">{f.error}</div>}
                </td>
                <td>{formatBytes(f.size)}</td>
                <td>
                  <Counts f={f} />
                </td>
                <td className="wide">{formatTime(f.created_at, zone)}</td>
                <td className="wide">{duration(f)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
