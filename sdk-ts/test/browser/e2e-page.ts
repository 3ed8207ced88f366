// The browser end of the e2e test: this page is ONE party. It makes its own
// pre-parameters on two workers in parallel (the primes go from worker to
// worker and the set stays in the keygen's worker), creates a 2-of-3 keygen with
// two native server parties through the coordinator (gRPC-Web), runs its
// seat in a worker with envelopes over the router (gRPC-Web), then signs
// with one server party. The Node side checks the results independently.
import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";

import { connectClients, generatePreParams, keygenSeat, signSeat, startTssWorkers } from "../../src/index.js";
import type { SessionEvent } from "../../src/gen/tsskit/v1/coordinator_pb.js";

interface Config {
  coordinatorUrl: string;
  routerUrl: string;
  /** A user token (create_wallet, sign, list_wallets), as an app gets from its backend. */
  userToken: string;
  trustRoot: string;
  digestHex: string;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
const status = (s: string) => {
  document.getElementById("status")!.textContent = s;
};

async function run(cfg: Config) {
  const t0 = performance.now();
  const clients = connectClients(cfg);
  const user = { headers: { authorization: `Bearer ${cfg.userToken}` } };
  // Loaded as an app would: tss-worker.js and tss.wasm checked against the
  // hashes this build pinned.
  const tss = await startTssWorkers({ wasmUrl: "/tss.wasm", workers: 2 });
  const workers = tss.workers;
  const version = tss.version;

  status("pre-parameters");
  const p0 = performance.now();
  let primes = 0;
  const preParams = await generatePreParams(workers, { onPrime: (n) => (primes = n) });
  await workers[0]!.validatePreParams(preParams);
  const preParamsMs = performance.now() - p0;

  // A unary call that must fail: its typed status has to reach the browser.
  let unaryCode = "";
  try {
    await clients.coordinator.getWallet({ walletId: "no-such-wallet" }, user);
  } catch (e) {
    unaryCode = ConnectError.from(e).code.toString();
  }
  let deniedCode = "";
  try {
    await clients.coordinator.createKeygenSession({ signersNeeded: 2, parties: 3 }, { headers: { authorization: "Bearer forged.token.x" } });
  } catch (e) {
    deniedCode = ConnectError.from(e).code.toString();
  }

  status("keygen");
  const partyId = "browser-" + crypto.randomUUID();
  const created = await clients.coordinator.createKeygenSession({ name: "e2e", signersNeeded: 2, parties: 3, clientPartyIds: [partyId] }, user);
  const events: string[] = [];
  let completedKey: Uint8Array = new Uint8Array();
  const onEvent = (e: SessionEvent) => {
    events.push(e.event.case ?? "");
    if (e.event.case === "completed") completedKey = e.event.value.publicKey;
  };
  const rounds: number[] = [];
  const k0 = performance.now();
  const trust = { roots: [cfg.trustRoot] };
  const kg = await keygenSeat(clients, workers[0]!, {
    sessionId: created.sessionId, partyId, token: created.tokens[0]!.token, trust, parties: created.parties, walletId: created.walletId,
    onEvent, onProgress: (p) => rounds.push(p.round),
  }, 2, preParams, { password: "e2e share password" });
  const keygenMs = performance.now() - k0;
  const wallet = await clients.coordinator.getWallet({ walletId: kg.walletId }, user);
  // A party token may not create sessions: PermissionDenied, typed.
  let partyDeniedCode = "";
  try {
    await clients.coordinator.createKeygenSession({ signersNeeded: 2, parties: 3 }, { headers: { authorization: `Bearer ${created.tokens[0]!.token}` } });
  } catch (e) {
    partyDeniedCode = ConnectError.from(e).code.toString();
  }

  status("sign");
  const server = wallet.wallet!.holders.find((h) => h.partyId !== partyId)!.partyId;
  const digest = unhex(cfg.digestHex);
  const signCreated = await clients.coordinator.createSignSession({ walletId: kg.walletId, digest, clientPartyIds: [partyId], serverPartyIds: [server] }, user);
  const s0 = performance.now();
  // The share comes back only as a backup; the signing worker opens it.
  const { handle } = await workers[1]!.openShare(kg.backup, "e2e share password");
  const sig = await signSeat(clients, workers[1]!, {
    sessionId: signCreated.sessionId, partyId, token: signCreated.tokens[0]!.token, trust, parties: signCreated.parties, walletId: kg.walletId,
  }, handle, digest);
  const signMs = performance.now() - s0;
  tss.dispose();
  status("done");
  return {
    version, primes, preParamsMs, keygenMs, signMs, totalMs: performance.now() - t0,
    unaryCode, deniedCode, partyDeniedCode, events, rounds,
    partyId, walletId: kg.walletId, address: kg.address,
    publicKey: hex(kg.publicKey), completedKey: hex(completedKey), storedKey: hex(wallet.wallet!.publicKey),
    holders: wallet.wallet!.holders.map((h) => h.partyId),
    signers: signCreated.parties,
    r: hex(sig.r), s: hex(sig.s), v: sig.v, der: hex(sig.der), shareBytes: kg.backup.length,
    backupIsCiphertext: !kg.backup.includes("save_data") && JSON.parse(kg.backup).format === "tsskit.share.backup",
    clientRequired: kg.info.clientRequired, holderKinds: kg.info.holders.map((h) => h.kind),
  };
}

// Benchmarks. They time the workers' searches; the primes and sets stay in
// the workers here too (a seeded search drops its prime), so nothing
// secret comes to this page even in a benchmark.

// benchPrimes: the safe primes of seeds 0..n-1 (public candidate
// streams: the same work in every run, and as the native seeded
// benchmark's), one after another in one worker; with naive the plain
// way (math/big, tss-lib style). Each: its time, candidates and tests.
async function benchPrimes(n: number, naive = false) {
  const tss = await startTssWorkers({ wasmUrl: "/tss.wasm", workers: 1 });
  const w = tss.workers[0]!;
  const out: { ms: number; candidates: number; tested: number }[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const c = await w.safePrimeSeeded(i, naive);
    out.push({ ms: performance.now() - t, ...c });
  }
  tss.dispose();
  return out;
}

// benchSeededPrimes: the safe primes of seeds 0..n-1 on `workers`
// workers, each taking the next seed when free: the same work for every
// worker count. The time to the last one, and each search's.
async function benchSeededPrimes(workers: number, n: number) {
  const tss = await startTssWorkers({ wasmUrl: "/tss.wasm", workers });
  const runs: { seed: number; worker: number; ms: number; candidates: number; tested: number }[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(tss.workers.map(async (w, worker) => {
    for (let seed = next++; seed < n; seed = next++) {
      const t = performance.now();
      const c = await w.safePrimeSeeded(seed);
      runs.push({ seed, worker, ms: performance.now() - t, ...c });
    }
  }));
  const ms = performance.now() - t0;
  tss.dispose();
  return { ms, runs };
}

// benchPreParams: full pre-params with our search on `workers` workers.
async function benchPreParams(workers: number, runs: number) {
  const tss = await startTssWorkers({ wasmUrl: "/tss.wasm", workers });
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const set = await generatePreParams(tss.workers);
    ms.push(performance.now() - t);
    await tss.workers[0]!.releasePreParams(set);
  }
  tss.dispose();
  return ms;
}

(window as any).runE2E = run;
(window as any).benchPreParams = benchPreParams;
(window as any).benchPrimes = benchPrimes;
(window as any).benchSeededPrimes = benchSeededPrimes;
status("ready");
void create;
