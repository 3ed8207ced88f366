// Pinned loading (src/integrity.ts, the loader's choice of pins). fetch is
// a stand-in that serves fixed files and, like a browser's, refuses a body
// that does not match the integrity option with a bare TypeError; the
// browser test (test/browser/integrity.test.mjs) serves swapped files to
// real Chromium.
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";

import { BUILD_INTEGRITY } from "../../src/build-integrity";
import { IntegrityError, TsskitError } from "../../src/errors.js";
import { checkBytes, fetchPinned, isPin, sriOf } from "../../src/integrity.js";
import { resolveIntegrity } from "../../src/tss-wasm-loader.js";

const enc = (s: string) => new TextEncoder().encode(s);
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const sri = (b: Uint8Array | string) => "sha384-" + b64(sha384(typeof b === "string" ? enc(b) : b));

const base = "https://static.example";
const files: Record<string, Uint8Array> = {
  "/tss.wasm": Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
  "/tss-worker.js": enc("self.onmessage = () => {};\n"),
};

beforeAll(() => {
  vi.stubGlobal("fetch", async (url: string, init: RequestInit = {}) => {
    const body = files[new URL(url).pathname];
    const res = body ? new Response(body.slice(), { status: 200 }) : new Response("not found", { status: 404 });
    if (init.integrity) {
      const got = new Uint8Array(await res.clone().arrayBuffer());
      if (sri(got) !== init.integrity) throw new TypeError("Failed to fetch");
    }
    return res;
  });
});
afterAll(() => vi.unstubAllGlobals());

describe("pinned fetch", () => {
  test("the file that matches its pin loads", async () => {
    const res = await fetchPinned(`${base}/tss.wasm`, sri(files["/tss.wasm"]!), "wasm");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(files["/tss.wasm"]);
  });

  test("another file under the same URL is refused with an IntegrityError naming both hashes", async () => {
    const pinned = sri("the build that was pinned");
    const thrown = await fetchPinned(`${base}/tss-worker.js`, pinned, "worker").catch((e) => e);
    // Thrown plain (this code runs in the worker too), typed on the page.
    expect(thrown).toMatchObject({ name: "IntegrityError", code: "integrity" });
    const err = TsskitError.from(thrown) as IntegrityError;
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).toBeInstanceOf(TsskitError);
    expect(err).toMatchObject({ code: "integrity", resource: "worker", url: `${base}/tss-worker.js`, expected: pinned, actual: sri(files["/tss-worker.js"]!) });
    expect(err.message).toMatch(/tss-worker\.js .* does not match its pinned hash/);
    // As the worker posts it (a structured clone of a plain object), and back.
    expect(TsskitError.from(JSON.parse(JSON.stringify({ ...thrown, message: thrown.message })))).toMatchObject({ code: "integrity", actual: err.actual });
  });

  test("a missing file is load_failed, not an integrity failure", async () => {
    const err = TsskitError.from(await fetchPinned(`${base}/nothing.wasm`, sri("x"), "wasm").catch((e) => e));
    expect(err).not.toBeInstanceOf(IntegrityError);
    expect(err.code).toBe("load_failed");
  });

  test("without a pin the fetch is plain", async () => {
    const res = await fetchPinned(`${base}/tss-worker.js`, null, "worker");
    expect(await res.text()).toBe(new TextDecoder().decode(files["/tss-worker.js"]));
  });

  test("checkBytes and sriOf agree with Node's hashes", async () => {
    const b = files["/tss-worker.js"]!;
    const ab = b.slice().buffer;
    expect(await sriOf(ab, "sha384")).toBe(sri(b));
    expect(await sriOf(ab, "sha256")).toBe("sha256-" + b64(sha256(b)));
    await checkBytes(ab, sri(b), "worker", "u");
    await expect(checkBytes(ab, sri("other"), "worker", "u")).rejects.toMatchObject({ code: "integrity", resource: "worker" });
  });
});

describe("which pins", () => {
  const pins = { wasm: sri("a"), worker: sri("b") };

  test("the app's pins, checked for form", () => {
    expect(resolveIntegrity(pins)).toEqual(pins);
    expect(resolveIntegrity({ wasm: "sha256-" + b64(sha256(enc("a"))), worker: pins.worker })!.wasm).toMatch(/^sha256-/);
    for (const bad of ["", "sha384-", "md5-AAAA", "sha384-" + b64(sha256(enc("a"))), `${pins.wasm} ${pins.wasm}`, 42]) {
      expect(() => resolveIntegrity({ ...pins, wasm: bad as string })).toThrow(/integrity\.wasm/);
    }
    expect(isPin(pins.worker)).toBe(true);
  });

  test("false turns pinning off", () => {
    expect(resolveIntegrity(false)).toBeNull();
  });

  test("by default the build's own pins, and none is a refusal, not unpinned loading", () => {
    if (BUILD_INTEGRITY) {
      expect(resolveIntegrity(undefined)).toEqual({ wasm: BUILD_INTEGRITY.wasm, worker: BUILD_INTEGRITY.worker });
    } else {
      expect(() => resolveIntegrity(undefined)).toThrow(expect.objectContaining({ code: "integrity" }));
    }
  });
});
