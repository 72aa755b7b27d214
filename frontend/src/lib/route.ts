// Every state worth sharing lives in the address: `#/page?key=value`. A hash route needs
// no server rewrite, so the same build works from the local runner and from a bucket.
import { useCallback, useSyncExternalStore } from "react";

export interface Route {
  page: string;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const body = hash.replace(/^#\/?/, "");
  const [page = "", query = ""] = body.split("?", 2);
  return { page, params: new URLSearchParams(query) };
}

export function hrefFor(page: string, params: Record<string, string | undefined | null> = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) p.set(k, v);
  const s = p.toString();
  return `#/${page}${s ? `?${s}` : ""}`;
}

function subscribe(cb: () => void): () => void {
  window.addEventListener("hashchange", cb);
  return () => window.removeEventListener("hashchange", cb);
}

export function useRoute(): [
  Route,
  (page: string, params?: Record<string, string | undefined | null>) => void,
] {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  const route = parseHash(hash);
  const go = useCallback((page: string, params: Record<string, string | undefined | null> = {}) => {
    window.location.hash = hrefFor(page, params).slice(1);
  }, []);
  return [route, go];
}

/** Replace some parameters of the current page without adding a history entry per keystroke. */
export function setParams(changes: Record<string, string | undefined | null>, push = false): void {
  const { page, params } = parseHash(window.location.hash);
  for (const [k, v] of Object.entries(changes)) {
    if (v) params.set(k, v);
    else params.delete(k);
  }
  const s = params.toString();
  const url = `${window.location.pathname}${window.location.search}#/${page}${s ? `?${s}` : ""}`;
  if (push) window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
