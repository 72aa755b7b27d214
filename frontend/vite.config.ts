import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// Built to dist/: the local runner serves it at / beside the API; any static host
// (a bucket behind a CDN) serves it too, with VITE_API_BASE naming the API's origin.
export default defineConfig({
  plugins: [react()],
  base: "./",
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 400 },
  // `npx vite` with hot reload: /api goes to a running `logpipe run` (LOGPIPE_URL).
  server: { proxy: { "/api": process.env.LOGPIPE_URL ?? "http://127.0.0.1:8080" } },
  test: { environment: "jsdom", include: ["src/**/*.test.{ts,tsx}"], setupFiles: ["src/test-setup.ts"] },
});
