import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, expect, it, vi } from "vitest";
import { Filters } from "./Filters";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

it("keeps what is being typed when the page redraws (as the tail does many times a second)", () => {
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => new Response(JSON.stringify({ files: [], token: "t" }))),
  );
  vi.stubGlobal(
    "EventSource",
    class {
      addEventListener() {}
      close() {}
    },
  );
  const qc = new QueryClient();
  const page = (p: URLSearchParams) => (
    <QueryClientProvider client={qc}>
      <Filters params={p} />
    </QueryClientProvider>
  );
  const { rerender } = render(page(new URLSearchParams("q=disk")));
  const box = screen.getByTestId("query") as HTMLInputElement;
  fireEvent.change(box, { target: { value: "disk full" } });
  rerender(page(new URLSearchParams("q=disk"))); // the same address, a new object
  expect(box.value).toBe("disk full");
  rerender(page(new URLSearchParams("q=timeout"))); // the address changed: it wins
  expect(box.value).toBe("timeout");
});
