import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { highlight, queryTerms, termsRegex } from "./highlight";

describe("query highlights", () => {
  it("marks the words and phrases a query asks for, not negated or field terms", () => {
    expect(queryTerms('error -timeout "disk full" fields.user=ana')).toEqual(["error", "disk full"]);
  });

  it("marks whole words in any case, as the search matches them", () => {
    const re = termsRegex(["error", "disk full"]);
    const { container } = render(<p>{highlight("ERROR: Disk full; errors follow", re)}</p>);
    expect([...container.querySelectorAll("mark")].map((m) => m.textContent)).toEqual(["ERROR", "Disk full"]);
  });

  it("leaves text without a match as it is", () => {
    expect(highlight("nothing here", termsRegex(["error"]))).toBe("nothing here");
    expect(highlight("x", null)).toBe("x");
  });
});
