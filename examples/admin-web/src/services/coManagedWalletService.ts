// coManagedWalletService: the app's API layer. It asks the coordinator
// about wallets through the SDK's TssClient, and runs every TSS operation
// (keygen, signing) and every share-storage operation through the SDK's
// React hooks, useTSSClient and useShareStorage. Components use
// useCoManagedWalletService and never the SDK directly.
import { parseBackup, type ClientProgress, type ServerStatus, type SignatureHex, type StoredWallet, type TssClient, type TssClientConfig, type Wallet } from "@tsskit/sdk";
import { useShareStorage, useTSSClient, type ClientStatus } from "@tsskit/sdk/react";
import { useCallback, useEffect, useMemo, useState } from "react";

import type { AppConfig } from "../config";
import { computeDigest, type DigestMode } from "../lib/digest";
import { AppError } from "../lib/errors";
import { toHex } from "../lib/hex";
import { verifySignature } from "../lib/verify";

/** A wallet this browser holds a share of, with what the coordinator says of it. */
export interface CoManagedWallet extends StoredWallet {
  /** "2-of-3": signers needed of all parties. */
  policy: string;
  /** "checking" until the coordinator answered. */
  server: ServerStatus | "checking";
}

export interface SignedMessage extends SignatureHex {
  walletId: string;
  mode: DigestMode;
  /** The 32-byte digest signed, hex. */
  digest: string;
  /** Checked here against the wallet's public key before it is shown. */
  verified: true;
}

export interface CreateWalletInput {
  name: string;
  password: string;
  threshold: number;
  parties: number;
  signal: AbortSignal;
  /** The server parties were busy: the SDK retries in retryInMs. */
  onBusy?(retryInMs: number): void;
}

/** How often a refusal for overload is retried before the user is told. */
const busyRetry = (onBusy?: (ms: number) => void) => ({ attempts: 5, maxDelayMs: 30_000, onRetry: ({ delayMs }: { delayMs: number }) => onBusy?.(delayMs) });

export const policyOf = (w: { threshold: number; parties: number | string[] }) =>
  `${w.threshold}-of-${Array.isArray(w.parties) ? w.parties.length : w.parties}`;

/** What the coordinator says of each wallet whose share this browser holds. */
export async function fetchServerStatus(client: TssClient): Promise<Record<string, ServerStatus>> {
  const listed = await client.listWallets();
  return Object.fromEntries(listed.map((w) => [w.walletId, w.server]));
}

export interface CoManagedWalletService {
  /** The TSS engine: loading tss.wasm, ready, busy with a keygen or signing, or failed to load. */
  engine: { status: ClientStatus; progress: ClientProgress | null; error: unknown; version: string | null };
  wallets: CoManagedWallet[];
  /** Ids of stored records that cannot be read. */
  corrupt: string[];
  loading: boolean;
  /** "unreachable" when the coordinator answered for none of the wallets. */
  coordinator: "ok" | "unreachable" | "unknown";
  refresh(): Promise<void>;
  createWallet(input: CreateWalletInput): Promise<Wallet>;
  sign(input: { walletId: string; password: string; mode: DigestMode; text: string; onBusy?(retryInMs: number): void }): Promise<SignedMessage>;
  exportBackup(walletId: string, password: string): Promise<{ blob: Blob; fileName: string }>;
  importBackup(file: File, password: string): Promise<StoredWallet>;
  remove(walletId: string): Promise<void>;
}

export function useCoManagedWalletService(config: AppConfig): CoManagedWalletService {
  const tssConfig = useMemo<TssClientConfig>(
    () => ({
      coordinatorUrl: config.coordinatorUrl, routerUrl: config.routerUrl, wasmUrl: config.wasmUrl, token: config.token,
      trustRoot: config.trustRoot, workers: 2,
    }),
    [config.coordinatorUrl, config.routerUrl, config.wasmUrl, config.token, config.trustRoot],
  );
  const tss = useTSSClient(tssConfig);
  const store = useShareStorage({ client: tss.client });
  const client = tss.client;
  const [server, setServer] = useState<Record<string, ServerStatus>>({});

  // Ask the coordinator whenever the stored wallets change.
  useEffect(() => {
    if (!client) return;
    let alive = true;
    fetchServerStatus(client)
      .then((m) => alive && setServer(m))
      .catch(() => {});
    return () => {
      alive = false;
    };
  }, [client, store.wallets]);

  const wallets = useMemo<CoManagedWallet[]>(
    () =>
      store.wallets
        .map((w) => ({ ...w, policy: policyOf(w), server: server[w.walletId] ?? ("checking" as const) }))
        .sort((a, b) => b.createdAt - a.createdAt),
    [store.wallets, server],
  );
  const answered = wallets.filter((w) => w.server !== "checking");
  const coordinator = answered.length === 0 ? "unknown" : answered.every((w) => w.server === "unreachable") ? "unreachable" : "ok";

  const { refresh } = store;
  const createWallet = useCallback(
    async (input: CreateWalletInput) => {
      try {
        return await tss.createWallet({
          name: input.name,
          password: input.password,
          threshold: input.threshold,
          parties: input.parties,
          signal: input.signal,
          retry: busyRetry(input.onBusy),
        });
      } finally {
        await refresh();
      }
    },
    [tss.createWallet, refresh],
  );

  const sign = useCallback(
    async (input: { walletId: string; password: string; mode: DigestMode; text: string; onBusy?(retryInMs: number): void }): Promise<SignedMessage> => {
      const d = computeDigest(input.mode, input.text);
      if (!d.ok) throw new AppError(d.problem);
      const wallet = store.wallets.find((w) => w.walletId === input.walletId);
      if (!wallet) throw new AppError("Pick a wallet to sign with.");
      if (!input.password) throw new AppError("Enter the wallet's password.");
      let sig: SignatureHex;
      try {
        sig = await tss.sign({ walletId: input.walletId, password: input.password, message: d.digest, retry: busyRetry(input.onBusy) });
      } catch (e) {
        const c = client;
        throw e;
      }
      // Verified here, with the public key stored beside the share, before anyone sees it.
      if (!verifySignature(sig.signature, d.digest, wallet.publicKey)) {
        throw new AppError("The signature that came back does not verify against this wallet's public key, so it is not shown. Try again.");
      }
      return { ...sig, walletId: input.walletId, mode: input.mode, digest: toHex(d.digest), verified: true };
    },
    [tss.sign, store.wallets, client],
  );

  const exportBackup = useCallback(
    async (walletId: string, password: string) => {
      if (!password) throw new AppError("Enter the wallet's password.");
      const wallet = store.wallets.find((w) => w.walletId === walletId);
      try {
        const blob = await store.exportBackup(walletId, password);
        return { blob, fileName: backupFileName(wallet?.name ?? "", walletId) };
      } catch (e) {
        const c = client;
        throw e;
      }
    },
    [store.exportBackup, store.wallets, client],
  );

  const importBackup = useCallback(
    async (file: File, password: string) => {
      if (!password) throw new AppError("Enter the password the backup was made with.");
      if (file.size > 4 << 20) throw Object.assign(new Error("too large"), { name: "BackupFormatError" });
      const text = await file.text();
      const header = parseBackup(text); // BackupFormatError before any key derivation
      if (store.wallets.some((w) => w.walletId === header.walletId)) {
        throw new AppError("This wallet's share is already in this browser; there is nothing to import.");
      }
      try {
        return await store.importBackup(text, password);
      } catch (e) {
        throw e;
      }
    },
    [store.importBackup, store.wallets],
  );

  return {
    engine: { status: tss.status, progress: tss.progress, error: tss.error, version: client?.version.version ?? null },
    wallets,
    corrupt: store.corrupt,
    loading: store.loading,
    coordinator,
    refresh,
    createWallet,
    sign,
    exportBackup,
    importBackup,
    remove: store.remove,
  };
}

function backupFileName(name: string, walletId: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  return `tsskit-backup-${slug ? slug + "-" : ""}${walletId.slice(0, 8)}.json`;
}
