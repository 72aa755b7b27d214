import { useEffect, useState } from "react";
import { LEVELS } from "../lib/api";
import { setParams } from "../lib/route";
import { useFiles } from "../lib/useFiles";
import { Choice, asOptions, fileOptions } from "./Choice";

/** Level, source, file and text filters, kept in the address (text after a pause in typing). */
export function Filters({ params, queryLabel = "Text" }: { params: URLSearchParams; queryLabel?: string }) {
  const { files } = useFiles();
  // The page redraws often (the tail, many times a second): what the address says is
  // compared as text, so that a redraw never puts back what the person is typing over.
  const urlQ = params.get("q") ?? "";
  const urlSource = params.get("source") ?? "";
  const [q, setQ] = useState(urlQ);
  const [source, setSource] = useState(urlSource);
  useEffect(() => setQ(urlQ), [urlQ]);
  useEffect(() => setSource(urlSource), [urlSource]);
  useEffect(() => {
    const t = setTimeout(() => {
      if (urlQ !== q || urlSource !== source) setParams({ q, source });
    }, 400);
    return () => clearTimeout(t);
  }, [q, source, urlQ, urlSource]);
  return (
    <>
      <label>
        {queryLabel}{" "}
        <input
          data-testid="query"
          className="query"
          type="search"
          value={q}
          size={28}
          placeholder='error -timeout "disk full" fields.user=ana'
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") setParams({ q, source }, true);
          }}
        />
      </label>
      <Choice
        label="Level"
        name="level"
        params={params}
        options={asOptions(LEVELS, (l) => `${l} and worse`)}
      />
      <label>
        Source <input value={source} size={10} onChange={(e) => setSource(e.target.value)} />
      </label>
      <Choice label="File" name="file_id" params={params} options={fileOptions(files)} />
    </>
  );
}
