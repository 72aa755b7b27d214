import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from "@tanstack/react-query";
import { Suspense, lazy, useEffect, useMemo, useState } from "react";
import type { FileInfo } from "./lib/api";
import { ApiError, api, clearToken, getToken, setToken } from "./lib/api";
import { hrefFor, useRoute } from "./lib/route";
import { BROWSER, ZoneContext, isZone, storeZone, storedZone } from "./lib/time";
import { createUppy } from "./lib/uploads";
import { UppyContext } from "./lib/uppyContext";
import { FilesPage } from "./pages/Files";
import { GitHubPage } from "./pages/GitHub";
import { PatternsPage } from "./pages/Patterns";
import { TailPage } from "./pages/Tail";
import { UploadPage } from "./pages/Upload";

// Search brings uPlot: loaded when first opened, so that the first page comes sooner.
const SearchPage = lazy(() => import("./pages/Search").then((m) => ({ default: m.SearchPage })));

const PAGES = [
  { id: "upload", label: "Upload", key: "u" },
  { id: "files", label: "Files", key: "f" },
  { id: "tail", label: "Live tail", key: "t" },
  { id: "search", label: "Search", key: "s" },
  { id: "patterns", label: "Patterns", key: "p" },
  { id: "github", label: "GitHub", key: "h" },
] as const;

export function App() {
  const client = useMemo(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            retry: (n, e) =>
              !(e instanceof ApiError && (e.kind === "unauthorized" || e.kind === "client")) && n < 2,
            refetchOnWindowFocus: false,
          },
        },
      }),
    [],
  );
  return (
    <QueryClientProvider client={client}>
      <Gate />
    </QueryClientProvider>
  );
}

function useToken(): [string, (t: string) => void] {
  const [token, set] = useState(getToken);
  return [
    token,
    (t: string) => {
      if (t) setToken(t);
      else clearToken();
      set(t);
    },
  ];
}

/** The app once the API answers to our token; a prompt or a clear message otherwise. */
function Gate() {
  const [token, changeToken] = useToken();
  const qc = useQueryClient();
  const probe = useQuery({
    queryKey: ["probe", token],
    queryFn: () => api<{ files: FileInfo[] }>("/api/files?limit=1"),
    enabled: token !== "",
  });
  if (!token) return <TokenPrompt onToken={changeToken} />;
  if (probe.isPending) return <p className="centre">Connecting to logpipe…</p>;
  if (probe.error) {
    const e = probe.error;
    if (e instanceof ApiError && e.kind === "unauthorized")
      return <TokenPrompt onToken={changeToken} problem={`The API refused this token: ${e.message}.`} />;
    return (
      <div className="centre" role="alert">
        <h1>logpipe is unreachable</h1>
        <p>{e.message}</p>
        <p>Is `logpipe run` (or the deployed API) up? This page tries again when you ask.</p>
        <button onClick={() => void qc.invalidateQueries({ queryKey: ["probe"] })}>Try again</button>{" "}
        <button onClick={() => changeToken("")}>Use another token</button>
      </div>
    );
  }
  return <Shell hasFiles={probe.data.files.length > 0} onSignOut={() => changeToken("")} />;
}

function TokenPrompt({ onToken, problem }: { onToken: (t: string) => void; problem?: string }) {
  const [value, setValue] = useState("");
  return (
    <form
      className="centre token-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <h1>logpipe</h1>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <label>
        API token
        <input
          autoFocus
          type="password"
          name="token"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          placeholder="LOGPIPE_API_TOKEN"
        />
      </label>
      <button type="submit">Sign in</button>
      <p className="hint">
        `logpipe run` prints a link that signs you in; the token is also in its output (and in
        LOGPIPE_API_TOKEN).
      </p>
    </form>
  );
}

function useSystemTheme(): void {
  // Colours follow the system through CSS (prefers-color-scheme); nothing to store.
}

function Shell({ hasFiles, onSignOut }: { hasFiles: boolean; onSignOut: () => void }) {
  const [route, go] = useRoute();
  const [zone, setZone] = useState(storedZone);
  const [zoneText, setZoneText] = useState(zone === BROWSER ? "" : zone);
  const uppy = useMemo(() => createUppy(), []);
  const [dragging, setDragging] = useState(false);
  useSystemTheme();

  const page = route.page || (hasFiles ? "files" : "upload");
  // The app is usable (the API answered to the token): `make bench-ui` reads this mark.
  useEffect(() => {
    performance.mark("logpipe:ready");
  }, []);

  // Files dropped anywhere upload.
  useEffect(() => {
    let depth = 0;
    const over = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
    };
    const enter = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes("Files")) {
        depth++;
        setDragging(true);
      }
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      depth = 0;
      setDragging(false);
      const files = e.dataTransfer?.files;
      if (!files || files.length === 0) return;
      e.preventDefault();
      addFiles(uppy, files);
      go("upload");
    };
    window.addEventListener("dragover", over);
    window.addEventListener("dragenter", enter);
    window.addEventListener("dragleave", leave);
    window.addEventListener("drop", drop);
    return () => {
      window.removeEventListener("dragover", over);
      window.removeEventListener("dragenter", enter);
      window.removeEventListener("dragleave", leave);
      window.removeEventListener("drop", drop);
    };
  }, [uppy, go]);

  // g then a letter goes to a page; ? lists the keys.
  const [help, setHelp] = useState(false);
  useEffect(() => {
    let g = false;
    const key = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (
        t &&
        (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)
      )
        return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (g) {
        g = false;
        const p = PAGES.find((x) => x.key === e.key);
        if (p) go(p.id);
        return;
      }
      if (e.key === "g") g = true;
      else if (e.key === "?") setHelp((h) => !h);
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [go]);

  return (
    <ZoneContext.Provider value={zone}>
      <UppyContext.Provider value={uppy}>
        <div className="shell">
          <header>
            <a className="brand" href={hrefFor(hasFiles ? "files" : "upload")}>
              logpipe
            </a>
            <nav aria-label="pages">
              {PAGES.map((p) => (
                <a key={p.id} href={hrefFor(p.id)} aria-current={page === p.id ? "page" : undefined}>
                  {p.label}
                </a>
              ))}
            </nav>
            <label className="zone">
              Time zone
              <input
                list="zones"
                value={zoneText}
                placeholder="browser"
                size={14}
                onChange={(e) => {
                  setZoneText(e.target.value);
                  const z = e.target.value.trim() || BROWSER;
                  if (isZone(z)) {
                    setZone(z);
                    storeZone(z);
                  }
                }}
              />
              <datalist id="zones">
                <option value="UTC" />
                {supportedZones().map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </label>
            <button className="link" onClick={onSignOut} title="Forget the token in this browser">
              Sign out
            </button>
          </header>
          {help && <KeysHelp />}
          <main>
            {page === "upload" && <UploadPage />}
            {page === "files" && <FilesPage />}
            {page === "tail" && <TailPage />}
            {page === "search" && (
              <Suspense fallback={<p>Loading the search…</p>}>
                <SearchPage />
              </Suspense>
            )}
            {page === "patterns" && <PatternsPage />}
            {page === "github" && <GitHubPage />}
            {!PAGES.some((p) => p.id === page) && (
              <p className="empty">
                No page “{page}”. <a href={hrefFor("files")}>Go to the files</a>.
              </p>
            )}
          </main>
          {dragging && <div className="dropzone-overlay">Drop to upload</div>}
        </div>
      </UppyContext.Provider>
    </ZoneContext.Provider>
  );
}

export function addFiles(uppy: ReturnType<typeof createUppy>, files: FileList | File[]): void {
  for (const file of Array.from(files)) {
    try {
      uppy.addFile({ name: file.name, type: file.type, data: file, source: "drop" });
    } catch (e) {
      uppy.info(`${file.name}: ${(e as Error).message}`, "error");
    }
  }
}

function supportedZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  return intl.supportedValuesOf ? intl.supportedValuesOf("timeZone") : [];
}

function KeysHelp() {
  return (
    <aside className="keys" aria-label="keyboard shortcuts">
      <b>Keys</b>: {PAGES.map((p) => `g ${p.key} ${p.label}`).join(" · ")} · space: follow/pause (tail) · j/k:
      next/previous event · Enter: open · / : focus the query · ? this help
    </aside>
  );
}
