import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";

import { codeName, OverloadedError, retryOverloaded, RpcError, TsskitError } from "../../src/errors.js";
import { OverloadedSchema } from "../../src/gen/tsskit/v1/common_pb.js";
import { SessionEventSchema } from "../../src/gen/tsskit/v1/coordinator_pb.js";
import { progressMapper, reshareProgressMapper, type ClientProgress, type ReshareProgress } from "../../src/progress.js";

const progressEvent = (partyId: string, round: number, queued: number) =>
  create(SessionEventSchema, { event: { case: "progress", value: { partyId, round, rounds: 4, queued } } });

describe("progressMapper", () => {
  it("walks a keygen through its phases with a fraction that never goes back", () => {
    const seen: ClientProgress[] = [];
    const m = progressMapper("keygen", (p) => seen.push(p));
    m.phase("loading", 1);
    for (let i = 1; i <= 4; i++) m.phase("preparams", i / 4);
    m.phase("joining", 0);
    for (let r = 1; r <= 4; r++) m.engine({ phase: "keygen", round: r, rounds: 4, done: false, messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 });
    m.engine({ phase: "keygen", round: 2, rounds: 4, done: false, messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 }); // late, out of order
    m.phase("saving", 0);
    m.phase("done", 1);
    const fractions = seen.map((p) => p.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(fractions[0]).toBeGreaterThan(0);
    const rounds = seen.filter((p) => p.phase === "keygen").map((p) => `${p.round}/${p.rounds}`);
    expect(rounds.slice(0, 4)).toEqual(["1/4", "2/4", "3/4", "4/4"]);
    expect(seen.find((p) => p.phase === "keygen")!.fraction).toBeGreaterThanOrEqual(0.5);
  });

  it("maps signing rounds into the signing phase", () => {
    const seen: ClientProgress[] = [];
    const m = progressMapper("sign", (p) => seen.push(p));
    m.engine({ phase: "sign", round: 10, rounds: 10, done: true, messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 });
    expect(seen[0]).toMatchObject({ phase: "signing", round: 10, rounds: 10 });
    expect(seen[0]!.fraction).toBeGreaterThan(0.9);
  });

  it("reports server parties waiting for a work slot, and when they stop", () => {
    const seen: ClientProgress[] = [];
    const m = progressMapper("keygen", (p) => seen.push(p));
    m.event(progressEvent("server-1", 1, 2)); // before any phase: nothing to report against
    expect(seen).toEqual([]);
    m.phase("joining", 0);
    m.engine({ phase: "keygen", round: 1, rounds: 4, done: false, messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 });
    const before = seen.length;
    expect(seen.at(-1)!.queued).toEqual({ position: 2, parties: ["server-1"] });
    m.event(progressEvent("server-2", 1, 3));
    expect(seen.at(-1)).toMatchObject({ phase: "keygen", round: 1, rounds: 4, queued: { position: 3, parties: ["server-1", "server-2"] } });
    expect(seen.at(-1)!.fraction).toBe(seen[before - 1]!.fraction);
    m.event(progressEvent("server-2", 1, 3)); // no change: no report
    expect(seen.length).toBe(before + 1);
    m.event(progressEvent("server-2", 2, 0)); // its turn came
    expect(seen.at(-1)!.queued).toEqual({ position: 2, parties: ["server-1"] });
    m.engine({ phase: "keygen", round: 2, rounds: 4, done: false, messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 });
    expect(seen.at(-1)).toMatchObject({ round: 2, queued: { position: 2 } }); // still waiting
    m.event(progressEvent("server-1", 1, 1)); // moved up
    expect(seen.at(-1)!.queued).toEqual({ position: 1, parties: ["server-1"] });
    m.event(create(SessionEventSchema, { event: { case: "completed", value: {} } }));
    expect(seen.at(-1)!.queued).toBeUndefined();
    m.phase("done", 1);
    expect(seen.at(-1)!.queued).toBeUndefined();
  });

  it("keeps a wait through saving, and ends it with the session, in a reshare too", () => {
    const seen: ReshareProgress[] = [];
    const m = reshareProgressMapper((p) => seen.push(p));
    m.phase("joining", 0);
    m.event(progressEvent("server-3", 0, 1)); // queued before its first round
    expect(seen.at(-1)).toMatchObject({ phase: "joining", queued: { position: 1, parties: ["server-3"] } });
    m.phase("saving", 0); // this party saves while server-3 still waits
    expect(seen.at(-1)).toMatchObject({ phase: "saving", queued: { position: 1, parties: ["server-3"] } });
    m.event(create(SessionEventSchema, { event: { case: "failed", value: { code: "x" } } }));
    expect(seen.at(-1)).toMatchObject({ phase: "saving" });
    expect(seen.at(-1)!.queued).toBeUndefined();
    const n = seen.length;
    m.event(create(SessionEventSchema, { event: { case: "completed", value: {} } })); // nothing waits: no report
    expect(seen.length).toBe(n);
    m.event(progressEvent("server-3", 2, 2));
    m.phase("done", 1);
    expect(seen.at(-1)).toMatchObject({ phase: "done" });
    expect(seen.at(-1)!.queued).toBeUndefined();
  });

  it("clamps out-of-range input", () => {
    const seen: ClientProgress[] = [];
    const m = progressMapper("keygen", (p) => seen.push(p));
    m.phase("preparams", 7);
    m.phase("preparams", -3);
    expect(seen.map((p) => p.fraction)).toEqual([0.45, 0.45]);
  });
});

describe("errors", () => {
  it("names every gRPC code in snake case", () => {
    expect(codeName(Code.PermissionDenied)).toBe("permission_denied");
    expect(codeName(Code.NotFound)).toBe("not_found");
    expect(codeName(Code.Unauthenticated)).toBe("unauthenticated");
    expect(codeName(Code.DeadlineExceeded)).toBe("deadline_exceeded");
    expect(codeName(Code.ResourceExhausted)).toBe("resource_exhausted");
    expect(codeName(999 as Code)).toBe("unknown");
  });

  it("keeps the status of a ConnectError", () => {
    const e = TsskitError.from(new ConnectError("token is for another session", Code.PermissionDenied));
    expect(e).toBeInstanceOf(RpcError);
    expect(e.code).toBe("permission_denied");
    expect((e as RpcError).rpcCode).toBe(Code.PermissionDenied);
    expect(e.message).toBe("token is for another session");
  });

  it("keeps a worker error's code and culprits", () => {
    const e = TsskitError.from({ name: "TsskitError", code: "protocol", message: "bad proof", culprits: ["server-2"] });
    expect(e.code).toBe("protocol");
    expect(e.culprits).toEqual(["server-2"]);
  });

  it("gives the storage's errors their own codes", async () => {
    const { WrongPasswordError, CorruptRecordError, BackupFormatError } = await import("../../src/backup.js");
    expect(TsskitError.from(new WrongPasswordError()).code).toBe("wrong_password");
    expect(TsskitError.from(new CorruptRecordError("damaged", "w1")).code).toBe("corrupt_record");
    expect(TsskitError.from(new BackupFormatError("not a backup")).code).toBe("invalid_backup");
  });

  it("turns aborts and anything else into codes", () => {
    const abort = new Error("stopped");
    abort.name = "AbortError";
    expect(TsskitError.from(abort).code).toBe("canceled");
    expect(TsskitError.from("weird").code).toBe("internal");
    const same = new TsskitError("x", "y");
    expect(TsskitError.from(same)).toBe(same);
  });
});

describe("overload refusals", () => {
  const refusal = (ms: number) =>
    new ConnectError("overloaded: a new keygen would finish in about 90 s", Code.ResourceExhausted, undefined, [
      { desc: OverloadedSchema, value: create(OverloadedSchema, { retryAfterMs: ms }) },
    ]);

  it("become OverloadedError with the server's retry time", () => {
    const e = TsskitError.from(refusal(3000));
    expect(e).toBeInstanceOf(OverloadedError);
    expect(e).toBeInstanceOf(RpcError);
    expect(e.code).toBe("overloaded");
    expect((e as OverloadedError).retryAfterMs).toBe(3000);
    // A quota refusal has the same gRPC code and no such detail.
    const quota = TsskitError.from(new ConnectError("resource_exhausted: quota", Code.ResourceExhausted));
    expect(quota).not.toBeInstanceOf(OverloadedError);
    expect(quota.code).toBe("resource_exhausted");
  });

  it("are retried with backoff and jitter when the policy allows", async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const waits: number[] = [];
      const p = retryOverloaded({ attempts: 4, maxDelayMs: 5000, onRetry: ({ delayMs }) => waits.push(delayMs) }, undefined, async () => {
        calls++;
        if (calls < 4) throw refusal(2000);
        return "signed";
      });
      await vi.runAllTimersAsync();
      expect(await p).toBe("signed");
      expect(calls).toBe(4);
      // 2 s, 4 s, then capped at 5 s; each times [0.5, 1.5).
      expect(waits[0]).toBeGreaterThanOrEqual(1000);
      expect(waits[0]).toBeLessThan(3000);
      expect(waits[1]).toBeGreaterThanOrEqual(2000);
      expect(waits[1]).toBeLessThan(6000);
      expect(waits[2]).toBeGreaterThanOrEqual(2500);
      expect(waits[2]).toBeLessThan(7500);
    } finally {
      vi.useRealTimers();
    }
  });

  it("are thrown when attempts run out, and other errors at once", async () => {
    let calls = 0;
    await expect(
      retryOverloaded({ attempts: 1 }, undefined, async () => {
        calls++;
        throw refusal(10);
      }),
    ).rejects.toMatchObject({ code: Code.ResourceExhausted }); // the call's own error, as without a policy
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      retryOverloaded({ attempts: 5 }, undefined, async () => {
        calls++;
        throw new ConnectError("no", Code.PermissionDenied);
      }),
    ).rejects.toBeInstanceOf(ConnectError);
    expect(calls).toBe(1);
  });

  it("stop waiting when the signal aborts", async () => {
    const ac = new AbortController();
    const p = retryOverloaded({ attempts: 3, onRetry: () => ac.abort() }, ac.signal, async () => {
      throw refusal(60_000);
    });
    await expect(p).rejects.toMatchObject({ code: "canceled" });
  });
});
