// One party's seat in a coordinated session, from the browser: the same
// steps as the Go participant (participant/participant.go). Fresh session
// keys, join, wait for the roster, run the engine in the worker while
// envelopes go out through Publish and come in through a Subscribe stream
// that resumes from the last seq after any break, report progress and the
// result, and wait for the coordinator's verdict.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { TsskitError } from "./errors.js";
import { EnvelopeSchema, SessionKind, SignatureSchema, type Envelope } from "./gen/tsskit/v1/common_pb.js";
import { CoordinatorService, type SessionEvent, type SessionEvent_Completed, type SessionEvent_Ready } from "./gen/tsskit/v1/coordinator_pb.js";
import { RouterService } from "./gen/tsskit/v1/router_pb.js";
import type {
  EarlierRun, ReshareParams, KeygenResult, PreparedSeat, PreParamsRef, Progress, ReshareResult, ReshareSpecInput, SignedJoin, SignResult, TrustConfig, TssWorker, WorkerRun,
} from "./worker-client.js";

export interface Endpoints {
  /** gRPC-Web base URL of the coordinator, e.g. http://localhost:8081 */
  coordinatorUrl: string;
  /** gRPC-Web base URL of the router, e.g. http://localhost:8082 */
  routerUrl: string;
}

export interface Clients {
  coordinator: Client<typeof CoordinatorService>;
  router: Client<typeof RouterService>;
}

export function connectClients(e: Endpoints): Clients {
  return {
    coordinator: createClient(CoordinatorService, createGrpcWebTransport({ baseUrl: e.coordinatorUrl })),
    router: createClient(RouterService, createGrpcWebTransport({ baseUrl: e.routerUrl })),
  };
}

export interface Seat {
  sessionId: string;
  partyId: string;
  /** The party token for (sessionId, partyId). */
  token: string;
  /** The deployment root(s) this client pins: every server must be certified by one. */
  trust: TrustConfig;
  /** Every party of the session, as the client asked for it. */
  parties: string[];
  walletId: string;
  onEvent?(e: SessionEvent): void;
  onProgress?(p: Progress): void;
  signal?: AbortSignal;
}

export interface KeygenOutcome extends KeygenResult {
  walletId: string;
  /** With a recovery kit: the wallet's recovery code (SECRET: show it once). */
  recoveryCode?: string;
}

/**
 * Runs a keygen seat of signersNeeded among seat.parties, with
 * pre-parameters this worker holds (generatePreParams or a pool's take;
 * the keygen consumes them). The share comes out of the worker only as a
 * backup under protect.password; save() must store it before the result
 * is reported.
 */
export async function keygenSeat(
  clients: Clients, worker: TssWorker, seat: Seat, signersNeeded: number, preParams: PreParamsRef,
  protect: { password: string; iterations?: number }, save?: (r: KeygenOutcome) => Promise<void>,
  recovery?: { kit?: boolean; backend?: boolean },
): Promise<KeygenOutcome> {
  let out: KeygenOutcome | undefined;
  let recoveryCode: string | undefined;
  await runSeat(clients, worker, seat, SessionKind.KEYGEN, {
    prepare: async () => {
      const p = await worker.prepareKeygen({
        sessionId: seat.sessionId, self: seat.partyId, walletId: seat.walletId, signersNeeded, parties: seat.parties, ...(recovery ? { recovery } : {}),
      });
      // The code goes to the caller with the result, and nowhere else.
      recoveryCode = p.recoveryCode;
      const { recoveryCode: _, ...rest } = p;
      return rest;
    },
    check: (ready) => {
      if (!ready.recordsChainCodes) {
        throw mismatch("the coordinator's roster is from a coordinator that does not record chain codes (older than this SDK): upgrade the coordinator; it would record the wallet without the chain code this party records");
      }
      if (ready.signersNeeded !== signersNeeded) {
        throw mismatch(`the coordinator's roster needs ${ready.signersNeeded} signers; ${signersNeeded} were asked for`);
      }
    },
    start: (params, handlers) => {
      const run = worker.keygen({ ...params, preParams, protect }, handlers);
      return {
        run,
        report: async (r: KeygenResult) => {
          out = { ...r, walletId: seat.walletId, ...(recoveryCode ? { recoveryCode } : {}) };
          await save?.(out);
          return { result: { case: "publicKey" as const, value: r.publicKey }, chainCode: r.chainCode };
        },
      };
    },
  });
  return out!;
}

/**
 * Runs a signing seat of digest with a share opened in this worker
 * (TssWorker.openShare; the handle is consumed). The seat's statement,
 * signed with the share's identity key, is the wallet's sign request for
 * this session and digest.
 */
export async function signSeat(
  clients: Clients, worker: TssWorker, seat: Seat, handle: string, digest: Uint8Array, path: number[] = [],
): Promise<SignResult> {
  let out: SignResult | undefined;
  await runSeat(clients, worker, seat, SessionKind.SIGN, {
    prepare: () => worker.prepareSign({ handle, sessionId: seat.sessionId, parties: seat.parties, digest, ...(path.length ? { path: "m/" + path.join("/") } : {}) }),
    check: (ready) => {
      if (ready.digest.length !== digest.length || ready.digest.some((x, i) => x !== digest[i])) {
        throw mismatch("the session signs another digest than asked");
      }
      if (ready.derivationPath.length !== path.length || ready.derivationPath.some((x, i) => x !== path[i])) {
        throw mismatch("the session signs with another derivation path than asked");
      }
    },
    start: (params, handlers) => {
      const run = worker.sign(params, handlers);
      return {
        run,
        report: async (r: SignResult) => {
          out = r;
          return { result: { case: "signature" as const, value: create(SignatureSchema, { r: r.r, s: r.s, v: r.v, der: r.der }) } };
        },
      };
    },
  });
  return out!;
}

/** A reshare as the coordinator offered it (CreateReshareSession's answer) and as this client asked for it. */
export interface ReshareOffer {
  reshare: ReshareSpecInput;
  /** The offer's signers needed after the reshare. */
  signersNeeded: number;
  /** What this client asked for (0 or absent: unchanged). */
  asked?: { signersNeeded?: number; parties?: number };
  /** Earlier runs of the epoch this browser recorded abandoned (ShareStorage.joinRun); the join carries its statement for each. */
  abandon?: string[];
  /** The pending share of an earlier run of the epoch this browser holds, opened in the worker (consumed). */
  earlier?: EarlierRun;
}

export interface ReshareOutcome {
  result: ReshareResult;
  /** The coordinator's Completed event: the epoch it activated and every new holder's stored acknowledgement. */
  completed: SessionEvent_Completed;
}

/**
 * Runs a reshare seat with a share opened in this worker (the handle is
 * consumed), the same steps as the Go participant's Reshare: the offer is
 * checked in the wasm against the share and what was asked
 * (party.ClientReshare) before the seat joins; the ready event must carry
 * the same reshare; the engine runs with this worker's pre-parameters; the
 * new share comes out as a backup, which save() must store as pending
 * before the result (with the stored acknowledgement) is reported; then
 * the coordinator's Completed event is awaited and returned. The caller
 * checks its acknowledgements (TssWorker.verifyStoredAcks with
 * result.handle, which it closes) before activating the new share.
 */
export async function reshareSeat(
  clients: Clients, worker: TssWorker, seat: Seat, handle: string, offer: ReshareOffer, preParams: PreParamsRef,
  protect: { password: string; iterations?: number }, save: (r: ReshareResult) => Promise<void>,
): Promise<ReshareOutcome> {
  const prepare = () =>
    worker.prepareReshare({
      handle, sessionId: seat.sessionId, parties: seat.parties, reshare: offer.reshare, signersNeeded: offer.signersNeeded, asked: offer.asked,
      abandon: offer.abandon, earlier: offer.earlier,
    });
  return runReshare(clients, worker, seat, prepare, offer, preParams, protect, save);
}

/**
 * Runs a new client's seat in a recovery (CreateRecoverySession's offer),
 * with a device key held in this worker (consumed) and the authorization
 * it was asked with: the offer is checked in the wasm against the
 * authorization (party.ClientRecovery) before the seat joins with the
 * device key; the rest is reshareSeat's — the new share is stored as
 * pending by save() before it is reported, and the Completed event is
 * returned for the caller to verify.
 */
export async function recoverySeat(
  clients: Clients, worker: TssWorker, seat: Seat, device: { deviceId: string; authorization: Uint8Array }, offer: ReshareOffer, preParams: PreParamsRef,
  protect: { password: string; iterations?: number }, save: (r: ReshareResult) => Promise<void>,
): Promise<ReshareOutcome> {
  const prepare = () =>
    worker.prepareRecovery({
      sessionId: seat.sessionId, parties: seat.parties, reshare: offer.reshare, signersNeeded: offer.signersNeeded,
      authorization: device.authorization, deviceId: device.deviceId, abandon: offer.abandon, earlier: offer.earlier,
    });
  return runReshare(clients, worker, seat, prepare, offer, preParams, protect, save);
}

async function runReshare(
  clients: Clients, worker: TssWorker, seat: Seat, prepare: () => Promise<PreparedSeat>, offer: ReshareOffer, preParams: PreParamsRef,
  protect: { password: string; iterations?: number }, save: (r: ReshareResult) => Promise<void>,
): Promise<ReshareOutcome> {
  let out: ReshareResult | undefined;
  let completed: SessionEvent_Completed | undefined;
  // What every party's join says of earlier runs of the epoch: the seat
  // checks it in the wasm before it starts (party.CheckEarlierRun).
  const words: NonNullable<ReshareParams["words"]> = Object.create(null);
  const onEvent = seat.onEvent;
  await runSeat(clients, worker, { ...seat, onEvent: (ev) => {
    if (ev.event.case === "completed") completed = ev.event.value;
    onEvent?.(ev);
  } }, SessionKind.RESHARE, {
    prepare,
    check: (ready) => {
      if (ready.signersNeeded !== offer.signersNeeded) {
        throw mismatch(`the coordinator's roster needs ${ready.signersNeeded} signers after the reshare; its offer said ${offer.signersNeeded}`);
      }
      if (!ready.reshare || !sameReshare(ready.reshare, offer.reshare)) {
        throw mismatch("the coordinator's roster describes another reshare (committees, epoch, key or policy) than the one this party joined");
      }
      for (const k of ready.roster) words[k.partyId] = { abandoned: [...k.abandoned], stored: { ...k.stored } };
    },
    start: (params, handlers) => {
      const run = worker.reshare({ ...params, preParams, protect, words }, handlers);
      return {
        run,
        report: async (r: ReshareResult) => {
          out = r;
          // Stored first: a party never says it stored a share it has not.
          await save(r);
          return { result: { case: "reshared" as const, value: { publicKey: r.publicKey, epoch: r.epoch, stored: true, storedAck: r.storedAck } } };
        },
      };
    },
  });
  if (!completed) throw new TsskitError("protocol", "the reshare completed without a Completed event");
  return { result: out!, completed };
}

/** Whether two reshare specs describe the same reshare (committees compared sorted). */
export function sameReshare(a: ReshareSpecInput, b: ReshareSpecInput): boolean {
  const list = (x: string[]) => [...x].sort().join("\n");
  const bytes = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.epoch === b.epoch && a.oldThreshold === b.oldThreshold && list(a.oldParties) === list(b.oldParties) && list(a.newParties) === list(b.newParties) &&
    a.oldParties.length === b.oldParties.length && a.newParties.length === b.newParties.length &&
    bytes(a.publicKey, b.publicKey) && bytes(a.chainCode, b.chainCode) && a.clientRequired === b.clientRequired &&
    bytes(a.recoveryKit ?? new Uint8Array(), b.recoveryKit ?? new Uint8Array()) && (a.recoveryBackend ?? false) === (b.recoveryBackend ?? false)
  );
}

/** The session differs from what this client asked for. */
export function mismatch(message: string): TsskitError {
  return new TsskitError("session_mismatch", message);
}

interface SeatSteps<T> {
  /** Makes the seat in the worker: session keys, identity, signed join. */
  prepare(): Promise<PreparedSeat>;
  /** Refuses a ready event that is not the session asked for. */
  check(ready: SessionEvent_Ready): void;
  start(
    params: { keysId: string; roster: Record<string, SignedJoin>; trust: TrustConfig },
    handlers: { onEnvelope(e: Uint8Array): void; onProgress(p: Progress): void },
  ): { run: WorkerRun<T>; report(r: T): Promise<any> };
}

async function runSeat<T>(clients: Clients, worker: TssWorker, seat: Seat, kind: SessionKind, steps: SeatSteps<T>): Promise<void> {
  const abort = new AbortController();
  seat.signal?.addEventListener("abort", () => abort.abort(seat.signal?.reason), { once: true });
  const headers = { authorization: `Bearer ${seat.token}` };
  const call = { headers, signal: abort.signal };
  const keys = await steps.prepare();
  try {
    // Watch first: the stream replays from the session's first event.
    let readyResolve!: (r: SessionEvent_Ready) => void;
    let endResolve!: (err: TsskitError | null) => void;
    const ready = new Promise<SessionEvent_Ready>((r) => (readyResolve = r));
    const end = new Promise<TsskitError | null>((r) => (endResolve = r));
    // The stream replays the session's events from the first, so after a
    // break (a coordinator replica or a proxy dropping it) it is opened
    // again and what was seen is skipped, for up to a minute of failures.
    const watching = (async () => {
      let seen = 0n;
      let failingSince = 0;
      for (;;) {
        try {
          for await (const ev of clients.coordinator.watchSession({ sessionId: seat.sessionId }, call)) {
            failingSince = 0;
            if (ev.seq <= seen) continue;
            seen = ev.seq;
            seat.onEvent?.(ev);
            switch (ev.event.case) {
              case "ready":
                readyResolve(ev.event.value);
                break;
              case "failed": {
                const f = ev.event.value;
                // TsskitError.from gives a stale_epoch its class (StaleEpochError).
                endResolve(TsskitError.from({ code: f.code || "session_failed", message: `session failed: ${f.reason}`, culprits: f.culprits }));
                return;
              }
              case "completed":
                endResolve(null);
                return;
            }
          }
          throw new ConnectError("session event stream ended without a result", Code.Unavailable);
        } catch (e) {
          if (abort.signal.aborted) return endResolve(new TsskitError("canceled", "canceled"));
          failingSince ||= Date.now();
          if (!retryable(e) || Date.now() - failingSince > 60_000) {
            return endResolve(new TsskitError("transport", `session events: ${String(e)}`));
          }
        }
        await sleep(200, abort.signal);
      }
    })();

    const j = keys.join;
    await clients.coordinator.join(
      {
        sessionId: seat.sessionId,
        keys: {
          partyId: seat.partyId, x25519: j.x25519, ed25519: j.ed25519, statement: j.statement, statementSignature: j.signature, certificates: j.certificates ?? [],
          abandoned: j.abandoned ?? [],
          stored: j.stored ?? {},
        },
      },
      call,
    );
    const first = await Promise.race([ready, end.then((e) => e ?? new TsskitError("protocol", "session completed before it was ready"))]);
    if (first instanceof TsskitError) throw first;
    const r = first as SessionEvent_Ready;

    // No prototype: a party id such as "__proto__" is a key like any other.
    const roster: Record<string, SignedJoin> = Object.create(null);
    for (const k of r.roster) roster[k.partyId] = { statement: k.statement, signature: k.statementSignature, certificates: k.certificates };

    // Outgoing envelopes are published in order, each retried while the
    // router is unavailable (Publish is idempotent).
    let outbox = Promise.resolve();
    let lastRound = -1;
    const reportFailure = (err: TsskitError) =>
      clients.coordinator
        .reportResult({ sessionId: seat.sessionId, partyId: seat.partyId, result: { case: "failure", value: { code: err.code, reason: err.message, culprits: err.culprits } } }, { headers })
        .catch(() => {});
    let started: ReturnType<SeatSteps<T>["start"]>;
    try {
      // The ready event must be the session this client asked for; the
      // engine then checks every party's signed statement against it.
      if (r.kind !== kind) throw mismatch(`the coordinator's session is of kind ${r.kind}, not ${kind}`);
      if (r.walletId !== seat.walletId) throw mismatch(`the coordinator's roster is for wallet ${r.walletId}, not ${seat.walletId}`);
      const ids = r.roster.map((k) => k.partyId).sort();
      const want = [...seat.parties].sort();
      if (ids.length !== want.length || ids.some((id, i) => id !== want[i])) {
        throw mismatch(`the coordinator's roster has parties ${ids.join(", ")}; the session was ${want.join(", ")}`);
      }
      steps.check(r);
      started = steps.start(
      { keysId: keys.keysId, roster, trust: seat.trust },
      {
        onEnvelope: (bytes) => {
          const envelope = fromBinary(EnvelopeSchema, bytes);
          outbox = outbox.then(async () => { await retry(() => clients.router.publish({ envelope }, call), abort.signal); }).catch((e) => {
            abort.abort(e);
          });
        },
        onProgress: (p) => {
          seat.onProgress?.(p);
          if (p.round !== lastRound) {
            lastRound = p.round;
            clients.coordinator
              .reportProgress({ sessionId: seat.sessionId, partyId: seat.partyId, round: p.round, rounds: p.rounds }, call)
              .catch(() => {});
          }
        },
      },
    );
    } catch (e) {
      // This party cannot take part (another session than asked, bad
      // parameters): say so, so the session fails now instead of timing out.
      const err = TsskitError.from(e);
      await reportFailure(err);
      throw err;
    }
    const { run, report } = started;
    abort.signal.addEventListener("abort", () => run.cancel(), { once: true });
    end.then((e) => e && abort.abort(e));
    // A subscription that fails for good ends the run, unless the engine is
    // already done (the router closes a session once it completes).
    let engineDone = false;
    const subscribing = subscribe(clients, seat, call, abort.signal, (env) => run.deliver(toBinary(EnvelopeSchema, env))).catch((e) => {
      if (!engineDone && !abort.signal.aborted) abort.abort(TsskitError.from(e));
    });

    let result: T;
    try {
      result = await run.result;
      engineDone = true;
    } catch (e) {
      engineDone = true;
      const err = TsskitError.from(e);
      const reason = abort.signal.reason;
      if (reason instanceof TsskitError) throw reason; // the session failed elsewhere first
      await reportFailure(err);
      throw err;
    }
    await outbox;
    let res;
    try {
      res = await report(result);
    } catch (e) {
      // This party cannot stand by its result (its share could not be
      // stored): say so, so the session fails now instead of timing out.
      const err = TsskitError.from(e);
      await reportFailure(err);
      throw err;
    }
    // Reporting the same result again is accepted, so it is retried like
    // a publish while the coordinator is unavailable.
    await retry(() => clients.coordinator.reportResult({ sessionId: seat.sessionId, partyId: seat.partyId, ...res }, call), abort.signal);
    const verdict = await end;
    if (verdict) throw verdict;
    abort.abort();
    await Promise.allSettled([subscribing, watching]);
  } finally {
    abort.abort();
    worker.releaseSessionKeys(keys.keysId).catch(() => {});
  }
}

/** Feeds deliver() from Subscribe, resuming after the last seq on any break. */
async function subscribe(clients: Clients, seat: Seat, call: { headers: Record<string, string>; signal: AbortSignal }, signal: AbortSignal, deliver: (e: Envelope) => void): Promise<void> {
  let after = 0n;
  let backoff = 50;
  while (!signal.aborted) {
    try {
      for await (const env of clients.router.subscribe({ sessionId: seat.sessionId, partyId: seat.partyId, afterSeq: after }, call)) {
        backoff = 50;
        if (env.seq <= after) continue;
        after = env.seq;
        deliver(env);
      }
    } catch (e) {
      if (signal.aborted) return;
      if (!retryable(e)) throw e;
    }
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, 2000);
  }
}

function retryable(e: unknown): boolean {
  const c = ConnectError.from(e).code;
  return c === Code.Unavailable || c === Code.Unknown || c === Code.Internal || c === Code.Aborted;
}

async function retry<T>(f: () => Promise<T>, signal: AbortSignal, limitMs = 60_000): Promise<T> {
  const start = Date.now();
  let backoff = 50;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (signal.aborted || !retryable(e) || Date.now() - start > limitMs) throw e;
    }
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, 2000);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}
