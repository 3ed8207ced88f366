import { defineConfig } from "tsup";

// ESM with declarations; React and viem stay peer dependencies, never bundled.
export default defineConfig({
  entry: { index: "src/index.ts", react: "src/react/index.ts", viem: "src/viem.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  external: ["react", "viem"],
  treeshake: true,
});
