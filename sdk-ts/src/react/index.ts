// React hooks for @tsskit/sdk (React is a peer dependency, not bundled).
import { useCallback, useEffect, useRef, useState } from "react";

import { TsskitError } from "../errors.js";
import type { ClientProgress, ReshareProgress } from "../progress.js";
import { ShareStorage, type ShareStorageOptions, type StoredWallet } from "../share-storage.js";
import type { RecoveryRequest } from "../recovery.js";
import {
  TssClient, type CreatedWallet, type CreateWalletOptions, type RecoverWalletOptions, type RefreshWalletOptions, type RequestRecoveryOptions,
  type ReshareWalletOptions, type SignOptions, type SignatureHex, type TssClientConfig, type Wallet,
} from "../tss-client.js";

export type ClientStatus = "loading" | "ready" | "busy" | "error" | "closed";

export interface UseTSSClient {
  client: TssClient | null;
  status: ClientStatus;
  /** Progress of the load or of the running call. */
  progress: ClientProgress | null;
  error: TsskitError | null;
  /** With `recovery.kit`, the result carries the recovery code: show it once, keep it in no state. */
  createWallet(opts: Omit<CreateWalletOptions, "onProgress">): Promise<CreatedWallet>;
  sign(opts: Omit<SignOptions, "onProgress">): Promise<SignatureHex>;
}

/** Factory used to make the client; tests replace it. */
export type ClientFactory = (cfg: TssClientConfig) => Promise<TssClient>;

/**
 * useTSSClient creates a TssClient for config (once per distinct URL set,
 * pins and token), closes it on unmount, and tracks status, progress and the last
 * error of createWallet and sign.
 */
export function useTSSClient(config: TssClientConfig, factory: ClientFactory = TssClient.create): UseTSSClient {
  const [client, setClient] = useState<TssClient | null>(null);
  const [status, setStatus] = useState<ClientStatus>("loading");
  const [progress, setProgress] = useState<ClientProgress | null>(null);
  const [error, setError] = useState<TsskitError | null>(null);
  const key = [config.coordinatorUrl, config.routerUrl, config.wasmUrl, config.workerUrl ?? "", JSON.stringify(config.integrity ?? null), config.token].join("\n");
  const cfgRef = useRef(config);
  cfgRef.current = config;

  useEffect(() => {
    let alive = true;
    let made: TssClient | null = null;
    setStatus("loading");
    setError(null);
    factory({ ...cfgRef.current, onLoadProgress: (p) => alive && setProgress(p) })
      .then((c) => {
        made = c;
        if (!alive) return c.close();
        setClient(c);
        setStatus("ready");
        setProgress(null);
      })
      .catch((e) => {
        if (!alive) return;
        setError(TsskitError.from(e));
        setStatus("error");
      });
    return () => {
      alive = false;
      made?.close();
      setClient(null);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  const busy = useCallback(
    async <T,>(f: (c: TssClient, onProgress: (p: ClientProgress) => void) => Promise<T>): Promise<T> => {
      if (!client) throw new TsskitError("not_ready", "the TSS client is not ready");
      setStatus("busy");
      setError(null);
      setProgress(null);
      try {
        const out = await f(client, setProgress);
        setStatus("ready");
        return out;
      } catch (e) {
        setError(TsskitError.from(e));
        setStatus("ready"); // the client still works; the error says what failed
        throw e; // as thrown: WrongPasswordError & co keep their class
      }
    },
    [client],
  );

  return {
    client,
    status,
    progress,
    error,
    createWallet: useCallback(
      (opts: Omit<CreateWalletOptions, "onProgress">) => busy((c, onProgress) => c.createWallet({ ...opts, onProgress })),
      [busy],
    ),
    sign: useCallback((opts: Omit<SignOptions, "onProgress">) => busy((c, onProgress) => c.sign({ ...opts, onProgress })), [busy]),
  };
}

export interface UseShareStorage {
  wallets: StoredWallet[];
  /** Wallet ids whose stored record cannot be read. */
  corrupt: string[];
  /** True until the first list is read, and while a list is read. */
  loading: boolean;
  error: TsskitError | null;
  refresh(): Promise<void>;
  exportBackup(walletId: string, password: string): Promise<Blob>;
  importBackup(file: Blob | string, password: string, meta?: { name?: string }): Promise<StoredWallet>;
  /** Removes the share; asking the user to confirm is the app's job. */
  remove(walletId: string): Promise<void>;
}

/**
 * useShareStorage lists the shares kept in this browser and exports,
 * imports and removes them. It uses client's storage when given one, and
 * otherwise opens the storage itself (no network needed).
 */
export function useShareStorage(opts: { client?: TssClient | null; storage?: ShareStorageOptions } = {}): UseShareStorage {
  // Without a client the storage decrypts in this thread (LocalShareCrypto):
  // give it a client to keep passwords' keys and shares in its worker.
  const [own, setOwn] = useState<ShareStorage<unknown> | null>(null);
  const [wallets, setWallets] = useState<StoredWallet[]>([]);
  const [corrupt, setCorrupt] = useState<string[]>([]);
  // True until the first list is read, so "not loading" means the list
  // shown is the stored one, not the empty start.
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<TsskitError | null>(null);
  const useOwn = !opts.client;
  const optsRef = useRef(opts.storage);
  optsRef.current = opts.storage;

  useEffect(() => {
    if (!useOwn) return;
    let alive = true;
    let made: ShareStorage<unknown> | null = null;
    ShareStorage.open<unknown>(optsRef.current)
      .then((s) => {
        made = s;
        if (alive) setOwn(s);
        else s.close();
      })
      .catch((e) => {
        if (!alive) return;
        setError(TsskitError.from(e));
        setLoading(false);
      });
    return () => {
      alive = false;
      made?.close();
      setOwn(null);
    };
  }, [useOwn]);

  const storage: ShareStorage<unknown> | null = opts.client ? (opts.client.storage as ShareStorage<unknown>) : own;

  const refresh = useCallback(async () => {
    if (!storage) return;
    setLoading(true);
    try {
      const l = await storage.list();
      setWallets(l.wallets);
      setCorrupt(l.corrupt);
      setError(null);
    } catch (e) {
      setError(TsskitError.from(e));
    } finally {
      setLoading(false);
    }
  }, [storage]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const guard = useCallback(
    async <T,>(f: (s: ShareStorage<unknown>) => Promise<T>, after = false): Promise<T> => {
      if (!storage) throw new TsskitError("not_ready", "the share storage is not open yet");
      try {
        const out = await f(storage);
        if (after) await refresh();
        return out;
      } catch (e) {
        setError(TsskitError.from(e));
        throw e; // as thrown: WrongPasswordError & co keep their class
      }
    },
    [storage, refresh],
  );

  return {
    wallets,
    corrupt,
    loading,
    error,
    refresh,
    exportBackup: useCallback(
      (id: string, pw: string) => guard(async (s) => new Blob([await s.exportBackup(id, pw)], { type: "application/json" })),
      [guard],
    ),
    importBackup: useCallback(
      (f: Blob | string, pw: string, meta?: { name?: string }) =>
        guard(async (s) => s.importBackup(typeof f === "string" ? f : await f.text(), pw, meta), true),
      [guard],
    ),
    remove: useCallback((id: string) => guard((s) => s.remove(id), true), [guard]),
  };
}

export type OperationStatus = "idle" | "running" | "done" | "error";

/** A refresh or reshare in a component: its state, and run / cancel. */
export interface UseReshare<O> {
  status: OperationStatus;
  progress: ReshareProgress | null;
  error: TsskitError | null;
  /** The wallet as the last run left it (its new epoch). */
  wallet: Wallet | null;
  /** Starts a run (one at a time); its progress goes to `progress`. A `signal` in opts cancels it too. */
  run(opts: O): Promise<Wallet>;
  /**
   * Cancels the running call: until this browser has stored and reported
   * its new share; after that the call runs to its end (see
   * RefreshWalletOptions.signal).
   */
  cancel(): void;
}

/**
 * useRefreshWallet runs client.refreshWallet with status, progress, the
 * last error and cancel, as useTSSClient does createWallet. Give it
 * useTSSClient(...).client.
 */
export function useRefreshWallet(client: TssClient | null): UseReshare<Omit<RefreshWalletOptions, "onProgress">> {
  return useReshareOp(client, (c, opts: Omit<RefreshWalletOptions, "onProgress">, onProgress, signal) => c.refreshWallet({ ...opts, onProgress, signal }));
}

/** useReshareWallet: as useRefreshWallet, with client.reshareWallet (a new threshold or number of holders). */
export function useReshareWallet(client: TssClient | null): UseReshare<Omit<ReshareWalletOptions, "onProgress">> {
  return useReshareOp(client, (c, opts: Omit<ReshareWalletOptions, "onProgress">, onProgress, signal) => c.reshareWallet({ ...opts, onProgress, signal }));
}

function useReshareOp<O extends { signal?: AbortSignal }>(
  client: TssClient | null,
  call: (c: TssClient, opts: O, onProgress: (p: ReshareProgress) => void, signal: AbortSignal) => Promise<Wallet>,
): UseReshare<O> {
  const [status, setStatus] = useState<OperationStatus>("idle");
  const [progress, setProgress] = useState<ReshareProgress | null>(null);
  const [error, setError] = useState<TsskitError | null>(null);
  const [wallet, setWallet] = useState<Wallet | null>(null);
  const running = useRef<AbortController | null>(null);
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  const callRef = useRef(call);
  callRef.current = call;

  const run = useCallback(
    async (opts: O): Promise<Wallet> => {
      if (!client) throw new TsskitError("not_ready", "the TSS client is not ready");
      if (running.current) throw new TsskitError("busy", "a refresh or reshare is already running");
      const ac = new AbortController();
      running.current = ac;
      const outer = opts.signal;
      const onOuter = () => ac.abort(outer?.reason);
      if (outer?.aborted) ac.abort(outer.reason);
      outer?.addEventListener("abort", onOuter, { once: true });
      const set = <T,>(f: (v: T) => void, v: T) => alive.current && f(v);
      set(setStatus, "running" as OperationStatus);
      set(setError, null);
      set(setProgress, null);
      try {
        const w = await callRef.current(client, opts, (p) => set(setProgress, p), ac.signal);
        set(setWallet, w);
        set(setStatus, "done" as OperationStatus);
        return w;
      } catch (e) {
        set(setError, TsskitError.from(e));
        set(setStatus, "error" as OperationStatus);
        throw e; // as thrown: WrongPasswordError & co keep their class
      } finally {
        outer?.removeEventListener("abort", onOuter);
        running.current = null;
      }
    },
    [client],
  );
  const cancel = useCallback(() => running.current?.abort(), []);
  return { status, progress, error, wallet, run, cancel };
}

/** A recovery in a component: useReshare's state and run (client.recoverWallet), and the backend-approval request step. */
export interface UseRecover extends UseReshare<Omit<RecoverWalletOptions, "onProgress">> {
  /** client.requestRecovery: the request for the app backend to approve; it is kept in `request` too. */
  requestRecovery(opts: RequestRecoveryOptions): Promise<RecoveryRequest>;
  /** The last request made (public fields only), or null. */
  request: RecoveryRequest | null;
}

/**
 * useRecoverWallet runs client.recoverWallet (with a recovery code or the
 * app backend's approval) with status, progress, the last error and
 * cancel, as useRefreshWallet does, and client.requestRecovery for the
 * approval route. Give it useTSSClient(...).client.
 */
export function useRecoverWallet(client: TssClient | null): UseRecover {
  const op = useReshareOp(client, (c, opts: Omit<RecoverWalletOptions, "onProgress">, onProgress, signal) => c.recoverWallet({ ...opts, onProgress, signal }));
  const [request, setRequest] = useState<RecoveryRequest | null>(null);
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  const requestRecovery = useCallback(
    async (opts: RequestRecoveryOptions): Promise<RecoveryRequest> => {
      if (!client) throw new TsskitError("not_ready", "the TSS client is not ready");
      const r = await client.requestRecovery(opts);
      if (alive.current) setRequest(r);
      return r;
    },
    [client],
  );
  return { ...op, requestRecovery, request };
}
