import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { adoptTokenFromHash } from "./lib/api";
import "./style.css";

adoptTokenFromHash();
const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
  // The first render's time, for `make bench-ui` (read through the Performance API).
  requestAnimationFrame(() => performance.mark("logpipe:first-render"));
}
