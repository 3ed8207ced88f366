import { defineConfig } from "vitest/config";

// Unit tests run in Node: Web Crypto is globalThis.crypto there too, and
// the share-storage tests bring their own IndexedDB (fake-indexeddb).
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/unit/**/*.test.ts"],
    // PBKDF2 at 600,000 iterations takes about 0.3 s a derivation.
    testTimeout: 30_000,
  },
});
