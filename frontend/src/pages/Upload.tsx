import { useRef } from "react";
import { addFiles } from "../App";
import { Counts, StatusBadge, duration } from "../components/FileStatus";
import { FINAL_STATUSES } from "../lib/api";
import { hrefFor } from "../lib/route";
import { formatBytes } from "../lib/time";
import type { UFile } from "../lib/uploads";
import { useFiles } from "../lib/useFiles";
import { useUppy, useUppyState } from "../lib/uppyContext";

export function UploadPage() {
  const uppy = useUppy();
  const input = useRef<HTMLInputElement>(null);
  const uploads = useUppyState((u) => u.getState().files);
  const info = useUppyState((u) => u.getState().info);
  const { files } = useFiles();
  const list = Object.values(uploads) as UFile[];
  return (
    <section>
      <h1>Upload</h1>
      <div
        className="dropzone"
        tabIndex={0}
        role="button"
        aria-label="Choose log files to upload"
        onClick={() => input.current?.click()}
        onKeyDown={(e) => {
          if (e.key === "Enter" || e.key === " ") input.current?.click();
        }}
      >
        <p>
          <b>Drop log files here</b> (or anywhere on any page), or click to choose them.
        </p>
        <p className="hint">
          Plain text or gzip, any size: they go straight to the bucket and are parsed as they land.
        </p>
        <input
          ref={input}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => {
            if (e.target.files) addFiles(uppy, e.target.files);
            e.target.value = "";
          }}
        />
      </div>
      {info.map((i) => (
        <p key={i.message} className={`info info-${i.type}`} role="status">
          {i.message} {i.details ? String(i.details) : ""}
        </p>
      ))}
      {list.length === 0 && <p className="empty">Nothing uploaded from this page yet.</p>}
      <ul className="uploads">
        {list.map((f) => {
          const server = files?.find((x) => x.id === f.meta.fileId);
          return <UploadRow key={f.id} file={f} server={server} />;
        })}
      </ul>
    </section>
  );
}

function UploadRow({ file, server }: { file: UFile; server: import("../lib/api").FileInfo | undefined }) {
  const uppy = useUppy();
  const p = file.progress;
  const sent = p.bytesUploaded || 0;
  const total = typeof p.bytesTotal === "number" ? p.bytesTotal : (file.size ?? 0);
  const pct = total ? Math.floor((sent / total) * 100) : 0;
  const elapsed = p.uploadStarted ? (Date.now() - p.uploadStarted) / 1000 : 0;
  const speed = elapsed > 0 ? sent / elapsed : 0;
  const failed = Boolean(file.error);
  const uploading = !p.uploadComplete && !failed;
  return (
    <li
      className="upload"
      data-testid="upload-row"
      data-file-id={file.meta.fileId ?? ""}
      data-uploaded={p.uploadComplete ? "true" : "false"}
    >
      <div className="upload-head">
        <b className="name">{file.name}</b> <span className="size">{formatBytes(file.size ?? 0)}</span>
        {p.uploadComplete && <span className="small"> · uploaded</span>}
        {uploading && (
          <>
            {" "}
            <span data-testid="upload-progress">{pct}%</span> · {formatBytes(speed)}/s{" "}
            <button onClick={() => uppy.removeFile(file.id)}>Cancel</button>
          </>
        )}
        {failed && (
          <>
            {" "}
            <span className="error">upload failed: {String(file.error)}</span>{" "}
            <button onClick={() => void uppy.retryUpload(file.id)}>Retry</button>{" "}
            <button onClick={() => uppy.removeFile(file.id)}>Remove</button>
          </>
        )}
      </div>
      <progress max={100} value={p.uploadComplete ? 100 : pct} aria-label={`upload of ${file.name}`} />
      {server && (
        <div className="parse" data-testid="parse-status" data-status={server.status}>
          <StatusBadge status={server.status} /> <Counts f={server} />
          {server.status === "failed" && server.error && (
            <span className="error" data-testid="fail-reason">
              {" "}
              — {server.error}
            </span>
          )}
          {FINAL_STATUSES.has(server.status) && (
            <>
              {" "}
              · {duration(server)} ·{" "}
              <a href={hrefFor("search", { file_id: server.id })} data-testid="events-link">
                its events
              </a>
            </>
          )}
        </div>
      )}
      {!server && p.uploadComplete && <div className="parse">waiting for the parser…</div>}
    </li>
  );
}
