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
import { CoordinatorService, type SessionEvent, type SessionEvent_Ready } from "./gen/tsskit/v1/coordinator_pb.js";
import { RouterService } from "./gen/tsskit/v1/router_pb.js";
import type { KeygenResult, Progress, SignResult, TssWorker, WorkerRun } from "./worker-client.js";

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
  onEvent?(e: SessionEvent): void;
  onProgress?(p: Progress): void;
  signal?: AbortSignal;
}

export interface KeygenOutcome extends KeygenResult {
  walletId: string;
}

/** Runs a keygen seat; save() must store the share before the result is reported. */
export async function keygenSeat(clients: Clients, worker: TssWorker, seat: Seat, preParams: Uint8Array, save?: (r: KeygenOutcome) => Promise<void>): Promise<KeygenOutcome> {
  let out: KeygenOutcome | undefined;
  await runSeat(clients, worker, seat, SessionKind.KEYGEN, (params, ready, handlers) => {
    const run = worker.keygen({ ...params, walletId: ready.walletId, signersNeeded: ready.signersNeeded, preParams }, handlers);
    return {
      run,
      report: async (r: KeygenResult) => {
        out = { ...r, walletId: ready.walletId };
        await save?.(out);
        return { case: "publicKey" as const, value: r.publicKey };
      },
    };
  });
  return out!;
}

/** Runs a signing seat with a decrypted share record. */
export async function signSeat(clients: Clients, worker: TssWorker, seat: Seat, share: Uint8Array, check?: (digest: Uint8Array) => void): Promise<SignResult> {
  let out: SignResult | undefined;
  await runSeat(clients, worker, seat, SessionKind.SIGN, (params, ready, handlers) => {
    check?.(ready.digest);
    const run = worker.sign({ ...params, share, digest: ready.digest }, handlers);
    return {
      run,
      report: async (r: SignResult) => {
        out = r;
        return { case: "signature" as const, value: create(SignatureSchema, { r: r.r, s: r.s, v: r.v, der: r.der }) };
      },
    };
  });
  return out!;
}

type Starter<T> = (
  params: { sessionId: string; self: string; parties: string[]; keysId: string; publicKeys: Record<string, { x25519: Uint8Array; ed25519: Uint8Array }> },
  ready: SessionEvent_Ready,
  handlers: { onEnvelope(e: Uint8Array): void; onProgress(p: Progress): void },
) => { run: WorkerRun<T>; report(r: T): Promise<any> };

async function runSeat<T>(clients: Clients, worker: TssWorker, seat: Seat, kind: SessionKind, start: Starter<T>): Promise<void> {
  const abort = new AbortController();
  seat.signal?.addEventListener("abort", () => abort.abort(seat.signal?.reason), { once: true });
  const headers = { authorization: `Bearer ${seat.token}` };
  const call = { headers, signal: abort.signal };
  const keys = await worker.createSessionKeys();
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
                endResolve(new TsskitError(f.code || "session_failed", `session failed: ${f.reason}`, f.culprits));
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

    await clients.coordinator.join(
      { sessionId: seat.sessionId, keys: { partyId: seat.partyId, x25519: keys.x25519, ed25519: keys.ed25519 } },
      call,
    );
    const first = await Promise.race([ready, end.then((e) => e ?? new TsskitError("protocol", "session completed before it was ready"))]);
    if (first instanceof TsskitError) throw first;
    const r = first as SessionEvent_Ready;
    if (r.kind !== kind) throw new TsskitError("invalid_params", `session kind ${r.kind}, expected ${kind}`);

    const publicKeys: Record<string, { x25519: Uint8Array; ed25519: Uint8Array }> = {};
    for (const k of r.roster) publicKeys[k.partyId] = { x25519: k.x25519, ed25519: k.ed25519 };

    // Outgoing envelopes are published in order, each retried while the
    // router is unavailable (Publish is idempotent).
    let outbox = Promise.resolve();
    let lastRound = -1;
    const reportFailure = (err: TsskitError) =>
      clients.coordinator
        .reportResult({ sessionId: seat.sessionId, partyId: seat.partyId, result: { case: "failure", value: { code: err.code, reason: err.message, culprits: err.culprits } } }, { headers })
        .catch(() => {});
    let started: ReturnType<Starter<T>>;
    try {
      started = start(
      { sessionId: seat.sessionId, self: seat.partyId, parties: r.roster.map((k) => k.partyId), keysId: keys.keysId, publicKeys },
      r,
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
      // This party cannot take part (a refused digest, bad parameters):
      // say so, so the session fails now instead of timing out.
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
    const res = await report(result);
    // Reporting the same result again is accepted, so it is retried like
    // a publish while the coordinator is unavailable.
    await retry(() => clients.coordinator.reportResult({ sessionId: seat.sessionId, partyId: seat.partyId, result: res }, call), abort.signal);
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
