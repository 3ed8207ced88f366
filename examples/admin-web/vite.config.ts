import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = (p: string) => decodeURIComponent(new URL(p, import.meta.url).pathname);

// The app builds @tsskit/sdk from source (sdk-ts/src), so `npm run build`
// needs no SDK build first. `tsskit dev` serves dist/ first, then public/
// (tss.wasm, tss-worker.js) and answers /config.json itself:
// the build must not emit any of those names, hence no publicDir.
export default defineConfig({
  base: "/",
  publicDir: false,
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^@tsskit\/sdk\/react$/, replacement: here("../../sdk-ts/src/react/index.ts") },
      { find: /^@tsskit\/sdk$/, replacement: here("../../sdk-ts/src/index.ts") },
    ],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    // `npm run dev`: proxy what tsskit dev serves on its web port.
    proxy: {
      "/config.json": "http://127.0.0.1:8080",
      "/tss.wasm": "http://127.0.0.1:8080",
      "/tss-worker.js": "http://127.0.0.1:8080",
    },
  },
});
