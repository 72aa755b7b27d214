import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, expect, it, vi } from "vitest";
import type { LogEvent } from "../lib/api";
import { RunView, runTree } from "./Run";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const line = (
  file: string,
  n: number,
  job: string,
  step: string,
  number: number,
  level: string,
  message: string,
) =>
  ({
    id: `${file}:${n}`,
    file_id: file,
    line: n,
    line_count: 1,
    ts: null,
    level,
    source: "github-actions",
    format: "github",
    message,
    pattern_id: null,
    fields: { run_id: 7, job, step, step_number: number },
  }) as LogEvent;

const events = [
  line("b", 2, "build", "Run tests", 2, "error", "##[error]Process completed with exit code 1."),
  line("a", 1, "build", "Set up job", 1, "info", "Runner version 2.3"),
  line("b", 1, "build", "Run tests", 2, "info", "pytest -q"),
  line("c", 1, "lint", "Run ruff", 1, "info", "All checks passed!"),
];

it("folds a run's events into jobs and steps, in order, counting error lines", () => {
  const jobs = runTree(events);
  expect(jobs.map((j) => [j.name, j.errors])).toEqual([
    ["build", 1],
    ["lint", 0],
  ]);
  expect(jobs[0]?.steps.map((s) => [s.number, s.name, s.events.map((e) => e.line)])).toEqual([
    [1, "Set up job", [1]],
    [2, "Run tests", [1, 2]],
  ]);
});

it("opens the steps with errors and marks their error lines", async () => {
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => new Response(JSON.stringify({ events, next_cursor: null }))),
  );
  const { container } = render(
    <QueryClientProvider client={new QueryClient()}>
      <RunView runId="7" />
    </QueryClientProvider>,
  );
  await screen.findByText(/Process completed with exit code 1/);
  const steps = [...container.querySelectorAll("details.step")] as HTMLDetailsElement[];
  expect(steps.map((d) => d.open)).toEqual([false, true, false]);
  expect(container.querySelectorAll(".run-error")).toHaveLength(1);
});
