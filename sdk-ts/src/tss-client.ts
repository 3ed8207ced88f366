// TssClient: the high-level API. The browser is one party of each wallet;
// its share is encrypted under the user's password before it is stored,
// and decrypted only in memory to sign.
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

import { RecoveryError, retryOverloaded, StaleEpochError, TsskitError, type RetryPolicy } from "./errors.js";
import type { RecoveryRequest } from "./recovery.js";
import { checkNewPassword } from "./password.js";
import { addressOf, WrongPasswordError } from "./backup.js";
import { TokenSource, type TokenConfig } from "./token.js";
import { progressMapper, reshareProgressMapper, type ClientProgress, type ReshareProgress } from "./progress.js";
import { connectClients, keygenSeat, mismatch, recoverySeat, reshareSeat, signSeat, type Clients } from "./session.js";
import { pinnedForGood, runHeld, ShareNotFoundError, ShareStorage, type ShareStorageOptions, type StoredRun, type StoredWallet } from "./share-storage.js";
import type { Integrity } from "./integrity.js";
import { PreParamsEntryDroppedError, PreParamsPool } from "./preparams-pool.js";
import { loadTss, type TssPool } from "./tss-wasm-loader.js";
import {
  generatePreParams, generatePreParamsIntoPool, WorkerShareCrypto, type EarlierRun, type PreParamsRef, type ReshareResult, type ReshareSpecInput, type TrustConfig,
} from "./worker-client.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { SessionKind } from "./gen/tsskit/v1/common_pb.js";
import { SessionState, type CreateSessionResponse } from "./gen/tsskit/v1/coordinator_pb.js";
import {
  signMessageWith, signTransactionWith, signTypedDataWith,
  type DigestSigner, type EthSignOptions, type Hex, type SignMessageOptions, type SignTransactionOptions, type SignTypedDataOptions,
} from "./eth.js";
import { deriveAddress, extendedPublicKey, normalizePath, parsePath, walletChainCode, type DerivedAddress } from "./hd.js";

export interface TssClientConfig extends TokenConfig {
  /** gRPC-Web base URL of the coordinator. */
  coordinatorUrl: string;
  /** gRPC-Web base URL of the router. */
  routerUrl: string;
  /** URL of tss.wasm (tss-worker.js beside it). */
  wasmUrl: string;
  /** URL of tss-worker.js when it is not beside tss.wasm. */
  workerUrl?: string;
  /**
   * The hashes tss.wasm and tss-worker.js must have ("sha384-…", as
   * `make wasm` writes them to tsskit-integrity.json); a file that does not
   * match is refused and create() fails with an IntegrityError (code
   * "integrity"). Default: the hashes of the files this SDK was built with.
   * false loads whatever the URLs serve: for development setups that
   * rebuild the wasm often, never for production.
   */
  integrity?: Integrity | false;
  /**
   * token or getToken (TokenConfig): a user token from the app's backend
   * (POST /api/v1/users/{user_id}/tokens on the account API), allowing
   * create_wallet, sign and list_wallets as the app sees fit. getToken is
   * called again before the token expires.
   */
  /**
   * The deployment root's public key (hex; several for a root rollover),
   * from the app's own configuration — never from the coordinator. Every
   * server party of every session must be certified by it.
   */
  trustRoot: string | string[];
  /** Revoked identity keys, hex. */
  revoked?: string[];
  /** Workers for the parallel safe-prime search. */
  workers?: number;
  storage?: ShareStorageOptions;
  /**
   * Pre-parameter sets kept ready in the background (made, encrypted under
   * a non-extractable key into IndexedDB, and used, all in the workers), so
   * createWallet need not search safe primes first. Default 2; 0 turns the
   * pool off.
   */
  preParamsPool?: number;
  onLoadProgress?(p: ClientProgress): void;
}

export interface CreateWalletOptions {
  name: string;
  /** Encrypts this browser's share at rest. */
  password: string;
  /** Signers needed (default 2). */
  threshold?: number;
  /** Parties in all, this browser included (default 3). */
  parties?: number;
  onProgress?(p: ClientProgress): void;
  signal?: AbortSignal;
  /** Retry a refusal for overload (OverloadedError); default: no retry. */
  retry?: RetryPolicy;
  /**
   * The wallet's recovery policy (docs/lifecycle.md, lost-device
   * recovery), which every holder records and no later reshare changes:
   * `kit` makes a recovery code (12 words, returned once in the result's
   * `recoveryCode`), `backend` lets the app backend's recovery key
   * approve a recovery. Either needs at least `threshold` server parties
   * (parties - 1 ≥ threshold): a recovery hands the wallet over with them
   * alone.
   */
  recovery?: { kit?: boolean; backend?: boolean };
}

/** What createWallet returns: the wallet, and with a recovery kit its code. */
export interface CreatedWallet extends Wallet {
  /**
   * With `recovery.kit`: the wallet's recovery code, 12 BIP39 English
   * words. SECRET, and returned only here: show it to the user to write
   * down, then drop it. The SDK never stores, logs or sends it; whoever
   * has it can recover the wallet (with the server parties), and without
   * it (or backend approvals) a lost browser's wallet is lost.
   */
  recoveryCode?: string;
}

export interface RequestRecoveryOptions {
  walletId: string;
  /** Encrypts this device's new identity key until the approval comes; recoverWallet needs the same password (and uses it for the new share). */
  password: string;
}

export interface RecoverWalletOptions {
  /** The wallet to recover (with `code`; with `approval` it is the approval's). */
  walletId?: string;
  /**
   * The wallet's address (0x…), as the user knows it: the recovered key
   * must be this one. The coordinator alone names the wallet behind an id,
   * and certified server parties with a record of that id and the same
   * recovery kit could hand over another key.
   */
  address: string;
  /** The new share's password. With `approval`: the password given to requestRecovery. */
  password: string;
  /** The wallet's recovery code (12 words). SECRET: used in the worker, never stored or sent. */
  code?: string;
  /** The app backend's approval of this browser's requestRecovery: the file `tsskit recovery approve` writes (JSON text). */
  approval?: string;
  /** A label for the recovered wallet in this browser (default: the stored share's, if any, else ""). */
  name?: string;
  onProgress?(p: ReshareProgress): void;
  /** Cancels the recovery until this browser has stored and reported its new share (as for refreshWallet). */
  signal?: AbortSignal;
  /** Retry a refusal for overload (OverloadedError); default: no retry. */
  retry?: RetryPolicy;
}

export interface Wallet {
  walletId: string;
  /** Compressed SEC1, hex. */
  publicKey: string;
  /** "0x" + 40 hex. */
  address: string;
  threshold: number;
  parties: number;
  /** The epoch of this browser's share: 0 after createWallet, one more after each refresh or reshare. */
  epoch: number;
}

export interface RefreshWalletOptions {
  walletId: string;
  /** The password the share is stored under; the new share is stored under it too. */
  password: string;
  onProgress?(p: ReshareProgress): void;
  /**
   * Cancels the refresh until this browser has stored its new share and
   * reported it; after that the refresh runs to its end (the coordinator
   * may already be activating the new epoch), as a late cancel of
   * createWallet does.
   */
  signal?: AbortSignal;
  /** Retry a refusal for overload (OverloadedError); default: no retry. */
  retry?: RetryPolicy;
}

/** A step of settling a reshare run in limbo at this browser (TssClient.settleRun; docs/lifecycle.md). */
export type SettleStep = "freeze" | "drop" | "pin" | "thaw";

export interface SettleRunOptions {
  walletId: string;
  /** The run in limbo: its reshare session id. */
  sessionId: string;
  step: SettleStep;
  /** The current share's password; the run's share is opened with it too, unless pendingPassword is given. */
  password: string;
  /** The run's share's password, where it differs (a share kept under another password; changePassword re-encrypts the ones kept under the old one). */
  pendingPassword?: string;
  /**
   * drop, thaw: the run's holders that stay silent (party ids). A drop needs
   * them fewer than the run's signers; a thaw takes the operator's word that
   * they never drop the run.
   */
  silent?: string[];
  /**
   * The other holders' statements, hex, as `tsskit settle` and this method
   * give them out: for a drop, their frozen-run statements (and, with no
   * share of the epoch before here, a holder's abandoned-run statement);
   * for a thaw, their activated-run or pinned-run statements.
   */
  statements?: string[];
}

export interface SettledRun {
  walletId: string;
  sessionId: string;
  epoch: number;
  /**
   * What this browser says of the run now: "frozen" (never activated here),
   * "pinned" (never dropped here, only thawed: a freeze of a run pinned or
   * thawed here before answers so too), "activated" (the run is this
   * browser's active share already: a freeze answers so, and freezes
   * nothing), "abandoned" (dropped here) or "thawed" (resumeReshare
   * activates its share once the coordinator records the run completed).
   */
  kind: "frozen" | "pinned" | "activated" | "abandoned" | "thawed";
  /** The signed statement for the other holders, hex (none for a thaw). */
  statement?: string;
  /** A frozen-run statement: this browser holds the share of the epoch before. */
  held?: boolean;
}

export interface ReshareWalletOptions extends RefreshWalletOptions {
  /** Signers needed after the reshare (default: unchanged). */
  threshold?: number;
  /** Holders after the reshare, this browser included (default: unchanged); server parties are added from the pool or dropped. */
  parties?: number;
}

export interface SignOptions {
  walletId: string;
  password: string;
  /** The 32-byte digest to sign. */
  message: Uint8Array;
  /**
   * Sign with the wallet's BIP32 child at this path, "m/0/5" (non-hardened
   * indices only); absent or "m": the wallet key itself.
   */
  path?: string;
  onProgress?(p: ClientProgress): void;
  signal?: AbortSignal;
  /** Retry a refusal for overload (OverloadedError); default: no retry. */
  retry?: RetryPolicy;
}

export interface SignatureHex {
  r: string;
  s: string;
  v: number;
  /** r || s, 128 hex. */
  signature: string;
  der: string;
}

export type ServerStatus = "ok" | "unknown" | "unreachable";

export interface WalletListing extends StoredWallet {
  /** What the coordinator says of this wallet: "ok" (known, same key), "unknown", or "unreachable". */
  server: ServerStatus;
  /**
   * The wallet's active epoch as the coordinator records it (when "ok").
   * Greater than this browser's share's `epoch`: the wallet was refreshed
   * without this browser, whose share no longer signs (stale_epoch).
   */
  serverEpoch?: number;
}


/** A wallet of this token's user as the coordinator records it (TssClient.accountWallets). */
export interface AccountWallet extends Wallet {
  name: string;
  /** Milliseconds since 1970. */
  createdAt: number;
  /** The wallet's recovery policy as recorded at keygen: a recovery kit, app backend approvals. */
  recovery: { kit: boolean; backend: boolean };
}

export class TssClient {
  private closed = false;
  /**
   * Keygens and signings run one at a time in workers[0]: a canceled keygen
   * replaces that worker, which must not take another operation's share or
   * session keys with it.
   */
  private worker0: Promise<void> = Promise.resolve();
  private constructor(
    private readonly tokens: TokenSource,
    private readonly cfg: TssClientConfig,
    private readonly pool: TssPool,
    private readonly clients: Clients,
    readonly storage: ShareStorage<string>,
    /** The background pre-params pool (null when turned off): the page's handle on it; the sets stay in the workers. */
    readonly preParams: PreParamsPool<PreParamsRef> | null,
  ) {}

  /** Loads tss.wasm in workers (shared per page), opens the share storage and connects. */
  static async create(cfg: TssClientConfig): Promise<TssClient> {
    const tokens = new TokenSource(cfg);
    const roots = typeof cfg.trustRoot === "string" ? [cfg.trustRoot] : (cfg.trustRoot ?? []);
    if (roots.length === 0 || !roots.every((r) => typeof r === "string" && /^[0-9a-fA-F]{64}$/.test(r))) {
      throw new TsskitError("invalid_argument", "trustRoot is required: the deployment root's public key, 64 hex characters (tsskit identity init prints it)");
    }
    const load = progressMapper("keygen", cfg.onLoadProgress);
    const pool = await loadTss({
      wasmUrl: cfg.wasmUrl, workerUrl: cfg.workerUrl, integrity: cfg.integrity, workers: cfg.workers,
      onProgress: (n, total) => load.phase("loading", total ? n / total : 1),
    });
    try {
      // Shares are encrypted and decrypted in the worker that signs.
      const storage = await ShareStorage.open<string>({ ...cfg.storage, crypto: new WorkerShareCrypto(() => pool.workers[0]!) });
      const size = cfg.preParamsPool ?? 2;
      let pp: PreParamsPool<PreParamsRef> | null = null;
      if (size > 0) {
        // Sets are made into the pool and taken from it by workers[0], the
        // worker that runs keygens (whichever worker is workers[0] then).
        pp = await PreParamsPool.open<PreParamsRef>({
          size,
          make: (signal) => generatePreParamsIntoPool(pool.workers, { signal }),
          count: () => pool.workers[0]!.countPreParams(),
          take: async (report) => {
            const got = await pool.workers[0]!.takePreParams();
            for (const d of got.dropped) report(new PreParamsEntryDroppedError(d.entryId, d.reason, d.message ? new Error(d.message) : undefined));
            return got.preParams;
          },
        });
        pp.fill();
      }
      return new TssClient(tokens, cfg, pool, connectClients(cfg), storage, pp);
    } catch (e) {
      pool.release();
      throw TsskitError.from(e);
    }
  }

  /** tss.wasm's version. */
  get version() {
    return this.pool.version;
  }

  /**
   * Calls the coordinator with the current token; a call refused as
   * unauthenticated is made once more with a fresh one from getToken.
   */
  private async authed<R>(call: (opts: { headers: Record<string, string>; signal?: AbortSignal }) => Promise<R>, signal?: AbortSignal): Promise<R> {
    const tok = await this.tokens.get();
    try {
      return await call({ headers: { authorization: `Bearer ${tok}` }, signal });
    } catch (e) {
      if (!this.tokens.refreshable || TsskitError.from(e).code !== "unauthenticated") throw e;
      const fresh = await this.tokens.refresh();
      return call({ headers: { authorization: `Bearer ${fresh}` }, signal });
    }
  }

  /**
   * Runs op holding wallet walletId's lock across this origin's tabs (Web
   * Locks), as the CLI party holds its share file's lock: a refresh, a
   * resume and a settle step of one wallet never run side by side, so a
   * freeze never slips between a refresh's join (which may present an
   * earlier run's acknowledgement) and its end, nor between a resume's
   * last check and its activation. Another tab's holding it is refused at
   * once (busy). Where Web Locks are missing (an insecure context: http
   * on another host than localhost; an old browser) op runs unlocked,
   * except a settle step (required): settleRun refuses there, so no tab can
   * freeze a run under a refresh it cannot see.
   */
  private async walletLock<R>(walletId: string, op: () => Promise<R>, required = false): Promise<R> {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (!locks || typeof locks.request !== "function") {
      if (required) {
        throw new TsskitError("unsupported", "settling a run needs Web Locks (a secure context: https, or localhost), to keep a settle step and a refresh in another tab apart");
      }
      return op();
    }
    return locks.request(`tsskit-wallet:${walletId}`, { ifAvailable: true }, async (lock) => {
      if (!lock) throw new TsskitError("busy", `a refresh, resume or settle step of wallet ${JSON.stringify(walletId)} is running in another tab: wait for it to end`);
      return op();
    }) as Promise<R>;
  }

  /** Runs op when no other keygen or signing of this client uses workers[0]. */
  private async exclusive<R>(op: () => Promise<R>): Promise<R> {
    const before = this.worker0;
    let done!: () => void;
    this.worker0 = new Promise((r) => (done = r));
    try {
      await before;
      return await op();
    } finally {
      done();
    }
  }

  private live() {
    if (this.closed) throw new TsskitError("closed", "TssClient is closed");
  }

  private get trust(): TrustConfig {
    const roots = typeof this.cfg.trustRoot === "string" ? [this.cfg.trustRoot] : this.cfg.trustRoot;
    return { roots: roots.map((r) => r.toLowerCase()), revoked: this.cfg.revoked ?? [] };
  }

  /**
   * Creates a co-managed wallet: this browser and server parties from the
   * pool. The share is stored encrypted under password before the browser
   * reports its result, so a wallet the coordinator records always has its
   * browser share.
   */
  async createWallet(opts: CreateWalletOptions): Promise<CreatedWallet> {
    this.live();
    if (!opts.password) throw new TsskitError("invalid_argument", "a password is required to protect the share");
    const r = opts.recovery;
    if (r !== undefined) {
      if (typeof r !== "object" || r === null || (r.kit !== undefined && typeof r.kit !== "boolean") || (r.backend !== undefined && typeof r.backend !== "boolean")) {
        throw new TsskitError("invalid_argument", "recovery: want {kit?: boolean, backend?: boolean}");
      }
      if ((r.kit || r.backend) && (opts.parties ?? 3) - 1 < (opts.threshold ?? 2)) {
        throw new TsskitError("invalid_argument", "a recovery policy needs at least as many server parties as signers (parties - 1 ≥ threshold): a recovery hands the wallet over with them alone");
      }
    }
    // The share at rest is as strong as its password (WeakPasswordError).
    checkNewPassword(opts.password);
    return this.exclusive(() => this.createWalletNow(opts));
  }

  private async createWalletNow(opts: CreateWalletOptions): Promise<CreatedWallet> {
    const threshold = opts.threshold ?? 2;
    const parties = opts.parties ?? 3;
    const prog = progressMapper("keygen", opts.onProgress);
    prog.phase("loading", 1);
    // This party's own result: its key and the address derived from it
    // here, never the coordinator's word.
    // (Set in the save callback: typed so the catch below is not narrowed to null.)
    let saved = null as { walletId: string; publicKey: string; address: string; recoveryCode?: string } | null;
    // The background pool pauses while this keygen needs the workers.
    const resume = this.preParams?.pause();
    let stopNow: (() => void) | undefined;
    // The set of pre-parameters, in the keygen's worker; released unless the keygen consumed it.
    const worker = this.pool.workers[0]!;
    let preParams: PreParamsRef | null = null;
    try {
      // The session first: "not enough server parties" is known at once,
      // and the servers join while this party prepares.
      const partyId = "browser-" + crypto.randomUUID();
      const created = await retryOverloaded(opts.retry, opts.signal, () =>
        this.authed(
          (call) => this.clients.coordinator.createKeygenSession({ name: opts.name, signersNeeded: threshold, parties, clientPartyIds: [partyId] }, call),
          opts.signal,
        ),
      );
      // The session must be what was asked for, before anything is made.
      const token = checkCreated(created, SessionKind.KEYGEN, partyId);
      if (created.parties.length !== parties) {
        throw mismatch(`the coordinator's session has ${created.parties.length} parties; ${parties} were asked for`);
      }
      if (created.signersNeeded !== threshold) {
        throw mismatch(`the coordinator's session needs ${created.signersNeeded} signers; ${threshold} were asked for`);
      }
      prog.phase("preparams", 0);
      // Both ways the set is made (or taken from the pool) in workers[0]
      // and stays there; the page holds its handle.
      preParams =
        (await this.preParams?.take()) ??
        (await generatePreParams(this.pool.workers, {
          signal: opts.signal,
          onPrime: (n) => prog.phase("preparams", Math.min(1, n / 4)),
        }));
      if (this.pool.workers[0] !== worker) throw new TsskitError("canceled", "canceled");
      prog.phase("preparams", 1);
      prog.phase("joining", 0);
      // A cancel during the rounds stops the worker at once (it would read
      // the cancel only after the round it is computing).
      stopNow = () => {
        if (this.pool.workers[0] === worker) void this.pool.replace(0).catch(() => {});
      };
      opts.signal?.addEventListener("abort", stopNow, { once: true });
      const out = await keygenSeat(
        this.clients, worker,
        {
          sessionId: created.sessionId, partyId, token, trust: this.trust, parties: created.parties, walletId: created.walletId,
          signal: opts.signal, onProgress: (p) => prog.engine(p), onEvent: (ev) => prog.event(ev),
        },
        threshold, preParams, { password: opts.password, iterations: this.storage.iterations },
        async (r) => {
          prog.phase("saving", 0);
          if (opts.signal?.aborted) throw new TsskitError("canceled", "canceled");
          await this.storage.putBackup(r.backup, r.info, { name: opts.name });
          saved = { walletId: r.walletId, publicKey: bytesToHex(r.publicKey), address: r.address, ...(r.recoveryCode ? { recoveryCode: r.recoveryCode } : {}) };
        },
        opts.recovery && (opts.recovery.kit || opts.recovery.backend) ? { kit: !!opts.recovery.kit, backend: !!opts.recovery.backend } : undefined,
      );
      prog.phase("done", 1);
      return {
        walletId: out.walletId, publicKey: bytesToHex(out.publicKey), address: out.address, threshold, parties, epoch: out.info.epoch,
        ...(out.recoveryCode ? { recoveryCode: out.recoveryCode } : {}),
      };
    } catch (e) {
      if (saved) {
        // This party saved its share and maybe reported. If the coordinator
        // recorded the wallet anyway (a cancel that came too late), the
        // wallet exists and its share must stay; otherwise keep nothing
        // half-made.
        // It counts only if the coordinator recorded this party's own key.
        const mine = saved;
        const recorded = await this.authed((call) => this.clients.coordinator.getWallet({ walletId: mine.walletId }, call))
          .then((w) => w.wallet ?? null)
          .catch(() => null);
        if (recorded && bytesToHex(recorded.publicKey) === mine.publicKey) {
          prog.phase("done", 1);
          return { ...mine, threshold, parties, epoch: 0 };
        }
        await this.storage.remove(mine.walletId).catch(() => {});
      }
      throw TsskitError.from(e);
    } finally {
      if (stopNow) opts.signal?.removeEventListener("abort", stopNow);
      // A no-op when the keygen consumed it; otherwise the set is zeroed.
      if (preParams && this.pool.workers[0] === worker) void worker.releasePreParams(preParams).catch(() => {});
      resume?.();
    }
  }

  /** Signs a 32-byte digest with this browser's share and server holders. */
  async sign(opts: SignOptions): Promise<SignatureHex> {
    this.live();
    if (!(opts.message instanceof Uint8Array) || opts.message.length !== 32) {
      throw new TsskitError("invalid_argument", "message must be a 32-byte digest (Uint8Array)");
    }
    // A bad path fails here, before the share is opened.
    const path = opts.path === undefined ? [] : parsePath(opts.path);
    return this.exclusive(() => this.signNow(opts, path));
  }

  private async signNow(opts: SignOptions, path: number[]): Promise<SignatureHex> {
    const prog = progressMapper("sign", opts.onProgress);
    prog.phase("loading", 1);
    // A wrong password fails here, before any session exists; the
    // decrypted share stays in the worker that signs.
    const worker = this.pool.workers[0]!;
    // (A wrong password keeps its class: WrongPasswordError.)
    const { handle, wallet: info } = await this.storage.unlock(opts.walletId, opts.password);
    let consumed = false;
    const resume = this.preParams?.pause();
    try {
      prog.phase("joining", 0);
      const created = await retryOverloaded(opts.retry, opts.signal, () =>
        this.authed(
          (call) => this.clients.coordinator.createSignSession({ walletId: opts.walletId, digest: opts.message, clientPartyIds: [info.partyId], derivationPath: path }, call),
          opts.signal,
        ),
      );
      const token = checkCreated(created, SessionKind.SIGN, info.partyId);
      if (created.walletId !== opts.walletId) throw mismatch(`the coordinator's session signs with wallet ${created.walletId}, not ${opts.walletId}`);
      if (created.parties.length < info.threshold) {
        throw mismatch(`the coordinator's session has ${created.parties.length} signers; the wallet needs ${info.threshold}`);
      }
      consumed = true; // prepareSign takes the handle, whatever happens next
      const sig = await signSeat(
        this.clients, worker,
        {
          sessionId: created.sessionId, partyId: info.partyId, token, trust: this.trust, parties: created.parties, walletId: opts.walletId,
          signal: opts.signal, onProgress: (p) => prog.engine(p), onEvent: (ev) => prog.event(ev),
        },
        handle, opts.message, path,
      );
      prog.phase("done", 1);
      return { r: bytesToHex(sig.r), s: bytesToHex(sig.s), v: sig.v, signature: bytesToHex(sig.signature), der: bytesToHex(sig.der) };
    } catch (e) {
      let err = TsskitError.from(e);
      if (err.code === "permission_denied" && !consumed) err = await this.revoked(err, opts.walletId, info);
      if (err instanceof StaleEpochError) throw await this.staleEpoch(err, opts.walletId, info.partyId);
      throw err;
    } finally {
      if (!consumed) void worker.closeShare(handle).catch(() => {});
      resume?.();
    }
  }

  /**
   * A signing the coordinator refused because this browser's party holds
   * no share of the wallet any more: when the wallet is at a later epoch
   * than this share (it was recovered or reshared without this browser),
   * that is a stale share, and told as one; otherwise err as it was.
   */
  private async revoked(err: TsskitError, walletId: string, info: StoredWallet): Promise<TsskitError> {
    if (info.epoch === undefined) return err;
    const w = await this.authed((call) => this.clients.coordinator.getWallet({ walletId }, call))
      .then((r) => r.wallet ?? null)
      .catch(() => null);
    if (!w || bytesToHex(w.publicKey) !== info.publicKey || w.epoch <= info.epoch) return err;
    return new StaleEpochError(
      `the wallet is at epoch ${w.epoch}, this share at ${info.epoch}, and this browser's party ${info.partyId} is no longer one of its holders ` +
        `(the coordinator: ${err.message})`,
      [info.partyId],
      { mine: true, walletId },
    );
  }

  /**
   * A stale_epoch from a signing, told for this wallet: this browser's
   * share is the stale one when the coordinator refused its join or the
   * session names it (or no one); a newer share an unconfirmed refresh
   * left pending here is mentioned.
   */
  /**
   * What a failed refresh, reshare or recovery leaves, once the seat is
   * over: the coordinator told this party will not take part (so the
   * session fails now and the wallet's reshare slot is freed), and a
   * pending share, once stored, kept and never used — its fate said in
   * the error thrown. Returns when nothing was stored.
   */
  private async settleReshareFailure(
    err: TsskitError,
    o: { token: string; sessionId: string; partyId: string; committed: boolean; failed: boolean; pending: number | null; verified: boolean; what: string },
  ): Promise<void> {
    if (o.token && !o.committed && !o.failed) {
      await this.clients.coordinator
        .reportResult(
          { sessionId: o.sessionId, partyId: o.partyId, result: { case: "failure", value: { code: err.code, reason: err.message, culprits: err.culprits } } },
          { headers: { authorization: `Bearer ${o.token}` } },
        )
        .catch(() => {});
    }
    if (o.pending === null || o.failed) {
      // Failed: the coordinator's word only. A share this browser
      // acknowledged storing stays pending, never used: a coordinator that
      // told the server parties Completed would, were it deleted, leave no
      // full set of either epoch. The current share (if any) signs on, and
      // only the wallet's epoch says otherwise (staleEpoch names the
      // pending share).
      return;
    }
    if (o.verified) {
      // The new epoch is active and every holder has its share; only the
      // local swap failed (e.g. another tab changed the share).
      throw new TsskitError(
        err.code,
        `the ${o.what} completed (epoch ${o.pending} is active and every holder stored its share), but this browser could not make ` +
          `its new share its own: ${err.message}. The new share is kept pending`,
        err.culprits,
      );
    }
    // Reported, but the verdict is unknown (or its acknowledgements did not
    // verify): the coordinator may have made the new epoch active. The new
    // share is kept pending, never used, and the current one stays as it was.
    throw new TsskitError(
      err.code === "verify" ? "verify" : "reshare_unconfirmed",
      `the ${o.what}'s outcome is not confirmed (${err.message}): this browser's current share, if it has one, is unchanged and its new ` +
        `share of epoch ${o.pending} is kept pending, never used (session ${o.sessionId}). If signing now fails with stale_epoch, the ` +
        `coordinator activated the new epoch without this browser seeing every holder's acknowledgement: resumeReshare checks them and ` +
        `activates the new share`,
      err.culprits,
    );
  }

  private async staleEpoch(err: StaleEpochError, walletId: string, partyId: string): Promise<StaleEpochError> {
    const mine = err.mine || err.culprits.length === 0 || err.culprits.includes(partyId);
    let detail = err.detail;
    const pending = await this.storage.pendingShares(walletId).catch(() => []);
    if (mine && pending.length > 0) {
      const p = pending[pending.length - 1]!;
      detail +=
        `; a share of epoch ${p.epoch} from an unconfirmed refresh (session ${p.sessionId}) is kept pending in this browser: ` +
        "resumeReshare activates it if every holder stored its own";
    }
    return new StaleEpochError(detail, err.culprits, { mine, walletId });
  }

  // --- Refresh and reshare --------------------------------------------------
  // A reshare hands the wallet's key to a new set of holders with new
  // shares (docs/lifecycle.md); a refresh is a reshare to the same holders
  // with the same threshold. The wallet's key, address and chain code stay.

  /**
   * Refreshes the wallet's shares: every holder, this browser included,
   * gets a new share of the same key, and the old shares stop signing
   * with the new ones (a backup made before no longer signs: export a new
   * one). This browser's new share is stored as pending (under the same
   * password) and becomes its share only when the coordinator reports the
   * new epoch active with every holder's stored acknowledgement, each
   * verified here; a refresh that fails leaves the current share as it
   * was.
   */
  async refreshWallet(opts: RefreshWalletOptions): Promise<Wallet> {
    return this.reshareWallet({ walletId: opts.walletId, password: opts.password, onProgress: opts.onProgress, signal: opts.signal, retry: opts.retry });
  }

  /**
   * Reshares the wallet to `parties` holders with `threshold` signers
   * needed (each unchanged when absent): a refresh that may also change
   * the policy, e.g. 2-of-3 to 3-of-4. This browser stays a holder; server
   * parties are kept, added from the pool or dropped by the coordinator,
   * and the offer is checked against what was asked before this browser
   * joins (session_mismatch otherwise). Activation as refreshWallet.
   */
  async reshareWallet(opts: ReshareWalletOptions): Promise<Wallet> {
    this.live();
    if (typeof opts.walletId !== "string" || opts.walletId === "") throw new TsskitError("invalid_argument", "walletId is required");
    if (!opts.password) throw new TsskitError("invalid_argument", "the share's password is required");
    for (const [k, v] of [["threshold", opts.threshold], ["parties", opts.parties]] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 2 || v > 16)) throw new TsskitError("invalid_argument", `${k}: ${v}; want an integer 2..16 (absent: unchanged)`);
    }
    if (opts.threshold !== undefined && opts.parties !== undefined && opts.threshold > opts.parties) {
      throw new TsskitError("invalid_argument", `threshold ${opts.threshold} of ${opts.parties} parties`);
    }
    return this.activatedInstead(opts, this.exclusive(() => this.walletLock(opts.walletId, () => this.reshareNow(opts))));
  }

  /**
   * The pending share this browser holds of an earlier run of the
   * wallet's epoch (a run that stored its share here and was not
   * activated), opened in workers[0] for the seat, which consumes it: its
   * join then carries this browser's stored acknowledgement of that run,
   * so that a run every holder stored is activated late instead of run
   * again (one acknowledged run per epoch, docs/lifecycle.md). None when
   * there is no such share, or it is under another password (the run's
   * holders then refuse it unless another holder abandoned that run).
   */
  private async earlierRun(walletId: string, epoch: number, sessionId: string, password: string): Promise<EarlierRun | undefined> {
    const p = (await this.storage.pendingShares(walletId)).find((x) => x.epoch === epoch);
    if (!p?.sessionId || p.sessionId === sessionId) return undefined;
    // A run frozen, pinned or dropped here is not presented (joinRun refuses a frozen one's epoch first).
    const run = (await this.storage.runs(walletId)).find((r) => r.epoch === epoch && r.sessionId === p.sessionId);
    if (runHeld(run) || run?.state === "abandoned") return undefined;
    try {
      const { handle } = await this.storage.unlockPending(walletId, epoch, password);
      return { handle, sessionId: p.sessionId };
    } catch {
      return undefined;
    }
  }

  /**
   * A refresh, reshare or recovery that ends with run_complete found an
   * earlier run of the epoch stored by every holder, and the coordinator
   * activated that run instead: this browser's pending share of it
   * becomes its share once every acknowledgement verifies here
   * (resumeReshare), and that is the call's answer.
   */
  private async activatedInstead(opts: { walletId?: string; password: string; signal?: AbortSignal }, run: Promise<Wallet>): Promise<Wallet> {
    try {
      return await run;
    } catch (e) {
      if (!(e instanceof TsskitError) || e.code !== "run_complete" || !opts.walletId) throw e;
      return this.resumeReshare({ walletId: opts.walletId, password: opts.password, signal: opts.signal });
    }
  }

  private async reshareNow(opts: ReshareWalletOptions): Promise<Wallet> {
    const prog = reshareProgressMapper(opts.onProgress);
    prog.phase("loading", 0);
    const worker = this.pool.workers[0]!;
    // A wrong password fails here, before any session exists.
    const { handle, wallet: info } = await this.storage.unlock(opts.walletId, opts.password);
    // A run of the next epoch settled here (frozen or pinned) keeps every
    // run of that epoch out: refused before the coordinator opens one.
    try {
      await this.storage.refuseHeld(opts.walletId, (info.epoch ?? 0) + 1);
    } catch (e) {
      void worker.closeShare(handle).catch(() => {});
      throw e;
    }
    let consumed = false;
    const resume = this.preParams?.pause();
    let preParams: PreParamsRef | null = null;
    // Once the new share is stored and reported, the coordinator may
    // activate its epoch: from then on a cancel no longer stops the call.
    let committed = false;
    const inner = new AbortController();
    const onAbort = () => {
      if (committed) return;
      inner.abort(opts.signal?.reason);
      // A cancel during the rounds stops the worker at once.
      if (consumed && this.pool.workers[0] === worker) void this.pool.replace(0).catch(() => {});
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    let result: ReshareResult | null = null;
    let sessionId = "";
    let token = "";
    let pending: number | null = null;
    let failed = false;
    let verified = false;
    try {
      prog.phase("loading", 1);
      const asked = { signersNeeded: opts.threshold ?? 0, parties: opts.parties ?? 0 };
      const created = await retryOverloaded(opts.retry, inner.signal, () =>
        this.authed(
          (call) =>
            this.clients.coordinator.createReshareSession(
              { walletId: opts.walletId, clientPartyIds: [info.partyId], signersNeeded: asked.signersNeeded, parties: asked.parties }, call,
            ),
          inner.signal,
        ),
      );
      token = checkCreated(created, SessionKind.RESHARE, info.partyId);
      sessionId = created.sessionId;
      if (created.walletId !== opts.walletId) throw mismatch(`the coordinator's session reshares wallet ${created.walletId}, not ${opts.walletId}`);
      const r = created.reshare;
      if (!r) throw mismatch("the coordinator's reshare session says nothing of what it hands over");
      // Checked against the share and what was asked in the wasm (prepareReshare).
      const spec: ReshareSpecInput = {
        epoch: r.epoch, oldThreshold: r.oldThreshold, oldParties: [...r.oldParties], newParties: [...r.newParties],
        publicKey: r.publicKey, chainCode: r.chainCode, clientRequired: r.clientRequired, recoveryKit: r.recoveryKit, recoveryBackend: r.recoveryBackend,
      };
      // A recovery (a new device without the lost share) is another flow; this one hands over this browser's share.
      if (r.recoveryAuthorization.length > 0) throw mismatch("the coordinator's reshare is a recovery; this client asked to reshare with its own share");
      // The wallet is past this share's epoch: it was refreshed without this browser.
      if (info.epoch !== undefined && spec.epoch > info.epoch + 1) {
        throw new StaleEpochError(`the wallet is at epoch ${spec.epoch - 1}, this share at ${info.epoch}`, [info.partyId], { mine: true, walletId: opts.walletId });
      }
      // Refused in the wasm too (prepareReshare); here before the run is recorded.
      if (info.epoch !== undefined && spec.epoch !== info.epoch + 1) throw mismatch(`the coordinator's reshare makes epoch ${spec.epoch}; this share is of epoch ${info.epoch}`);
      prog.phase("preparams", 0);
      // This browser is a new member: its own pre-parameters, in workers[0].
      preParams =
        (await this.preParams?.take()) ??
        (await generatePreParams(this.pool.workers, { signal: inner.signal, onPrime: (n) => prog.phase("preparams", Math.min(1, n / 4)) }));
      if (this.pool.workers[0] !== worker || inner.signal.aborted) throw new TsskitError("canceled", "canceled");
      prog.phase("preparams", 1);
      prog.phase("joining", 0);
      // Recorded before anything of this run is computed; earlier runs of
      // the epoch that never stored a share here are abandoned for good,
      // and the join says so, signed (docs/lifecycle.md).
      const abandon = await this.storage.joinRun(opts.walletId, spec.epoch, created.sessionId);
      const earlier = await this.earlierRun(opts.walletId, spec.epoch, created.sessionId, opts.password);
      consumed = true; // prepareReshare takes the handle, whatever happens next
      const outcome = await reshareSeat(
        this.clients, worker,
        {
          sessionId: created.sessionId, partyId: info.partyId, token, trust: this.trust, parties: created.parties, walletId: opts.walletId,
          signal: inner.signal, onProgress: (p) => prog.engine(p),
          onEvent: (ev) => {
            if (ev.event.case === "failed") failed = true;
            prog.event(ev);
          },
        },
        handle, { reshare: spec, signersNeeded: created.signersNeeded, asked, abandon, earlier }, preParams,
        { password: opts.password, iterations: this.storage.iterations },
        async (res) => {
          result = res;
          prog.phase("saving", 0);
          if (inner.signal.aborted) throw new TsskitError("canceled", "canceled");
          await this.storage.putPending(res.backup, res.info, { sessionId: created.sessionId });
          pending = res.epoch;
          committed = true;
        },
      );
      prog.phase("activating", 0);
      // Every holder of the new share stored its own: only then does the
      // new share replace the old (in one transaction).
      const acks: Record<string, Uint8Array> = Object.create(null);
      for (const [id, ack] of Object.entries(outcome.completed.storedAcks)) acks[id] = ack;
      await worker.verifyStoredAcks(outcome.result.handle, created.sessionId, outcome.completed.epoch, acks);
      verified = true;
      const stored = await this.storage.activatePending(opts.walletId, outcome.result.epoch);
      prog.phase("done", 1);
      return {
        walletId: stored.walletId, publicKey: stored.publicKey, address: stored.address, threshold: stored.threshold, parties: stored.parties.length,
        epoch: outcome.result.epoch,
      };
    } catch (e) {
      const err = TsskitError.from(e);
      await this.settleReshareFailure(err, { token, sessionId, partyId: info.partyId, committed, failed, pending, verified, what: "refresh" });
      if (err instanceof StaleEpochError) throw await this.staleEpoch(err, opts.walletId, info.partyId);
      throw err;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      if (!consumed) void worker.closeShare(handle).catch(() => {});
      const res = result as ReshareResult | null;
      if (res && this.pool.workers[0] === worker) void worker.closeShare(res.handle).catch(() => {});
      if (preParams && this.pool.workers[0] === worker) void worker.releasePreParams(preParams).catch(() => {});
      resume?.();
    }
  }

  /**
   * Finishes a refresh, reshare or recovery whose end this browser missed:
   * its new share was stored pending and reported, then the call failed
   * without a verdict (reshare_unconfirmed: the connection broke, the page
   * closed, the token expired). The coordinator's record of the session
   * that made the newest pending share says how it ended; when it
   * completed, every new holder's stored acknowledgement it kept is
   * checked here (in the worker, against the identities in the pending
   * share, as at a live end) and only then does the pending share replace
   * the current one. The coordinator cannot forge those acknowledgements.
   * Pending shares are tried newest first (a later try may have failed
   * where an earlier one completed). A session still under way is
   * `unavailable` (try later); when every one failed it is
   * `reshare_failed`, and the pending shares are kept all the same: only
   * the coordinator says so (discard them with storage.discardPending
   * when the wallet still signs with the current share). The password is
   * the pending share's (the one the call was given).
   */
  async resumeReshare(opts: { walletId: string; password: string; signal?: AbortSignal }): Promise<Wallet> {
    this.live();
    if (typeof opts.walletId !== "string" || opts.walletId === "") throw new TsskitError("invalid_argument", "walletId is required");
    if (!opts.password) throw new TsskitError("invalid_argument", "the pending share's password is required");
    return this.exclusive(() => this.walletLock(opts.walletId, async () => {
      const all = await this.storage.pendingShares(opts.walletId);
      if (all.length === 0) throw new TsskitError("not_found", `no pending share of wallet ${JSON.stringify(opts.walletId)} is kept in this browser`);
      // Newest first: a later try may have failed where an earlier one completed.
      let running = "";
      let failed: { sessionId: string; epoch: number; code: string; reason: string; culprits: string[] } | null = null;
      for (const p of [...all].reverse()) {
        const got = await this.authed((call) => this.clients.coordinator.getSession({ sessionId: p.sessionId }, call), opts.signal);
        const s = got.session;
        if (!s || s.sessionId !== p.sessionId || s.walletId !== opts.walletId) {
          throw mismatch(`the coordinator's record of session ${p.sessionId} is not of wallet ${opts.walletId}`);
        }
        if (s.state === SessionState.FAILED) {
          failed ??= { sessionId: p.sessionId, epoch: p.epoch, code: s.code, reason: s.reason, culprits: [...s.culprits] };
          continue;
        }
        if (s.state !== SessionState.COMPLETED) {
          running ||= p.sessionId;
          continue;
        }
        const worker = this.pool.workers[0]!;
        const { handle } = await this.storage.unlockPending(opts.walletId, p.epoch, opts.password);
        try {
          const acks: Record<string, Uint8Array> = Object.create(null);
          for (const [id, ack] of Object.entries(s.storedAcks)) acks[id] = ack;
          await worker.verifyStoredAcks(handle, p.sessionId, p.epoch, acks);
        } finally {
          void worker.closeShare(handle).catch(() => {});
        }
        // A recovery's share: the browser's first of the wallet, or answering its request.
        const hasCurrent = await this.storage.info(opts.walletId).then(
          () => true,
          (e) => (e instanceof ShareNotFoundError ? false : Promise.reject(e)),
        );
        const request = await this.storage.recoveryRequest(opts.walletId).catch(() => null);
        const stored = await this.storage.activatePending(opts.walletId, p.epoch, { recovery: !hasCurrent || request !== null });
        return {
          walletId: stored.walletId, publicKey: stored.publicKey, address: stored.address, threshold: stored.threshold, parties: stored.parties.length,
          epoch: p.epoch,
        };
      }
      if (running) throw new TsskitError("unavailable", `session ${running} is still under way; try again once it has ended`);
      const f = failed!;
      throw new TsskitError(
        "reshare_failed",
        `the coordinator records session ${f.sessionId}, which made the pending share of epoch ${f.epoch}, as failed` +
          `${f.code ? ` (${f.code})` : ""}: ${f.reason || "no reason given"}. The pending share is kept, unused`,
        f.culprits,
      );
    }));
  }

  /**
   * The reshare runs of a wallet this browser recorded (joined, stored,
   * abandoned, frozen, pinned, activated): what settleRun works on.
   */
  async reshareRuns(walletId: string): Promise<StoredRun[]> {
    this.live();
    // In the store's key order: by epoch, then session.
    return this.storage.runs(walletId);
  }

  /**
   * One step of settling a reshare run in limbo at this browser, as
   * `tsskit settle` does at a server party (docs/lifecycle.md, settling a
   * run in limbo): a run every holder may have stored, one of which stays
   * silent, so the others refuse every later run of the epoch.
   *
   * - freeze: the run's share is never activated here, and no run of its
   *   epoch is joined, until it is thawed or dropped; answers the frozen-run
   *   statement for the other holders' drop (the activated-run statement,
   *   and nothing frozen, if the run is this browser's share already; the
   *   pinned-run statement if it was pinned or thawed here before).
   * - drop: given the frozen-run statement of every other holder not named
   *   silent, checked as a server party checks them (the silent ones fewer
   *   than the run's signers, and enough holders keep the active epoch's
   *   share), the run's share is deleted and the run recorded abandoned, in
   *   one transaction; answers the abandoned-run statement, which later
   *   joins carry too.
   * - pin: a frozen run is never dropped here, only thawed; answers the
   *   pinned-run statement.
   * - thaw: given every other holder's activated-run or pinned-run statement
   *   (those named silent aside), the freeze is undone; resumeReshare then
   *   activates the run's share once the coordinator records it completed.
   *
   * Statements are signed in the worker with the identity key the run's
   * record names for this browser; a refused step is a TsskitError
   * settle_refused and writes nothing.
   */
  async settleRun(opts: SettleRunOptions): Promise<SettledRun> {
    this.live();
    if (typeof opts.walletId !== "string" || opts.walletId === "") throw new TsskitError("invalid_argument", "walletId is required");
    if (typeof opts.sessionId !== "string" || opts.sessionId === "") throw new TsskitError("invalid_argument", "sessionId: the run's session id is required");
    if (!["freeze", "drop", "pin", "thaw"].includes(opts.step)) throw new TsskitError("invalid_argument", `step: ${JSON.stringify(opts.step)}; want freeze, drop, pin or thaw`);
    if (!opts.password) throw new TsskitError("invalid_argument", "the share's password is required");
    const silent = [...(opts.silent ?? [])].map((x) => String(x).trim()).filter((x) => x !== "");
    let statements: Uint8Array[];
    try {
      statements = (opts.statements ?? []).map((x) => String(x).trim()).filter((x) => x !== "").map((x) => hexToBytes(x.replace(/^0x/i, "")));
    } catch {
      throw new TsskitError("invalid_argument", "statements: each is the hex a holder's settle step printed");
    }
    return this.exclusive(() => this.walletLock(opts.walletId, async () => {
      const run = (await this.storage.runs(opts.walletId)).find((r) => r.sessionId === opts.sessionId);
      if (!run) throw new TsskitError("not_found", `no run ${opts.sessionId} of wallet ${JSON.stringify(opts.walletId)} is recorded in this browser: it never joined it`);
      const refuse = (msg: string) => new TsskitError("settle_refused", msg);
      const base = { walletId: opts.walletId, sessionId: opts.sessionId, epoch: run.epoch };
      const worker = this.pool.workers[0]!;
      const handles: string[] = [];
      const openActive = async () => {
        try {
          const { handle } = await this.storage.unlock(opts.walletId, opts.password);
          handles.push(handle as string);
          return handle as string;
        } catch (e) {
          // A recovery's new device may hold no share of the wallet yet.
          if (e instanceof ShareNotFoundError) return undefined;
          throw e;
        }
      };
      const kept = (await this.storage.pendingShares(opts.walletId)).find((p) => p.epoch === run.epoch && p.sessionId === run.sessionId);
      const openPending = async () => {
        if (!kept) return undefined;
        const { handle } = await this.storage.unlockPending(opts.walletId, run.epoch, opts.pendingPassword || opts.password);
        handles.push(handle as string);
        return handle as string;
      };
      const sign = async (step: "frozen" | "pinned" | "activated" | "abandoned" | "drop" | "thaw", extra: { active?: string; pending?: string }) =>
        worker.settle({ step, sessionId: run.sessionId, epoch: run.epoch, ...extra, silent, frozen: statements, dropped: statements, words: statements });
      try {
        switch (opts.step) {
          case "freeze": {
            if (run.state === "activated") {
              const r = await sign("activated", { active: await openActive() });
              return { ...base, kind: "activated", statement: bytesToHex(r.statement!) };
            }
            if (run.state === "abandoned") throw refuse(`run ${run.sessionId} was dropped here (or abandoned for a later run): there is nothing to freeze`);
            if (run.state === "joined") throw refuse(`this browser never stored a share of run ${run.sessionId}: there is nothing to freeze, and its next join says it abandoned the run`);
            if (!kept) throw refuse(`run ${run.sessionId} is ${run.state} here, but its share is no longer kept: there is nothing to freeze`);
            const pending = await openPending();
            if (pinnedForGood(run)) {
              // Pinned or thawed here before: its frozen-run statement still verifies.
              const r = await sign("pinned", { pending });
              if (run.state !== "pinned") await this.storage.settleRunState(run, { state: "pinned", pinned: true });
              return { ...base, kind: "pinned", statement: bytesToHex(r.statement!) };
            }
            // The statement first: a run frozen without one to give would
            // keep every run of the epoch out for nothing.
            const r = await sign("frozen", { active: await openActive(), pending });
            if (run.state !== "frozen") await this.storage.settleRunState(run, { state: "frozen" });
            return { ...base, kind: "frozen", statement: bytesToHex(r.statement!), held: r.held };
          }
          case "drop": {
            if (pinnedForGood(run)) throw refuse(`run ${run.sessionId} was pinned here (a pin or a thaw): it is thawed, never dropped`);
            if (run.state === "abandoned") {
              const r = await sign("abandoned", { active: await openActive(), pending: await openPending() });
              return { ...base, kind: "abandoned", statement: bytesToHex(r.statement!) };
            }
            if (run.state !== "frozen") throw refuse(`run ${run.sessionId} is ${run.state} here, not frozen: freeze it first`);
            if (!kept) throw refuse(`run ${run.sessionId} is frozen here but its share is gone: nothing is left to check a drop against`);
            const r = await sign("drop", { active: await openActive(), pending: await openPending() });
            // Recorded abandoned and its share deleted, in one transaction.
            await this.storage.settleRunState(run, { state: "abandoned" }, { dropShare: true });
            return { ...base, kind: "abandoned", statement: bytesToHex(r.statement!) };
          }
          case "pin": {
            if (!runHeld(run) || !kept) throw refuse(`run ${run.sessionId} is ${run.state} here${kept ? "" : ", with no share of it kept"}: only a frozen run is pinned`);
            const r = await sign("pinned", { pending: await openPending() });
            if (run.state !== "pinned" || !run.pinned) await this.storage.settleRunState(run, { state: "pinned", pinned: true });
            return { ...base, kind: "pinned", statement: bytesToHex(r.statement!) };
          }
          default: {
            if (!runHeld(run) || !kept) throw refuse(`run ${run.sessionId} is ${run.state} here${kept ? "" : ", with no share of it kept"}: only a frozen run is thawed`);
            await sign("thaw", { pending: await openPending() });
            // Pinned for good: its frozen-run statement still verifies.
            await this.storage.settleRunState(run, { state: "stored", pinned: true });
            return { ...base, kind: "thawed" };
          }
        }
      } finally {
        for (const h of handles) void worker.closeShare(h).catch(() => {});
      }
    }, true));
  }

  // --- Lost-device recovery -------------------------------------------------
  // A new browser takes the place of a lost one in a co-managed wallet
  // (docs/lifecycle.md, lost-device recovery): with the wallet's recovery
  // code, or with the app backend's approval of a request this browser
  // made. Either way an authorization names this browser's new party id
  // and device identity key; each server holder checks it against its own
  // record, and hands the wallet over to itself and this browser in a
  // reshare. The lost browser's share is of the old epoch from then on.

  /** The wallet's epoch and recovery policy, as the coordinator records them. */
  private async walletState(walletId: string, signal?: AbortSignal): Promise<{ epoch: number; kit: string; backend: boolean }> {
    const got = await this.authed((call) => this.clients.coordinator.getWallet({ walletId }, call), signal);
    if (!got.wallet) throw new TsskitError("not_found", `wallet ${JSON.stringify(walletId)} is not known to the coordinator`);
    return { epoch: got.wallet.epoch, kit: bytesToHex(got.wallet.recoveryKit), backend: got.wallet.recoveryBackend };
  }

  /**
   * Starts a recovery to be approved by the app backend: makes this
   * browser's new device identity key and party id, keeps them in
   * IndexedDB (the key encrypted under password, in the worker) and
   * returns the request for the app's backend to approve once it has
   * checked the user by its own means (`tsskit recovery approve --wallet
   * --epoch --party-id --identity`). Asked again for the same wallet and
   * epoch, it returns the same request (the password must open it);
   * after a refresh of the wallet it makes a new one. recoverWallet with
   * the approval finishes it.
   */
  async requestRecovery(opts: RequestRecoveryOptions): Promise<RecoveryRequest> {
    this.live();
    if (typeof opts.walletId !== "string" || opts.walletId === "") throw new TsskitError("invalid_argument", "walletId is required");
    if (!opts.password) throw new TsskitError("invalid_argument", "a password is required: it protects the device key, and then the recovered share");
    checkNewPassword(opts.password);
    return this.exclusive(async () => {
      const worker = this.pool.workers[0]!;
      const w = await this.walletState(opts.walletId);
      if (!w.backend) {
        throw new RecoveryError("recovery_refused", `wallet ${JSON.stringify(opts.walletId)}'s recovery policy accepts no backend approval (as the coordinator records it)`);
      }
      const existing = await this.storage.recoveryRequest(opts.walletId);
      if (existing && existing.epoch === w.epoch) {
        // The same request again; the password must be the one that seals its key.
        const d = await worker.openRecoveryDevice(existing.device, opts.password);
        void worker.releaseRecoveryDevice(d.deviceId).catch(() => {});
        const { device: _, ...pub } = existing;
        return { ...pub, recovery: { kit: w.kit !== "", backend: w.backend } };
      }
      const partyId = "browser-" + crypto.randomUUID();
      const d = await worker.newRecoveryDevice({ password: opts.password, iterations: this.storage.iterations, walletId: opts.walletId, partyId, epoch: w.epoch });
      // Held again from its sealed form when the approval comes.
      void worker.releaseRecoveryDevice(d.deviceId).catch(() => {});
      const req: RecoveryRequest = {
        walletId: opts.walletId, epoch: w.epoch, partyId, identity: d.identityKey, recovery: { kit: w.kit !== "", backend: w.backend }, createdAt: Date.now(),
      };
      await this.storage.putRecoveryRequest({ ...req, device: d.sealed! });
      return req;
    });
  }

  /** This browser's pending recovery requests (public fields). */
  async recoveryRequests(): Promise<RecoveryRequest[]> {
    this.live();
    return this.storage.recoveryRequests();
  }

  /** Drops a pending recovery request and its device key; an approval of it can no longer be used here. */
  async cancelRecoveryRequest(walletId: string): Promise<void> {
    this.live();
    await this.storage.removeRecoveryRequest(walletId);
  }

  /**
   * Recovers a co-managed wallet onto this browser, with its recovery
   * code (`code` and `walletId`) or with the app backend's approval of
   * this browser's requestRecovery (`approval`). The authorization is
   * checked here first (recovery_wrong_code, recovery_forged,
   * recovery_expired, recovery_stale, recovery_other_device: RecoveryError),
   * then by the coordinator and by every server holder against its own
   * record (recovery_refused). The new share is stored pending under
   * password and becomes this browser's share only when every new
   * holder's stored acknowledgement verifies, as for refreshWallet; a
   * refusal or a failure stores nothing and keeps a pending request for
   * another try. With the code, the first attempt at the wallet's epoch
   * makes the device key and party id and keeps them as a request does
   * (sealed under password; recoveryRequests lists it), and every later
   * attempt at that epoch uses them — with the same password, or after
   * cancelRecoveryRequest with new ones — so that a retry can say, signed,
   * which earlier attempts never stored their share. The lost browser's
   * share no longer signs (stale_epoch).
   */
  async recoverWallet(opts: RecoverWalletOptions): Promise<Wallet> {
    this.live();
    if (!opts.password) throw new TsskitError("invalid_argument", "a password is required to protect the recovered share");
    const withCode = opts.code !== undefined, withApproval = opts.approval !== undefined;
    if (withCode === withApproval) throw new TsskitError("invalid_argument", "give the recovery code or the backend's approval (one of them)");
    if (withCode && (typeof opts.code !== "string" || typeof opts.walletId !== "string" || opts.walletId === "")) {
      throw new TsskitError("invalid_argument", "a recovery with the code needs walletId and the code as a string");
    }
    if (withApproval && typeof opts.approval !== "string") throw new TsskitError("invalid_argument", "approval: want the approval file's text");
    if (typeof opts.address !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(opts.address)) {
      throw new TsskitError("invalid_argument", "address: want the wallet's address (0x and 40 hex digits), which the recovered key must have");
    }
    if (withCode) checkNewPassword(opts.password);
    return this.activatedInstead(
      opts,
      this.exclusive(async () => {
        // The wallet's lock, as a refresh holds it: with an approval, the
        // wallet it names (a malformed one fails here as it would below).
        const walletId = withApproval
          ? (await this.pool.workers[0]!.parseAuthorization(opts.approval!).catch((e) => Promise.reject(TsskitError.from(e)))).walletId
          : opts.walletId!;
        return this.walletLock(walletId, () => this.recoverNow(opts));
      }),
    );
  }

  private async recoverNow(opts: RecoverWalletOptions): Promise<Wallet> {
    const prog = reshareProgressMapper(opts.onProgress);
    prog.phase("loading", 0);
    const worker = this.pool.workers[0]!;
    // The device key, in the worker until prepareRecovery takes it.
    let deviceId: string | null = null;
    let consumed = false;
    const resume = this.preParams?.pause();
    let preParams: PreParamsRef | null = null;
    let committed = false;
    const inner = new AbortController();
    const onAbort = () => {
      if (committed) return;
      inner.abort(opts.signal?.reason);
      if (consumed && this.pool.workers[0] === worker) void this.pool.replace(0).catch(() => {});
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    let result: ReshareResult | null = null;
    let sessionId = "";
    let token = "";
    let partyId = "";
    let walletId = opts.walletId ?? "";
    let pending: number | null = null;
    let failed = false;
    let verified = false;
    // The wallet's epoch the authorization names.
    let walletEpoch = -1;
    try {
      let authorization: Uint8Array;
      if (opts.approval !== undefined) {
        const a = await worker.parseAuthorization(opts.approval);
        if (a.kind !== "backend") throw new RecoveryError("recovery_refused", `the approval is a ${a.kind} authorization, not the app backend's`);
        if (opts.walletId && opts.walletId !== a.walletId) {
          throw new RecoveryError("recovery_other_wallet", `the approval is for wallet ${JSON.stringify(a.walletId)}, not ${JSON.stringify(opts.walletId)}`);
        }
        walletId = a.walletId;
        const req = await this.storage.recoveryRequest(walletId);
        if (!req) throw new RecoveryError("recovery_no_request", `this browser has no recovery request for wallet ${JSON.stringify(walletId)}: requestRecovery first`);
        if (a.partyId !== req.partyId || a.identityKey !== req.identity) {
          throw new RecoveryError("recovery_other_device", "the approval names another device or party than this browser's recovery request");
        }
        const w = await this.walletState(walletId, inner.signal);
        walletEpoch = w.epoch;
        // A wrong password fails here, before any session exists.
        deviceId = (await worker.openRecoveryDevice(req.device, opts.password)).deviceId;
        partyId = req.partyId;
        await worker.checkAuthorization({ authorization: a.authorization, walletId, epoch: w.epoch, deviceId, partyId });
        authorization = a.authorization;
      } else {
        const w = await this.walletState(walletId, inner.signal);
        walletEpoch = w.epoch;
        if (w.kit === "") throw new RecoveryError("recovery_refused", `wallet ${JSON.stringify(walletId)}'s recovery policy has no recovery kit (as the coordinator records it)`);
        // One device and party id for every attempt at this epoch, kept
        // like a request's (sealed under password): a retry can then say,
        // signed, that an earlier attempt never stored its share
        // (docs/lifecycle.md, one acknowledged run per epoch).
        const existing = await this.storage.recoveryRequest(walletId);
        let keep: (() => Promise<void>) | null = null;
        if (existing && existing.epoch === w.epoch) {
          try {
            deviceId = (await worker.openRecoveryDevice(existing.device, opts.password)).deviceId;
          } catch (e) {
            if (!(e instanceof WrongPasswordError)) throw e;
            throw new WrongPasswordError(
              "this browser's earlier recovery of this wallet keeps its device key under another password: give that password, or cancelRecoveryRequest to start afresh",
            );
          }
          partyId = existing.partyId;
        } else {
          partyId = "browser-" + crypto.randomUUID();
          const d = await worker.newRecoveryDevice({ password: opts.password, iterations: this.storage.iterations, walletId, partyId, epoch: w.epoch });
          deviceId = d.deviceId;
          // Kept once the code has signed for it (a wrong code keeps nothing).
          keep = () =>
            this.storage.putRecoveryRequest({
              walletId, epoch: w.epoch, partyId, identity: d.identityKey, recovery: { kit: true, backend: w.backend }, createdAt: Date.now(), device: d.sealed!,
            });
        }
        // Signed in the worker with the kit key of the code, for an hour: long
        // enough for the session, short for a copy of it.
        const a = await worker.kitAuthorization({ code: opts.code!, deviceId, walletId, epoch: w.epoch, partyId, expiresAtMs: Date.now() + 3_600_000, kit: w.kit });
        authorization = a.authorization;
        await keep?.();
      }
      // A run of the epoch the recovery makes, settled here (frozen or
      // pinned), keeps every run of that epoch out.
      await this.storage.refuseHeld(walletId, walletEpoch + 1);
      prog.phase("loading", 1);
      const created = await retryOverloaded(opts.retry, inner.signal, () =>
        this.authed((call) => this.clients.coordinator.createRecoverySession({ walletId, authorization }, call), inner.signal),
      ).catch((e) => {
        throw recoveryRefusal(e);
      });
      token = checkCreated(created, SessionKind.RESHARE, partyId);
      sessionId = created.sessionId;
      if (created.walletId !== walletId) throw mismatch(`the coordinator's session reshares wallet ${created.walletId}, not ${walletId}`);
      const r = created.reshare;
      if (!r) throw mismatch("the coordinator's recovery session says nothing of what it hands over");
      if (!sameBytes(r.recoveryAuthorization, authorization)) throw mismatch("the coordinator's session relays another authorization than this browser's");
      const handed = addressOf(bytesToHex(r.publicKey));
      if (handed?.toLowerCase() !== opts.address.toLowerCase()) {
        throw mismatch(`the coordinator's session hands over the key of address ${handed ?? "(none)"}, not the wallet's ${opts.address}`);
      }
      // Checked against the authorization in the wasm (prepareRecovery).
      const spec: ReshareSpecInput = {
        epoch: r.epoch, oldThreshold: r.oldThreshold, oldParties: [...r.oldParties], newParties: [...r.newParties],
        publicKey: r.publicKey, chainCode: r.chainCode, clientRequired: r.clientRequired, recoveryKit: r.recoveryKit, recoveryBackend: r.recoveryBackend,
      };
      // Refused in the wasm too (prepareRecovery); here before the run is recorded.
      if (spec.epoch !== walletEpoch + 1) throw mismatch(`the coordinator's recovery makes epoch ${spec.epoch}; the authorization is for epoch ${walletEpoch}`);
      prog.phase("preparams", 0);
      preParams =
        (await this.preParams?.take()) ??
        (await generatePreParams(this.pool.workers, { signal: inner.signal, onPrime: (n) => prog.phase("preparams", Math.min(1, n / 4)) }));
      if (this.pool.workers[0] !== worker || inner.signal.aborted) throw new TsskitError("canceled", "canceled");
      prog.phase("preparams", 1);
      prog.phase("joining", 0);
      // Recorded before anything of this run is computed, as in a refresh;
      // the join says which earlier runs of the epoch never stored here.
      const abandon = await this.storage.joinRun(walletId, spec.epoch, created.sessionId);
      const earlier = await this.earlierRun(walletId, spec.epoch, created.sessionId, opts.password);
      consumed = true; // prepareRecovery takes the device, whatever happens next
      const outcome = await recoverySeat(
        this.clients, worker,
        {
          sessionId: created.sessionId, partyId, token, trust: this.trust, parties: created.parties, walletId,
          signal: inner.signal, onProgress: (p) => prog.engine(p),
          onEvent: (ev) => {
            if (ev.event.case === "failed") failed = true;
            prog.event(ev);
          },
        },
        { deviceId: deviceId!, authorization }, { reshare: spec, signersNeeded: created.signersNeeded, abandon, earlier }, preParams,
        { password: opts.password, iterations: this.storage.iterations },
        async (res) => {
          result = res;
          prog.phase("saving", 0);
          if (inner.signal.aborted) throw new TsskitError("canceled", "canceled");
          await this.storage.putPending(res.backup, res.info, { sessionId: created.sessionId, recovery: { name: opts.name } });
          pending = res.epoch;
          committed = true;
        },
      );
      prog.phase("activating", 0);
      const acks: Record<string, Uint8Array> = Object.create(null);
      for (const [id, ack] of Object.entries(outcome.completed.storedAcks)) acks[id] = ack;
      await worker.verifyStoredAcks(outcome.result.handle, created.sessionId, outcome.completed.epoch, acks);
      verified = true;
      // The share becomes this browser's, and the request (if any) is answered, in one transaction.
      const stored = await this.storage.activatePending(walletId, outcome.result.epoch, { recovery: true });
      prog.phase("done", 1);
      return {
        walletId: stored.walletId, publicKey: stored.publicKey, address: stored.address, threshold: stored.threshold, parties: stored.parties.length,
        epoch: outcome.result.epoch,
      };
    } catch (e) {
      const err = TsskitError.from(e);
      await this.settleReshareFailure(err, { token, sessionId, partyId, committed, failed, pending, verified, what: "recovery" });
      // A wrong password for the request's device key keeps its class, as for a share.
      if (e instanceof WrongPasswordError) throw e;
      throw err;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      // Also after the seat: a device key an offer check refused is still
      // in the worker (release does nothing for one the seat took).
      if (deviceId) void worker.releaseRecoveryDevice(deviceId).catch(() => {});
      const res = result as ReshareResult | null;
      if (res && this.pool.workers[0] === worker) void worker.closeShare(res.handle).catch(() => {});
      if (preParams && this.pool.workers[0] === worker) void worker.releasePreParams(preParams).catch(() => {});
      resume?.();
    }
  }

  // --- Ethereum ------------------------------------------------------------
  // Addresses of the wallet key and its non-hardened BIP32 children, from
  // the stored public fields (no password), and EIP-191, EIP-712 and
  // transaction signing (eth.ts) through sign(). Every signature is checked
  // to recover to the address of the wallet and path before it is returned.

  /** The wallet key and its chain code as a BIP32 extended public key ("xpub…", depth 0). */
  async getExtendedPublicKey(opts: { walletId: string }): Promise<string> {
    this.live();
    try {
      const w = await this.storage.info(opts.walletId);
      return extendedPublicKey(w.publicKey, walletChainCode(w));
    } catch (e) {
      throw TsskitError.from(e);
    }
  }

  /** The key and address at path (non-hardened; default "m", the wallet's own). */
  async getAddress(opts: { walletId: string; path?: string }): Promise<DerivedAddress> {
    this.live();
    const path = normalizePath(opts.path);
    try {
      const w = await this.storage.info(opts.walletId);
      return deriveAddress(w.publicKey, walletChainCode(w), path);
    } catch (e) {
      throw TsskitError.from(e);
    }
  }

  /** Signs a personal_sign (EIP-191) message; returns r || s || v (27/28), hex. */
  async signMessage(opts: SignMessageOptions): Promise<Hex> {
    const { signer, address } = await this.digestSigner(opts);
    return signMessageWith(signer, address, opts.message);
  }

  /** Signs EIP-712 typed data; returns r || s || v (27/28), hex. */
  async signTypedData(opts: SignTypedDataOptions): Promise<Hex> {
    const { signer, address } = await this.digestSigner(opts);
    return signTypedDataWith(signer, address, opts.typedData);
  }

  /** Signs an EIP-1559, EIP-2930 or legacy (EIP-155) transaction; returns it serialized and signed. */
  async signTransaction(opts: SignTransactionOptions): Promise<Hex> {
    const { signer, address } = await this.digestSigner(opts);
    return signTransactionWith(signer, address, opts.transaction);
  }

  /** sign() for opts' wallet and path as a DigestSigner, and the address its signatures must recover to. */
  private async digestSigner(opts: EthSignOptions): Promise<{ signer: DigestSigner; address: string }> {
    const { path, address } = await this.getAddress(opts);
    const signer: DigestSigner = (digest) =>
      this.sign({
        walletId: opts.walletId, password: opts.password, message: digest, path: path === "m" ? undefined : path,
        onProgress: opts.onProgress, signal: opts.signal, retry: opts.retry,
      });
    return { signer, address };
  }

  /** Wallets with a share in this browser, and what the coordinator says of each. */
  async listWallets(): Promise<WalletListing[]> {
    this.live();
    const { wallets } = await this.storage.list();
    return Promise.all(
      wallets.map(async (w): Promise<WalletListing> => {
        try {
          const got = await this.authed((call) => this.clients.coordinator.getWallet({ walletId: w.walletId }, call));
          if (!got.wallet || bytesToHex(got.wallet.publicKey) !== w.publicKey) return { ...w, server: "unknown" };
          return { ...w, server: "ok", serverEpoch: got.wallet.epoch };
        } catch (e) {
          return { ...w, server: TsskitError.from(e).code === "not_found" ? "unknown" : "unreachable" };
        }
      }),
    );
  }

  /**
   * The wallets of this token's user as the coordinator records them,
   * whether or not this browser holds a share: what a recovery UI lists
   * ("which wallet is yours?"). The coordinator's word only: a recovery
   * still checks the key handed over against the address the user knows
   * (recoverWallet's `address`). At most `limit` wallets (default 1000).
   */
  async accountWallets(opts: { limit?: number; signal?: AbortSignal } = {}): Promise<AccountWallet[]> {
    this.live();
    const limit = Math.min(Math.max(1, opts.limit ?? 1000), 10_000);
    const out: AccountWallet[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const r = await this.authed((call) => this.clients.coordinator.listWallets({ pageSize: Math.min(limit - out.length, 1000), pageToken }, call), opts.signal);
      for (const w of r.wallets) {
        out.push({
          walletId: w.walletId, name: w.name, publicKey: bytesToHex(w.publicKey), address: w.address, threshold: w.signersNeeded,
          parties: w.holders.length, epoch: w.epoch, createdAt: Number(w.createdAtUnixMs),
          recovery: { kit: w.recoveryKit.length > 0, backend: w.recoveryBackend },
        });
      }
      // A coordinator that pages forever (empty pages, a token again) is not followed.
      if (r.wallets.length === 0 || r.nextPageToken === pageToken || ++pages >= 100) break;
      pageToken = r.nextPageToken;
    } while (pageToken !== "" && out.length < limit);
    return out.slice(0, limit);
  }

  /** The wallet's share as a password-protected backup file (the CLI party reads it). */
  async exportBackup(walletId: string, password: string): Promise<Blob> {
    this.live();
    const text = await this.storage.exportBackup(walletId, password);
    return new Blob([text], { type: "application/json" });
  }

  /**
   * Re-encrypts the wallet's stored share, and its pending shares of
   * refreshes not yet activated, under a new password
   * (storage.changePassword), holding the wallet's lock: while a refresh,
   * change of policy, recovery, resume or settle step of the wallet runs
   * in any tab it is refused (busy), since that run would store its new
   * share under the old password after the change.
   */
  async changePassword(walletId: string, oldPassword: string, newPassword: string): Promise<void> {
    this.live();
    return this.walletLock(walletId, () => this.storage.changePassword(walletId, oldPassword, newPassword));
  }

  /** Imports a backup file (from exportBackup, the CLI party or the account API). */
  async importBackup(file: Blob | string, password: string, meta?: { name?: string }): Promise<StoredWallet> {
    this.live();
    const text = typeof file === "string" ? file : await file.text();
    return this.storage.importBackup(text, password, meta);
  }

  /** Releases the workers (when no other client uses them) and the storage. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.preParams?.close();
    this.pool.release();
    this.storage.close();
  }
}

/** Checks a new session's kind and that it includes self; returns self's token. */
function checkCreated(created: CreateSessionResponse, kind: SessionKind, self: string): string {
  if (created.kind !== kind) throw mismatch(`the coordinator made a session of kind ${created.kind}; ${kind} was asked for`);
  if (!created.parties.includes(self)) throw mismatch(`the coordinator's session leaves out this party ${self}`);
  if (!created.walletId) throw mismatch("the coordinator's session names no wallet");
  const token = created.tokens.find((t) => t.partyId === self)?.token;
  if (!token) throw mismatch("the coordinator gave no token for this party");
  return token;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * CreateRecoverySession's refusal, typed: the coordinator checks the
 * authorization as the server holders would (its code, e.g.
 * "recovery_forged", is in the status message), and refuses one its
 * records say the wallet's policy does not accept (recovery_refused).
 */
export function recoveryRefusal(e: unknown): TsskitError {
  const err = TsskitError.from(e);
  if (!(e instanceof ConnectError)) return err;
  const m = /\b(recovery_[a-z_]+)\b/.exec(e.rawMessage);
  if (m && m[1] !== "recovery_malformed") return new RecoveryError(m[1]!, e.rawMessage);
  if (e.code === Code.PermissionDenied || (e.code === Code.FailedPrecondition && /recovery/i.test(e.rawMessage))) {
    return new RecoveryError("recovery_refused", e.rawMessage);
  }
  return err;
}
