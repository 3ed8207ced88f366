import { defineConfig } from "vitest/config";

// The app's pure modules (lib/), in Node; the app itself is tested in
// Chromium by test/admin-web.test.mjs.
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/unit/**/*.test.ts"],
  },
});
