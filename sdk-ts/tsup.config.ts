import { defineConfig } from "tsup";

// ESM with declarations; React stays a peer dependency, never bundled.
export default defineConfig({
  entry: { index: "src/index.ts", react: "src/react/index.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  external: ["react"],
  treeshake: true,
});
