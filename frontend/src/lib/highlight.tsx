// Marking what a query matched: its words and phrases (not the negated ones, not field
// terms), as whole words in any ASCII case, as the API's search language matches them.
import type { ReactNode } from "react";

export function queryTerms(q: string): string[] {
  const out: string[] = [];
  const re = /(-?)(?:"([^"]*)"|(\S+))/g;
  for (let m = re.exec(q); m; m = re.exec(q)) {
    if (m[1]) continue;
    const t = m[2] ?? m[3] ?? "";
    if (!t || /^fields\./.test(t)) continue;
    out.push(t);
  }
  return out;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function termsRegex(terms: string[], wholeWords = true): RegExp | null {
  const parts = terms.filter(Boolean).map(escape);
  if (parts.length === 0) return null;
  const body = `(${parts.join("|")})`;
  return new RegExp(wholeWords ? `(?<![\\w])${body}(?![\\w])` : body, "gi");
}

/** `text` with each match of `re` in a <mark>. */
export function highlight(text: string, re: RegExp | null, className?: string): ReactNode {
  if (!re) return text;
  const out: ReactNode[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === "") {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(
      <mark key={m.index} className={className}>
        {m[0]}
      </mark>,
    );
    last = m.index + m[0].length;
  }
  if (last === 0) return text;
  out.push(text.slice(last));
  return out;
}
