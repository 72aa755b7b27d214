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
  more: Record<string, unknown> = {},
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
    fields: { run_id: 7, job, step, step_number: number, ...more },
  }) as LogEvent;

const events = [
  line("b", 2, "build", "Run tests", 2, "error", "##[error]Process completed with exit code 1."),
  line("a", 1, "build", "Set up job", 1, "info", "Runner version 2.3"),
  line("b", 1, "build", "Run tests", 2, "info", "pytest -q"),
  line("c", 1, "lint", "Run ruff", 1, "info", "All checks passed!"),
];

it("folds a run's events into jobs and steps, in order, counting error lines", () => {
  const [only, ...others] = runTree(events);
  expect(others).toEqual([]);
  expect(only?.attempt).toBe(1); // events that do not say are of the first attempt
  const jobs = only?.jobs ?? [];
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

// A re-run's attempt 2 beside attempt 1, and two jobs named alike (a matrix without a name
// template) told apart by their ids; a job's lines without an id fall back to its name.
const rerun = [
  line("a1", 1, "test", "Run tests", 1, "error", "attempt 1 failed", { run_attempt: 1, job_id: 11 }),
  line("a2", 1, "test", "Run tests", 1, "info", "attempt 2 passed", { run_attempt: 2, job_id: 21 }),
  line("b2", 1, "test", "Run tests", 1, "info", "the other test job", { run_attempt: 2, job_id: 22 }),
  line("c2", 1, "lint", "Run ruff", 1, "info", "no id", { run_attempt: 2 }),
  line("c2", 2, "lint", "Run ruff", 1, "info", "no id either", { run_attempt: 2 }),
];

it("keeps a run's attempts apart, latest first, and jobs apart by id", () => {
  const tree = runTree(rerun);
  expect(tree.map((a) => [a.attempt, a.errors])).toEqual([
    [2, 0],
    [1, 1],
  ]);
  const lines = (a: (typeof tree)[number]) =>
    a.jobs.map((j) => [j.id, j.name, j.steps.flatMap((s) => s.events.map((e) => e.message))]);
  expect(lines(tree[0]!)).toEqual([
    [null, "lint", ["no id", "no id either"]],
    [21, "test", ["attempt 2 passed"]],
    [22, "test", ["the other test job"]],
  ]);
  expect(lines(tree[1]!)).toEqual([[11, "test", ["attempt 1 failed"]]]);
});

it("shows the latest attempt open and an earlier one folded, jobs named alike by id", async () => {
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => new Response(JSON.stringify({ events: rerun, next_cursor: null }))),
  );
  const { container } = render(
    <QueryClientProvider client={new QueryClient()}>
      <RunView runId="7" />
    </QueryClientProvider>,
  );
  await screen.findByText(/attempt 2 passed/);
  const attempts = [...container.querySelectorAll("details.attempt")] as HTMLDetailsElement[];
  expect(attempts.map((d) => [d.dataset.attempt, d.open])).toEqual([
    ["2", true],
    ["1", false],
  ]);
  expect(attempts[0]?.querySelectorAll("details.job")).toHaveLength(3);
  expect(attempts[0]?.textContent).not.toContain("attempt 1 failed");
  expect(attempts[1]?.textContent).toContain("attempt 1 failed");
  expect(screen.getByText(/job 21/)).toBeTruthy();
  expect(screen.getByText(/job 22/)).toBeTruthy();
});
