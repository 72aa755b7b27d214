import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { FileInfo } from "./api";
import { api } from "./api";
import { openStream } from "./stream";

/** The files, kept current by the stream's `file` events (status, lines, events, errors). */
export function useFiles(limit = 200): {
  files: FileInfo[] | undefined;
  error: Error | null;
  streaming: boolean;
} {
  const qc = useQueryClient();
  const q = useQuery({
    queryKey: ["files", limit],
    queryFn: () => api<{ files: FileInfo[] }>(`/api/files?limit=${limit}`).then((r) => r.files),
  });
  useEffect(() => {
    return openStream(
      { only: "file" },
      {
        onFile: (f) => {
          qc.setQueryData<FileInfo[]>(["files", limit], (old) => {
            if (!old) return old;
            const i = old.findIndex((x) => x.id === f.id);
            if (i < 0) return [f, ...old];
            const next = old.slice();
            next[i] = { ...old[i], ...f };
            return next;
          });
        },
      },
    );
  }, [qc, limit]);
  return { files: q.data, error: q.error, streaming: true };
}
