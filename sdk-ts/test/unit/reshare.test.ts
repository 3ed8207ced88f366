// The page side of a refresh or reshare: the seat's steps against fake
// coordinator, router and worker (the order of storing and reporting,
// the checks of the ready event, the Completed event handed back), the
// stale-epoch and older-backup errors, and the progress of a reshare.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";

import { StaleEpochError, TsskitError } from "../../src/errors.js";
import { ReshareSpecSchema, SessionKind } from "../../src/gen/tsskit/v1/common_pb.js";
import { SessionEventSchema, type SessionEvent } from "../../src/gen/tsskit/v1/coordinator_pb.js";
import { reshareProgressMapper, type ReshareProgress } from "../../src/progress.js";
import { reshareSeat, sameReshare, type Clients } from "../../src/session.js";
import { OlderBackupError } from "../../src/share-storage.js";
import type { ReshareResult, ReshareSpecInput, TssWorker } from "../../src/worker-client.js";

const parties = ["browser-1", "server-1", "server-2", "server-3"];
const spec: ReshareSpecInput = {
  epoch: 1, oldThreshold: 2, oldParties: ["browser-1", "server-1"], newParties: ["browser-1", "server-1", "server-2", "server-3"],
  publicKey: new Uint8Array(33).fill(2), chainCode: new Uint8Array(32).fill(7), clientRequired: true,
};
const engine = (round: number) => ({ phase: "reshare" as const, round, rounds: 5, done: false, messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 });

/**
 * A coordinator, router and worker that play one reshare session: the
 * ready event (`ready` overrides its fields), then, once this party has
 * reported its result, `verdict` (Completed with acks, or Failed).
 */
function session(opts: { ready?: Partial<Record<string, unknown>>; verdict?: SessionEvent["event"]; saveFails?: boolean } = {}) {
  const log: string[] = [];
  const reports: unknown[] = [];
  let reported!: () => void;
  const gotReport = new Promise<void>((r) => (reported = r));
  const ev = (seq: number, event: SessionEvent["event"]) => create(SessionEventSchema, { sessionId: "s1", seq: BigInt(seq), event });
  const ready = ev(1, {
    case: "ready",
    value: {
      kind: SessionKind.RESHARE, walletId: "w1", signersNeeded: 3,
      roster: parties.map((partyId) => ({ partyId, statement: new Uint8Array(1), statementSignature: new Uint8Array(1) })),
      reshare: create(ReshareSpecSchema, spec), ...opts.ready,
    } as never,
  });
  const verdict = opts.verdict ?? {
    case: "completed" as const,
    value: { walletId: "w1", epoch: 1, storedAcks: Object.fromEntries(parties.map((p) => [p, new Uint8Array([1])])) } as never,
  };
  const clients = {
    coordinator: {
      async *watchSession() {
        yield ready;
        await gotReport;
        yield ev(2, verdict);
      },
      join: async () => (log.push("join"), {}),
      reportResult: async (r: { result: { case: string } }) => {
        log.push("report:" + r.result.case);
        reports.push(r);
        reported();
        return {};
      },
      reportProgress: async () => ({}),
    },
    router: {
      async *subscribe(_: unknown, o: { signal: AbortSignal }) {
        await new Promise((r) => o.signal.addEventListener("abort", r, { once: true }));
      },
      publish: async () => ({}),
    },
  } as unknown as Clients;
  const result: ReshareResult = {
    backup: "{}", info: {} as never, publicKey: spec.publicKey, address: "0x00", epoch: 1, storedAck: new Uint8Array([9]), handle: "h-new",
  };
  const prepared: unknown[] = [];
  const worker = {
    prepareReshare: async (p: unknown) => {
      prepared.push(p);
      log.push("prepare");
      return { keysId: "k", identityKey: "", join: { x25519: new Uint8Array(32), ed25519: new Uint8Array(32), statement: new Uint8Array(1), signature: new Uint8Array(1) } };
    },
    reshare: (_: unknown, h: { onProgress?(p: unknown): void }) => {
      log.push("engine");
      for (let r = 1; r <= 5; r++) h.onProgress?.(engine(r));
      return { result: Promise.resolve(result), deliver() {}, cancel() {} };
    },
    releaseSessionKeys: async () => {},
  } as unknown as TssWorker;
  const seat = { sessionId: "s1", partyId: "browser-1", token: "t", trust: { roots: [] }, parties, walletId: "w1" };
  const run = (progress: ReshareProgress[] = []) => {
    const prog = reshareProgressMapper((p) => progress.push(p));
    return reshareSeat(clients, worker, { ...seat, onProgress: (p) => prog.engine(p) }, "h-old", { reshare: spec, signersNeeded: 3, asked: { signersNeeded: 3, parties: 4 } },
      { handle: "pp" }, { password: "pw" }, async (r) => {
        log.push("save:" + r.epoch);
        if (opts.saveFails) throw new TsskitError("quota", "no room");
      });
  };
  return { run, log, reports, prepared };
}

describe("reshareSeat", () => {
  it("checks the offer in the worker, stores the new share before reporting it, and returns the Completed event", async () => {
    const s = session();
    const progress: ReshareProgress[] = [];
    const out = await s.run(progress);
    expect(s.log).toEqual(["prepare", "join", "engine", "save:1", "report:reshared"]);
    // What the wasm checks the offer against: the offer and what was asked.
    expect(s.prepared[0]).toMatchObject({ handle: "h-old", sessionId: "s1", parties, reshare: spec, signersNeeded: 3, asked: { signersNeeded: 3, parties: 4 } });
    expect(s.reports[0]).toMatchObject({ sessionId: "s1", partyId: "browser-1", result: { case: "reshared", value: { epoch: 1, stored: true, storedAck: new Uint8Array([9]) } } });
    expect(out.result.handle).toBe("h-new");
    expect(out.completed.epoch).toBe(1);
    expect(Object.keys(out.completed.storedAcks).sort()).toEqual([...parties].sort());
    expect(progress.map((p) => p.phase)).toEqual(Array(5).fill("resharing"));
  });

  it("refuses a ready event that describes another reshare, and says so", async () => {
    for (const ready of [
      { signersNeeded: 2 },
      { reshare: create(ReshareSpecSchema, { ...spec, epoch: 2 }) },
      { reshare: create(ReshareSpecSchema, { ...spec, newParties: ["browser-1", "server-1", "server-2", "server-4"] }) },
      { reshare: undefined },
    ]) {
      const s = session({ ready });
      const err = await s.run().catch((e: unknown) => e);
      expect(err, JSON.stringify(Object.keys(ready))).toBeInstanceOf(TsskitError);
      expect((err as TsskitError).code).toBe("session_mismatch");
      expect(s.log).not.toContain("engine");
      expect(s.log).toContain("report:failure");
    }
  });

  it("reports a failure when the new share cannot be stored, and never claims it stored", async () => {
    const s = session({ saveFails: true });
    await expect(s.run()).rejects.toMatchObject({ code: "quota" });
    expect(s.log).toEqual(["prepare", "join", "engine", "save:1", "report:failure"]);
  });

  it("a session failed for a stale epoch is a StaleEpochError", async () => {
    const s = session({ verdict: { case: "failed", value: { code: "stale_epoch", reason: "browser-1: the party signs with a share of epoch 0", culprits: ["browser-1"] } as never } });
    const err = await s.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleEpochError);
    expect((err as StaleEpochError).culprits).toEqual(["browser-1"]);
  });

  it("sameReshare compares committees as sets and every other field", () => {
    expect(sameReshare(spec, { ...spec, newParties: [...spec.newParties].reverse() })).toBe(true);
    expect(sameReshare(spec, { ...spec, oldThreshold: 3 })).toBe(false);
    expect(sameReshare(spec, { ...spec, clientRequired: false })).toBe(false);
    expect(sameReshare(spec, { ...spec, chainCode: new Uint8Array(32) })).toBe(false);
    expect(sameReshare(spec, { ...spec, publicKey: spec.publicKey.slice(1) })).toBe(false);
    expect(sameReshare(spec, { ...spec, oldParties: ["browser-1", "server-1", "server-1"] })).toBe(false);
    expect(sameReshare(spec, { ...spec, recoveryKit: new Uint8Array(0), recoveryBackend: false })).toBe(true);
    expect(sameReshare(spec, { ...spec, recoveryKit: new Uint8Array(32).fill(1) })).toBe(false);
    expect(sameReshare(spec, { ...spec, recoveryBackend: true })).toBe(false);
  });
});

describe("stale epochs and older backups", () => {
  it("the coordinator's refusal of a stale join is a StaleEpochError telling what to do", () => {
    const e = TsskitError.from(new ConnectError("stale_epoch: the party signs with a share of epoch 0; the wallet's active epoch is 1", Code.FailedPrecondition));
    expect(e).toBeInstanceOf(StaleEpochError);
    expect(e.code).toBe("stale_epoch");
    expect((e as StaleEpochError).mine).toBe(true);
    expect(e.message).toMatch(/recover the wallet, or import a newer backup/i);
    expect(e.message).toContain("the wallet's active epoch is 1");
    // Another FailedPrecondition stays an RpcError.
    expect(TsskitError.from(new ConnectError("not an account wallet", Code.FailedPrecondition)).code).toBe("failed_precondition");
  });

  it("the engine's stale_epoch (from the worker) is one too, naming the stale party", () => {
    const e = TsskitError.from({ name: "TsskitError", code: "stale_epoch", message: "party: stale_epoch", culprits: ["server-2"] });
    expect(e).toBeInstanceOf(StaleEpochError);
    expect(e.culprits).toEqual(["server-2"]);
    expect((e as StaleEpochError).mine).toBe(false);
    expect(e.message).toMatch(/server-2/);
    const mine = new StaleEpochError("epoch 0", ["browser-1"], { mine: true, walletId: "w1" });
    expect(mine.message).toMatch(/this browser's share of wallet "w1" is of an older epoch/);
  });

  it("an older backup has code older_backup", () => {
    const e = new OlderBackupError("w1", 0, 2);
    expect(e.code).toBe("older_backup");
    expect(TsskitError.from(e).code).toBe("older_backup");
  });
});

describe("reshareProgressMapper", () => {
  it("walks a refresh through its phases with a fraction that never goes back", () => {
    const seen: ReshareProgress[] = [];
    const m = reshareProgressMapper((p) => seen.push(p));
    m.phase("loading", 1);
    m.phase("preparams", 0.5);
    m.phase("joining", 0);
    for (let r = 1; r <= 5; r++) m.engine(engine(r));
    m.engine(engine(2)); // late
    m.phase("saving", 0);
    m.phase("activating", 0);
    m.phase("done", 1);
    const f = seen.map((p) => p.fraction);
    expect(f).toEqual([...f].sort((a, b) => a - b));
    expect(f.at(-1)).toBe(1);
    expect(seen.filter((p) => p.phase === "resharing").map((p) => `${p.round}/${p.rounds}`).slice(0, 5)).toEqual(["1/5", "2/5", "3/5", "4/5", "5/5"]);
    expect(seen.find((p) => p.phase === "activating")!.fraction).toBeGreaterThanOrEqual(0.95);
  });
});
