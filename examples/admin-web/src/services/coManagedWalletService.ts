// coManagedWalletService: the app's API layer. It asks the coordinator
// about wallets through the SDK's TssClient, and runs every TSS operation
// (keygen, signing, refresh, change of policy, recovery) and every
// share-storage operation through the SDK's React hooks, useTSSClient,
// useRefreshWallet, useReshareWallet, useRecoverWallet and useShareStorage. Components use
// useCoManagedWalletService and never the SDK directly.
import {
  parseBackup, signMessageWith, signTransactionWith, signTypedDataWith,
  type AccountWallet, type ClientProgress, type PendingShare, type CreatedWallet, type DerivedAddress, type Hex, type RecoveryRequest, type ReshareProgress,
  type ServerStatus, type SettledRun, type SettleRunOptions, type SignatureHex, type StoredRun, type StoredWallet, type TssClient, type TssClientConfig,
  type Wallet, type WalletListing,
} from "@tsskit/sdk";
import {
  useRecoverWallet, useRefreshWallet, useReshareWallet, useShareStorage, useTSSClient, type ClientStatus, type OperationStatus,
} from "@tsskit/sdk/react";
import { useCallback, useEffect, useMemo, useState } from "react";

import type { AppConfig } from "../config";
import { computeDigest, type DigestMode } from "../lib/digest";
import { AppError } from "../lib/errors";
import { isEthMode, parseEthRequest, type EthMode } from "../lib/ethRequest";
import { toHex } from "../lib/hex";
import { recoverEthSigner, verifySignature } from "../lib/verify";

/** A wallet this browser holds a share of, with what the coordinator says of it. */
export interface CoManagedWallet extends StoredWallet {
  /** "2-of-3": signers needed of all parties. */
  policy: string;
  /** "checking" until the coordinator answered. */
  server: ServerStatus | "checking";
  /**
   * The wallet's epoch as the coordinator records it (when server is "ok").
   * Greater than `epoch`: the wallet was refreshed without this browser,
   * whose share no longer signs.
   */
  serverEpoch?: number;
}

/** What the sign section can sign: a digest (digest.ts) or an Ethereum request (ethRequest.ts). */
export type SignMode = DigestMode | EthMode;

export interface SignInput {
  walletId: string;
  password: string;
  mode: SignMode;
  /** The text, the hex digest or the JSON, as typed. */
  text: string;
  /** A BIP32 path such as "m/0/5"; empty or absent: the wallet key itself. */
  path?: string;
  /** The server parties were busy: the SDK retries in retryInMs. */
  onBusy?(retryInMs: number): void;
}

export interface SignedMessage extends SignatureHex {
  kind: "digest";
  walletId: string;
  mode: DigestMode;
  /** The key that signed: "m" (the wallet key) or the derivation path. */
  path: string;
  /** The 32-byte digest signed, hex. */
  digest: string;
  /** Checked here against the public key of the wallet (or path) before it is shown. */
  verified: true;
}

export interface SignedEthereum {
  kind: "ethereum";
  walletId: string;
  mode: EthMode;
  /** The key that signed: "m" (the wallet key) or the derivation path. */
  path: string;
  /** The 32-byte hash signed, hex. */
  digest: string;
  /** r || s || v (v 27/28), or for a transaction the signed transaction. */
  signed: Hex;
  /** The address of the wallet key or of the derived key: who should have signed. */
  signer: string;
  /** Who did sign, recovered with viem from what came back. */
  recovered: string;
  matches: boolean;
  /** A transaction's hash (of the signed transaction). */
  txHash?: string;
}

export type SignResult = SignedMessage | SignedEthereum;

export interface CreateWalletInput {
  name: string;
  password: string;
  threshold: number;
  parties: number;
  /** The wallet's recovery policy (docs/lifecycle.md): a recovery code shown once, and/or the app backend's approvals. */
  recovery: { kit: boolean; backend: boolean };
  signal: AbortSignal;
  /** The server parties were busy: the SDK retries in retryInMs. */
  onBusy?(retryInMs: number): void;
}

export interface LifecycleInput {
  walletId: string;
  password: string;
  /** Cancels until this browser's new share is stored and reported; after that the call runs to its end. */
  signal: AbortSignal;
  /** The server parties were busy: the SDK retries in retryInMs. */
  onBusy?(retryInMs: number): void;
}

export interface ChangePolicyInput extends LifecycleInput {
  threshold: number;
  parties: number;
}

/** A recovery onto this browser: by the address the user knows, with the recovery code or the app backend's approval. */
export interface RecoverInput {
  /** The wallet's address as the user has it written down; the key handed over must have it. */
  address: string;
  /** The new share's password (with an approval: the one given when the request was made). */
  password: string;
  code?: string;
  /** The approval file's text. */
  approval?: string;
  signal: AbortSignal;
  onBusy?(retryInMs: number): void;
}

/** How often a refusal for overload is retried before the user is told. */
const busyRetry = (onBusy?: (ms: number) => void) => ({ attempts: 5, maxDelayMs: 30_000, onRetry: ({ delayMs }: { delayMs: number }) => onBusy?.(delayMs) });

export const policyOf = (w: { threshold: number; parties: number | string[] }) =>
  `${w.threshold}-of-${Array.isArray(w.parties) ? w.parties.length : w.parties}`;

/** What the coordinator says of each wallet whose share this browser holds. */
export async function fetchServerStatus(client: TssClient): Promise<Record<string, Pick<WalletListing, "server" | "serverEpoch">>> {
  const listed = await client.listWallets();
  return Object.fromEntries(listed.map((w) => [w.walletId, { server: w.server, serverEpoch: w.serverEpoch }]));
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
  /** The wallet, and with a recovery kit its recovery code (shown once, never stored). */
  createWallet(input: CreateWalletInput): Promise<CreatedWallet>;
  /** A refresh, change of policy or recovery under way: its status and progress (phases loading … activating). */
  lifecycle: { status: OperationStatus; progress: ReshareProgress | null };
  /** New shares of the same key for every holder; the result has the new epoch. */
  refreshWallet(input: LifecycleInput): Promise<Wallet>;
  /** A refresh to a new policy (threshold of parties); the result has the new epoch and policy. */
  changePolicy(input: ChangePolicyInput): Promise<Wallet>;
  /**
   * The wallet of this user's account with this address, as the
   * coordinator lists them; AppError when there is none.
   */
  findAccountWallet(address: string): Promise<AccountWallet>;
  /** A recovery onto this browser; the result has the new epoch, and this browser's share is stored. */
  recoverWallet(input: RecoverInput): Promise<Wallet>;
  /** Starts a recovery that the app backend approves: the request to hand to it. */
  requestRecovery(input: { address: string; password: string }): Promise<RecoveryRequest>;
  /** New shares this browser stored for a wallet and keeps aside (a refresh or recovery whose end it did not see). */
  pendingShares(walletId: string): Promise<PendingShare[]>;
  /** Finishes a refresh or recovery whose end this browser missed, from the coordinator's record (the SDK's resumeReshare). */
  resumeReshare(input: { walletId: string; password: string }): Promise<Wallet>;
  /** The refresh and change-of-policy runs this browser recorded of a wallet, oldest epoch first (what settleRun works on). */
  reshareRuns(walletId: string): Promise<StoredRun[]>;
  /** One step of settling a run in limbo at this browser (the SDK's settleRun): a statement for the other holders, or a thaw. */
  settleRun(input: SettleRunOptions): Promise<SettledRun>;
  /** This browser's recovery requests waiting for an approval. */
  recoveryRequests(): Promise<RecoveryRequest[]>;
  cancelRecoveryRequest(walletId: string): Promise<void>;
  /**
   * The key and address of a wallet at path (empty: the wallet key), from
   * the stored public key; null until the engine is loaded. A bad path
   * throws (invalid_argument, with a message that names the problem).
   */
  deriveAddress(walletId: string, path: string): Promise<DerivedAddress | null>;
  sign(input: SignInput): Promise<SignResult>;
  exportBackup(walletId: string, password: string): Promise<{ blob: Blob; fileName: string }>;
  /** replaced: the backup was newer than the share stored here, and took its place. */
  importBackup(file: File, password: string): Promise<StoredWallet & { replaced: boolean }>;
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
  const refresher = useRefreshWallet(client);
  const resharer = useReshareWallet(client);
  const recoverer = useRecoverWallet(client);
  // Which of the three the lifecycle status and progress are of.
  const [lastOp, setLastOp] = useState<"refresh" | "reshare" | "recover">("refresh");
  const [server, setServer] = useState<Record<string, Pick<WalletListing, "server" | "serverEpoch">>>({});

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
        .map((w) => ({
          ...w, policy: policyOf(w), server: server[w.walletId]?.server ?? ("checking" as const), serverEpoch: server[w.walletId]?.serverEpoch,
        }))
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
          ...(input.recovery.kit || input.recovery.backend ? { recovery: input.recovery } : {}),
          signal: input.signal,
          retry: busyRetry(input.onBusy),
        });
      } finally {
        await refresh();
      }
    },
    [tss.createWallet, refresh],
  );

  // Both through the SDK's hooks (status, progress, cancel); the list is read
  // again afterwards, so it shows the new epoch, or the share unchanged.
  const refreshRun = refresher.run;
  const refreshWallet = useCallback(
    async (input: LifecycleInput) => {
      if (!input.password) throw new AppError("Enter the wallet's password.");
      try {
        setLastOp("refresh");
        return await refreshRun({ walletId: input.walletId, password: input.password, signal: input.signal, retry: busyRetry(input.onBusy) });
      } finally {
        await refresh();
      }
    },
    [refreshRun, refresh],
  );
  const reshareRun = resharer.run;
  const changePolicy = useCallback(
    async (input: ChangePolicyInput) => {
      if (!input.password) throw new AppError("Enter the wallet's password.");
      try {
        setLastOp("reshare");
        return await reshareRun({
          walletId: input.walletId, password: input.password, threshold: input.threshold, parties: input.parties, signal: input.signal,
          retry: busyRetry(input.onBusy),
        });
      } finally {
        await refresh();
      }
    },
    [reshareRun, refresh],
  );

  const findAccountWallet = useCallback(
    async (address: string): Promise<AccountWallet> => {
      if (!client) throw new AppError("The signing engine is still loading. Try again in a moment.");
      const a = address.trim().toLowerCase();
      if (!/^0x[0-9a-f]{40}$/.test(a)) throw new AppError("Enter the wallet's address: 0x and 40 hex digits.");
      const found = (await client.accountWallets()).find((w) => w.address.toLowerCase() === a);
      if (!found) throw new AppError("No wallet of your account has this address. Check the address you wrote down, and that you are signed in as the wallet's owner.");
      return found;
    },
    [client],
  );
  const recoverRun = recoverer.run;
  const recoverWallet = useCallback(
    async (input: RecoverInput) => {
      const w = await findAccountWallet(input.address);
      if (!input.password) throw new AppError("Enter a password for the recovered share.");
      try {
        setLastOp("recover");
        return await recoverRun({
          walletId: w.walletId, address: input.address.trim(), password: input.password, name: w.name,
          ...(input.code !== undefined ? { code: input.code.trim().toLowerCase().split(/\s+/).join(" ") } : { approval: input.approval ?? "" }),
          signal: input.signal, retry: busyRetry(input.onBusy),
        });
      } finally {
        await refresh();
      }
    },
    [findAccountWallet, recoverRun, refresh],
  );
  const requestRun = recoverer.requestRecovery;
  const requestRecovery = useCallback(
    async (input: { address: string; password: string }) => {
      const w = await findAccountWallet(input.address);
      return requestRun({ walletId: w.walletId, password: input.password });
    },
    [findAccountWallet, requestRun],
  );
  const recoveryRequests = useCallback(async () => (client ? client.recoveryRequests() : []), [client]);
  const cancelRecoveryRequest = useCallback(async (walletId: string) => client?.cancelRecoveryRequest(walletId), [client]);
  const pendingShares = useCallback(async (walletId: string) => (client ? client.storage.pendingShares(walletId) : []), [client]);
  // A call on a wallet's stored shares that needs the password; the list is read again afterwards, whatever happened.
  const withPassword = useCallback(
    async <I extends { password: string }, R>(input: I, call: (c: TssClient, input: I) => Promise<R>): Promise<R> => {
      if (!client) throw new AppError("The signing engine is still loading. Try again in a moment.");
      if (!input.password) throw new AppError("Enter the password.");
      try {
        return await call(client, input);
      } finally {
        await refresh();
      }
    },
    [client, refresh],
  );
  const resumeReshare = useCallback(
    (input: { walletId: string; password: string }) => withPassword(input, (c, i) => c.resumeReshare(i)),
    [withPassword],
  );
  const reshareRuns = useCallback(async (walletId: string) => (client ? client.reshareRuns(walletId) : []), [client]);
  const settleRun = useCallback((input: SettleRunOptions) => withPassword(input, (c, i) => c.settleRun(i)), [withPassword]);

  const op = lastOp === "refresh" ? refresher : lastOp === "reshare" ? resharer : recoverer;
  const lifecycle = useMemo(() => ({ status: op.status, progress: op.progress }), [op.status, op.progress]);

  const deriveAddress = useCallback(
    async (walletId: string, path: string): Promise<DerivedAddress | null> => {
      if (!client) return null;
      const p = path.trim();
      return client.getAddress({ walletId, path: p === "" ? undefined : p });
    },
    [client],
  );

  const sign = useCallback(
    async (input: SignInput): Promise<SignResult> => {
      const wallet = store.wallets.find((w) => w.walletId === input.walletId);
      if (!wallet) throw new AppError("Pick a wallet to sign with.");
      const key = await deriveAddress(input.walletId, input.path ?? "");
      if (!key) throw new AppError("The signing engine is still loading. Try again in a moment.");
      const pathOpt = key.path === "m" ? undefined : key.path;
      // One digest, signed through the hook so the page sees the engine busy and the rounds' progress.
      const signer = (digest: Uint8Array): Promise<SignatureHex> =>
        tss.sign({ walletId: input.walletId, password: input.password, message: digest, path: pathOpt, retry: busyRetry(input.onBusy) });

      if (isEthMode(input.mode)) {
        const req = parseEthRequest(input.mode, input.text, key.address);
        if (!req.ok) throw new AppError(req.problem);
        if (!input.password) throw new AppError("Enter the wallet's password.");
        // The SDK's Ethereum signing (what TssClient.signMessage & co run),
        // over the hook's sign: it hashes, signs and refuses a signature
        // that does not recover to key.address.
        const r = req.request;
        const signed =
          r.mode === "eth-message"
            ? await signMessageWith(signer, key.address, r.message)
            : r.mode === "typed-data"
              ? await signTypedDataWith(signer, key.address, r.typedData)
              : await signTransactionWith(signer, key.address, r.transaction);
        // Checked again here, with viem, before anyone sees it.
        const rec = await recoverEthSigner(r, signed);
        return {
          kind: "ethereum", walletId: input.walletId, mode: r.mode, path: key.path, digest: toHex(req.digest), signed,
          signer: key.address, recovered: rec.address.toLowerCase(), matches: rec.address.toLowerCase() === key.address.toLowerCase(),
          ...(rec.txHash ? { txHash: rec.txHash } : {}),
        };
      }

      const d = computeDigest(input.mode, input.text);
      if (!d.ok) throw new AppError(d.problem);
      if (!input.password) throw new AppError("Enter the wallet's password.");
      const sig = await signer(d.digest);
      // Verified here, with the public key stored beside the share (or derived from it), before anyone sees it.
      if (!verifySignature(sig.signature, d.digest, key.publicKey)) {
        throw new AppError("The signature that came back does not verify against this wallet's public key, so it is not shown. Try again.");
      }
      return { ...sig, kind: "digest", walletId: input.walletId, mode: input.mode, path: key.path, digest: toHex(d.digest), verified: true };
    },
    [tss.sign, store.wallets, deriveAddress],
  );

  const exportBackup = useCallback(
    async (walletId: string, password: string) => {
      if (!password) throw new AppError("Enter the wallet's password.");
      const wallet = store.wallets.find((w) => w.walletId === walletId);
      const blob = await store.exportBackup(walletId, password);
      return { blob, fileName: backupFileName(wallet?.name ?? "", walletId, wallet?.epoch ?? 0) };
    },
    [store.exportBackup, store.wallets],
  );

  const importBackup = useCallback(
    async (file: File, password: string) => {
      if (!password) throw new AppError("Enter the password the backup was made with.");
      if (file.size > 4 << 20) throw Object.assign(new Error("too large"), { name: "BackupFormatError" });
      const text = await file.text();
      const header = parseBackup(text); // BackupFormatError before any key derivation
      // A wallet already here: the SDK compares epochs. A newer backup (after
      // a refresh elsewhere) replaces the share; the same epoch is
      // ShareExistsError, an older one OlderBackupError.
      const replaced = store.wallets.some((w) => w.walletId === header.walletId);
      return { ...(await store.importBackup(text, password)), replaced };
    },
    [store.importBackup, store.wallets],
  );

  return {
    // A refresh runs outside useTSSClient's own status: the engine is busy all the same.
    engine: {
      status: tss.status === "ready" && lifecycle.status === "running" ? "busy" : tss.status,
      progress: tss.progress, error: tss.error, version: client?.version.version ?? null,
    },
    wallets,
    corrupt: store.corrupt,
    loading: store.loading,
    coordinator,
    refresh,
    createWallet,
    lifecycle,
    refreshWallet,
    changePolicy,
    findAccountWallet,
    recoverWallet,
    requestRecovery,
    recoveryRequests,
    cancelRecoveryRequest,
    pendingShares,
    resumeReshare,
    reshareRuns,
    settleRun,
    deriveAddress,
    sign,
    exportBackup,
    importBackup,
    remove: store.remove,
  };
}

// The epoch is in the name after a refresh: the backup's clear-text header
// does not say it, and a backup of an older epoch no longer signs.
function backupFileName(name: string, walletId: string, epoch: number): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  return `tsskit-backup-${slug ? slug + "-" : ""}${walletId.slice(0, 8)}${epoch > 0 ? `-epoch-${epoch}` : ""}.json`;
}
