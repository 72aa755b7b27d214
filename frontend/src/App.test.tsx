import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { Ansi } from "./components/Ansi";
import { adoptTokenFromHash } from "./lib/api";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe("signing in", () => {
  beforeEach(() => localStorage.clear());

  it("keeps a #token= link's token and takes it out of the address", () => {
    window.history.replaceState(null, "", "/#token=s3cr%2Bt");
    expect(adoptTokenFromHash()).toBe(true);
    expect(localStorage.getItem("logpipe.token")).toBe("s3cr+t");
    expect(window.location.hash).toBe("#/");
  });

  it("asks for a token, and says so when the API refuses it", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response(JSON.stringify({ error: "wrong API token" }), { status: 401 })),
    );
    render(<App />);
    fireEvent.change(screen.getByLabelText("API token"), { target: { value: "nope" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText(/The API refused this token: wrong API token/)).toBeTruthy();
  });

  it("says the API is unreachable when nothing answers", async () => {
    localStorage.setItem("logpipe.token", "t");
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => {
        throw new TypeError("Failed to fetch");
      }),
    );
    render(<App />);
    expect(await screen.findByText("logpipe is unreachable", {}, { timeout: 10_000 })).toBeTruthy();
  });
});

describe("ANSI colours", () => {
  it("draws colours as styles and never as markup", () => {
    const { container } = render(<Ansi text={"\u001b[31mred\u001b[0m <b>plain</b>"} />);
    const red = [...container.querySelectorAll("span")].find((s) => s.textContent === "red");
    expect(red?.style.color).toBe("rgb(187, 0, 0)");
    expect(container.querySelector("b")).toBeNull();
    expect(container.textContent).toBe("red <b>plain</b>");
  });
});
