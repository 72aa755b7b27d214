// The live stream: an EventSource on /api/stream with a short-lived stream token (an
// EventSource cannot send an Authorization header). It resumes where it was, from the last
// id it saw, when the connection drops or the token expires, so nothing is lost or repeated.
import { API_BASE, api, qs } from "./api";
import type { FileInfo, LogEvent } from "./api";

export interface StreamHandlers {
  onEvent?: (ev: LogEvent) => void;
  onFile?: (f: FileInfo) => void;
  onState?: (state: "connecting" | "open" | "error", detail?: string) => void;
}

export interface StreamFilter {
  file_id?: string;
  level?: string;
  source?: string;
  q?: string;
  pattern_id?: string;
  only?: "file";
}

export function openStream(filter: StreamFilter, h: StreamHandlers): () => void {
  let es: EventSource | null = null;
  let last = "";
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const connect = async () => {
    h.onState?.("connecting");
    let token: string;
    try {
      token = (await api<{ token: string }>("/api/stream-token", { method: "POST" })).token;
    } catch (e) {
      h.onState?.("error", (e as Error).message);
      if (!closed) retry = setTimeout(connect, 2000);
      return;
    }
    if (closed) return;
    es = new EventSource(API_BASE + "/api/stream" + qs({ ...filter, token, since: last || undefined }));
    es.onopen = () => h.onState?.("open");
    es.addEventListener("log", (m) => {
      const msg = m as MessageEvent<string>;
      last = msg.lastEventId || last;
      h.onEvent?.(JSON.parse(msg.data) as LogEvent);
    });
    es.addEventListener("file", (m) => {
      const msg = m as MessageEvent<string>;
      last = msg.lastEventId || last;
      h.onFile?.(JSON.parse(msg.data) as FileInfo);
    });
    es.onerror = () => {
      // EventSource retries by itself while it can (with Last-Event-ID); once it gives up
      // (the token expired, the server refused) a fresh token resumes from `last`.
      if (es && es.readyState === EventSource.CLOSED) {
        es = null;
        h.onState?.("error", "the stream closed; reconnecting");
        if (!closed) retry = setTimeout(connect, 1000);
      } else {
        h.onState?.("connecting");
      }
    };
  };
  void connect();
  return () => {
    closed = true;
    clearTimeout(retry);
    es?.close();
  };
}
