import { describe, expect, it } from "vitest";
import type { LogEvent } from "./api";
import { TailBuffer } from "./tailBuffer";

const ev = (n: number): LogEvent => ({
  id: `f:${n}`,
  file_id: "f",
  line: n,
  line_count: 1,
  ts: null,
  level: "info",
  source: null,
  format: null,
  message: `m${n}`,
  pattern_id: null,
  fields: null,
});
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => ev(a + i));

describe("TailBuffer", () => {
  it("holds what arrives while paused and shows all of it, in order, on resume", () => {
    const b = new TailBuffer(1000);
    b.add(range(0, 5), true);
    b.add(range(5, 50), false);
    b.add(range(50, 60), false);
    expect(b.rows.map((e) => e.line)).toEqual([0, 1, 2, 3, 4]);
    expect(b.pending).toHaveLength(55);
    b.resume();
    expect(b.rows.map((e) => e.line)).toEqual(range(0, 60).map((e) => e.line));
    expect(b.pending).toHaveLength(0);
    expect(b.received).toBe(60);
    expect(b.dropped).toBe(0);
  });

  it("keeps the newest `capacity` on screen and counts what it dropped from view", () => {
    const b = new TailBuffer(100);
    for (let i = 0; i < 10; i++) b.add(range(i * 30, (i + 1) * 30), true);
    expect(b.rows).toHaveLength(100);
    expect(b.rows[0]?.line).toBe(200);
    expect(b.rows[99]?.line).toBe(299);
    expect(b.dropped + b.rows.length).toBe(b.received);
  });

  it("paused for long, holds no more than a screen, and says how many arrived and were dropped", () => {
    const b = new TailBuffer(100);
    b.add(range(0, 50), true);
    for (let i = 0; i < 10; i++) b.add(range(50 + i * 100, 150 + i * 100), false);
    expect(b.pending).toHaveLength(100);
    expect(b.arrivedWhilePaused).toBe(1000);
    b.resume();
    expect(b.rows.map((e) => e.line)).toEqual(range(950, 1050).map((e) => e.line));
    expect(b.dropped + b.rows.length).toBe(b.received);
    expect(b.arrivedWhilePaused).toBe(0);
  });
});
