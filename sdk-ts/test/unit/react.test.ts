// @vitest-environment jsdom
import "fake-indexeddb/auto";
import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { TsskitError } from "../../src/errors.js";
import { useRecoverWallet, useRefreshWallet, useReshareWallet, useShareStorage, useTSSClient } from "../../src/react/index.js";
import { RecoveryError } from "../../src/errors.js";
import type { TssClient, TssClientConfig } from "../../src/tss-client.js";

const cfg: TssClientConfig = { coordinatorUrl: "http://c", routerUrl: "http://r", wasmUrl: "http://w/tss.wasm", token: "t", trustRoot: "00".repeat(32) };

function fakeClient(over: Partial<Record<string, unknown>> = {}) {
  return {
    close: vi.fn(),
    createWallet: vi.fn(async (o: { onProgress?: (p: unknown) => void }) => {
      o.onProgress?.({ phase: "keygen", round: 2, rounds: 4, fraction: 0.6 });
      return { walletId: "w1", publicKey: "02aa", address: "0x00", threshold: 2, parties: 3 };
    }),
    sign: vi.fn(async () => {
      throw new TsskitError("protocol", "server-2 cheated", ["server-2"]);
    }),
    storage: {
      list: vi.fn(async () => ({ wallets: [{ walletId: "w1" }], corrupt: ["bad"] })),
      remove: vi.fn(async () => {}),
      exportBackup: vi.fn(async () => "{}"),
      importBackup: vi.fn(async () => ({ walletId: "w2" })),
    },
    ...over,
  } as unknown as TssClient;
}

// Unmount what a test rendered before jsdom goes away: a React task left
// queued after the last test runs without a window.
afterEach(() => cleanup());

describe("useTSSClient", () => {
  it("loads, runs calls with progress, reports errors and closes on unmount", async () => {
    const client = fakeClient();
    const factory = vi.fn(async (c: TssClientConfig) => {
      c.onLoadProgress?.({ phase: "loading", fraction: 0.05 });
      return client;
    });
    const { result, unmount } = renderHook(() => useTSSClient(cfg, factory));
    expect(result.current.status).toBe("loading");
    await waitFor(() => expect(result.current.status).toBe("ready"));
    expect(factory).toHaveBeenCalledTimes(1);

    let wallet: unknown;
    await act(async () => {
      wallet = await result.current.createWallet({ name: "n", password: "p" });
    });
    expect(wallet).toMatchObject({ walletId: "w1" });
    expect(result.current.progress).toMatchObject({ phase: "keygen", round: 2 });
    expect(result.current.status).toBe("ready");

    await act(async () => {
      await expect(result.current.sign({ walletId: "w1", password: "p", message: new Uint8Array(32) })).rejects.toThrow("server-2 cheated");
    });
    expect(result.current.error?.code).toBe("protocol");
    expect(result.current.error?.culprits).toEqual(["server-2"]);
    expect(result.current.status).toBe("ready");

    unmount();
    expect(client.close).toHaveBeenCalled();
  });

  it("reports a load failure", async () => {
    const { result } = renderHook(() => useTSSClient(cfg, async () => Promise.reject(new TsskitError("worker", "no wasm"))));
    await waitFor(() => expect(result.current.status).toBe("error"));
    expect(result.current.error?.code).toBe("worker");
    await expect(result.current.createWallet({ name: "n", password: "p" })).rejects.toMatchObject({ code: "not_ready" });
  });
});

describe("useShareStorage", () => {
  it("lists, imports, exports and removes through the client's storage", async () => {
    const client = fakeClient();
    const { result } = renderHook(() => useShareStorage({ client }));
    await waitFor(() => expect(result.current.wallets).toHaveLength(1));
    expect(result.current.corrupt).toEqual(["bad"]);
    await act(async () => {
      await result.current.importBackup("{}", "pw");
      await result.current.remove("w1");
    });
    expect(client.storage.importBackup).toHaveBeenCalledWith("{}", "pw", undefined);
    expect(client.storage.remove).toHaveBeenCalledWith("w1");
    expect((client.storage.list as ReturnType<typeof vi.fn>).mock.calls.length).toBeGreaterThanOrEqual(3);
    let blob: Blob | undefined;
    await act(async () => {
      blob = await result.current.exportBackup("w1", "pw");
    });
    expect(blob?.type).toBe("application/json");
  });

  it("opens its own storage without a client", async () => {
    const { result } = renderHook(() => useShareStorage({ storage: { dbName: "hooks-test", persist: false } }));
    expect(result.current.loading).toBe(true); // nothing read yet
    await waitFor(() => expect(result.current.loading).toBe(false));
    await waitFor(() => expect(result.current.error).toBeNull());
    expect(result.current.wallets).toEqual([]);
  });
});

describe("useRefreshWallet / useReshareWallet", () => {
  it("run a refresh with progress and the new epoch, and a reshare's error", async () => {
    const client = fakeClient({
      refreshWallet: vi.fn(async (o: { onProgress?: (p: unknown) => void; signal?: AbortSignal }) => {
        expect(o.signal).toBeInstanceOf(AbortSignal);
        o.onProgress?.({ phase: "resharing", round: 3, rounds: 5, fraction: 0.7 });
        return { walletId: "w1", publicKey: "02aa", address: "0x00", threshold: 2, parties: 3, epoch: 1 };
      }),
      reshareWallet: vi.fn(async () => {
        throw new TsskitError("session_mismatch", "the coordinator's reshare makes 3 holders; 4 were asked for");
      }),
    });
    const refresh = renderHook(() => useRefreshWallet(client));
    expect(refresh.result.current.status).toBe("idle");
    await act(async () => {
      await refresh.result.current.run({ walletId: "w1", password: "p" });
    });
    expect(refresh.result.current.status).toBe("done");
    expect(refresh.result.current.wallet?.epoch).toBe(1);
    expect(refresh.result.current.progress).toMatchObject({ phase: "resharing", round: 3 });

    const reshare = renderHook(() => useReshareWallet(client));
    await act(async () => {
      await expect(reshare.result.current.run({ walletId: "w1", password: "p", threshold: 3, parties: 4 })).rejects.toThrow("4 were asked for");
    });
    expect(reshare.result.current.status).toBe("error");
    expect(reshare.result.current.error?.code).toBe("session_mismatch");
    expect(client.reshareWallet).toHaveBeenCalledWith(expect.objectContaining({ walletId: "w1", threshold: 3, parties: 4 }));
  });

  it("cancel aborts the running call's signal; no client is not_ready", async () => {
    let seen: AbortSignal | undefined;
    const client = fakeClient({
      refreshWallet: vi.fn(
        (o: { signal: AbortSignal }) =>
          new Promise((_, reject) => {
            seen = o.signal;
            o.signal.addEventListener("abort", () => reject(new TsskitError("canceled", "canceled")));
          }),
      ),
    });
    const { result } = renderHook(() => useRefreshWallet(client));
    let done!: Promise<unknown>;
    act(() => {
      done = result.current.run({ walletId: "w1", password: "p" }).catch((e: unknown) => e);
    });
    await waitFor(() => expect(result.current.status).toBe("running"));
    await expect(result.current.run({ walletId: "w1", password: "p" })).rejects.toMatchObject({ code: "busy" });
    act(() => result.current.cancel());
    expect(seen?.aborted).toBe(true);
    await act(async () => {
      expect(await done).toMatchObject({ code: "canceled" });
    });
    expect(result.current.status).toBe("error");
    const none = renderHook(() => useReshareWallet(null));
    await expect(none.result.current.run({ walletId: "w1", password: "p" })).rejects.toMatchObject({ code: "not_ready" });
  });
});

describe("useRecoverWallet", () => {
  it("keeps the request it made, runs a recovery with progress, and reports a refusal by its code", async () => {
    const req = { walletId: "w1", epoch: 1, partyId: "browser-new", identity: "ab".repeat(32), recovery: { kit: true, backend: true }, createdAt: 1 };
    let refuse = false;
    const client = fakeClient({
      requestRecovery: vi.fn(async () => req),
      recoverWallet: vi.fn(async (o: { onProgress?: (p: unknown) => void; signal?: AbortSignal; approval?: string }) => {
        expect(o.signal).toBeInstanceOf(AbortSignal);
        if (refuse) throw new RecoveryError("recovery_expired", "the authorization expired");
        o.onProgress?.({ phase: "activating", fraction: 0.96 });
        return { walletId: "w1", publicKey: "02aa", address: "0x00", threshold: 2, parties: 3, epoch: 2 };
      }),
    });
    const h = renderHook(() => useRecoverWallet(client));
    expect(h.result.current.request).toBeNull();
    await act(async () => {
      await h.result.current.requestRecovery({ walletId: "w1", password: "p" });
    });
    expect(h.result.current.request).toEqual(req);
    await act(async () => {
      await h.result.current.run({ password: "p", approval: "{}", address: "0x00000000000000000000000000000000000000aa" });
    });
    expect(h.result.current.status).toBe("done");
    expect(h.result.current.wallet?.epoch).toBe(2);
    expect(h.result.current.progress).toMatchObject({ phase: "activating" });
    refuse = true;
    await act(async () => {
      await expect(h.result.current.run({ password: "p", walletId: "w1", code: "twelve words", address: "0x00000000000000000000000000000000000000aa" })).rejects.toBeInstanceOf(RecoveryError);
    });
    expect(h.result.current.status).toBe("error");
    expect(h.result.current.error?.code).toBe("recovery_expired");
  });
});
