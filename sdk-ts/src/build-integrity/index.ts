// The pins of a build that has none. `make wasm` writes the build's own
// pins to ../build-integrity.ts (git-ignored), which an import of
// "./build-integrity" resolves to before this directory: TypeScript,
// esbuild and Vite all try the file before the directory's index. So a
// fresh clone type-checks and builds, and an SDK built before `make wasm`
// refuses to load tss.wasm unless the app passes its own pins (or
// integrity: false). Import it without an extension to keep that order.

/** The SHA-384 pins of tss.wasm and tss-worker.js this SDK was built with. */
export const BUILD_INTEGRITY: { readonly wasm: string; readonly worker: string } | null = null;
