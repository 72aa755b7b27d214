import { describe, expect, it } from "vitest";
import type { LogEvent } from "../lib/api";
import { toCsv, toJsonl } from "./Search";

const e: LogEvent = {
  id: "f:7",
  file_id: "f",
  line: 7,
  line_count: 2,
  ts: "2026-11-30T10:00:00+00:00",
  level: "error",
  source: "upload",
  format: "app",
  message: 'failed, "quoted"\nTraceback',
  pattern_id: null,
  fields: { user: "ana" },
};

describe("export", () => {
  it("writes one JSON object a line, as the API gave it", () => {
    expect(
      toJsonl([e, e])
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ).toEqual([e, e]);
  });

  it("writes CSV with quoted commas, quotes and newlines", () => {
    const csv = toCsv([e]);
    expect(csv.split("\r\n")[0]).toBe("ts,level,source,file_id,line,message,fields");
    expect(csv).toContain('"failed, ""quoted""\nTraceback"');
    expect(csv).toContain('"{""user"":""ana""}"');
  });
});
