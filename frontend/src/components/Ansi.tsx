import Anser from "anser";
import { memo } from "react";

/** Text with its ANSI colour codes drawn as colours (CI logs keep them); no HTML is
 * built from the text, so nothing in a log line can become markup. */
export const Ansi = memo(function Ansi({ text }: { text: string }) {
  if (!text.includes("\u001b[")) return <>{text}</>;
  const parts = Anser.ansiToJson(text, { remove_empty: true, use_classes: false });
  return (
    <>
      {parts.map((p, i) => {
        const style: React.CSSProperties = {};
        if (p.fg) style.color = `rgb(${p.fg})`;
        if (p.bg) style.backgroundColor = `rgb(${p.bg})`;
        if (p.decorations.includes("bold")) style.fontWeight = 600;
        if (p.decorations.includes("italic")) style.fontStyle = "italic";
        if (p.decorations.includes("underline")) style.textDecoration = "underline";
        return (
          <span key={i} style={style}>
            {p.content}
          </span>
        );
      })}
    </>
  );
});
