import { createContext, useContext, useSyncExternalStore } from "react";
import type Uppy from "@uppy/core";
import type { Meta } from "./uploads";

export const UppyContext = createContext<Uppy<Meta, Record<string, never>> | null>(null);

export function useUppy(): Uppy<Meta, Record<string, never>> {
  const u = useContext(UppyContext);
  if (!u) throw new Error("no Uppy in context");
  return u;
}

/** A slice of Uppy's state as React state, re-read on each of Uppy's state updates. */
export function useUppyState<T>(pick: (u: Uppy<Meta, Record<string, never>>) => T): T {
  const uppy = useUppy();
  return useSyncExternalStore(
    (cb) => {
      uppy.on("state-update", cb);
      return () => uppy.off("state-update", cb);
    },
    () => pick(uppy),
  );
}
