import type { SessionEvent } from "./gen/tsskit/v1/coordinator_pb.js";
import type { Progress as EngineProgress } from "./worker-client.js";

/**
 * Server parties of the session waiting for a work slot (docs/scaling.md):
 * the session is queued, not stalled, and goes on when their turn comes.
 */
export interface Queued {
  /** The furthest place among them in their parties' queues when they began to wait (1: next). */
  position: number;
  /** The server parties that wait, by party id. */
  parties: string[];
}

export type Phase = "loading" | "preparams" | "joining" | "keygen" | "signing" | "saving" | "done";

/** What onProgress receives: a phase, rounds where there are rounds, and an overall fraction 0..1. */
export interface ClientProgress {
  phase: Phase;
  round?: number;
  rounds?: number;
  /** Overall completion of the whole call, 0..1, never decreasing. */
  fraction: number;
  /** Present while server parties of the session wait for a work slot. */
  queued?: Queued;
}

// Share of the whole createWallet call each phase ends at. Pre-params
// dominate a cold browser keygen; keygen rounds are roughly even.
const keygenPlan: Record<Phase, [number, number]> = {
  loading: [0, 0.05],
  preparams: [0.05, 0.45],
  joining: [0.45, 0.5],
  keygen: [0.5, 0.95],
  saving: [0.95, 1],
  signing: [0, 1],
  done: [1, 1],
};
const signPlan: Record<Phase, [number, number]> = {
  loading: [0, 0.05],
  preparams: [0.05, 0.05],
  joining: [0.05, 0.15],
  signing: [0.15, 1],
  keygen: [0.15, 1],
  saving: [1, 1],
  done: [1, 1],
};

/** progressMapper turns phase steps into ClientProgress with a monotonic fraction. */
export function progressMapper(kind: "keygen" | "sign", emit?: (p: ClientProgress) => void) {
  return mapper<Phase>(kind === "keygen" ? keygenPlan : signPlan, (p) => (p.phase === "keygen" ? "keygen" : "signing"), emit);
}

/**
 * The phases of a refresh or reshare (refreshWallet, reshareWallet): the
 * share is unlocked ("loading"), this browser's pre-parameters made or
 * taken from the pool ("preparams": it is a member of the new committee),
 * the session joined, the protocol's rounds run ("resharing"), the new
 * share stored as pending ("saving"), and, once the coordinator reports
 * every holder's stored acknowledgement and they verify, the new share
 * made the wallet's ("activating").
 */
export type ResharePhase = "loading" | "preparams" | "joining" | "resharing" | "saving" | "activating" | "done";

/** What a refresh's or reshare's onProgress receives. */
export interface ReshareProgress {
  phase: ResharePhase;
  round?: number;
  rounds?: number;
  /** Overall completion of the whole call, 0..1, never decreasing. */
  fraction: number;
  /** Present while server parties of the session wait for a work slot. */
  queued?: Queued;
}

const resharePlan: Record<ResharePhase, [number, number]> = {
  loading: [0, 0.05],
  preparams: [0.05, 0.4],
  joining: [0.4, 0.45],
  resharing: [0.45, 0.9],
  saving: [0.9, 0.95],
  activating: [0.95, 1],
  done: [1, 1],
};

/** progressMapper for a refresh or reshare. */
export function reshareProgressMapper(emit?: (p: ReshareProgress) => void) {
  return mapper<ResharePhase>(resharePlan, () => "resharing", emit);
}

function mapper<P extends string>(
  plan: Record<P, [number, number]>,
  enginePhase: (p: EngineProgress) => P,
  emit?: (p: { phase: P; fraction: number; round?: number; rounds?: number; queued?: Queued }) => void,
) {
  let last = 0;
  let at: { phase: P; extra: { round?: number; rounds?: number } } | null = null;
  // Each waiting server party's place in its queue, from the session's events.
  const waiting = new Map<string, number>();
  const queued = (): Queued | undefined =>
    waiting.size === 0 ? undefined : { position: Math.max(...waiting.values()), parties: [...waiting.keys()].sort() };
  const send = (phase: P, extra: { round?: number; rounds?: number }) => {
    const q = queued();
    emit?.({ phase, fraction: last, ...extra, ...(q ? { queued: q } : {}) });
  };
  const report = (phase: P, within: number, extra: { round?: number; rounds?: number } = {}) => {
    const [a, b] = plan[phase];
    const f = Math.min(1, Math.max(last, a + (b - a) * Math.min(1, Math.max(0, within))));
    last = f;
    // The queue is the session's: it ends with the session (a party
    // still waiting while this one saves is news: the call waits for it).
    if (phase === ("done" as P)) waiting.clear();
    at = { phase, extra };
    send(phase, extra);
  };
  return {
    phase: report,
    engine(p: EngineProgress) {
      // Round k of m is under way: the rounds before it are done.
      report(enginePhase(p), (p.round - 1) / p.rounds, { round: p.round, rounds: p.rounds });
    },
    /**
     * A session event: a server party's progress says whether it waits
     * for a work slot; a change is reported at the current phase and
     * fraction. The session's end ends every wait.
     */
    event(ev: SessionEvent) {
      let changed = false;
      switch (ev.event.case) {
        case "progress": {
          const { partyId, queued: pos } = ev.event.value;
          if (pos > 0 && waiting.get(partyId) !== pos) {
            waiting.set(partyId, pos);
            changed = true;
          } else if (pos === 0 && waiting.delete(partyId)) {
            changed = true;
          }
          break;
        }
        case "completed":
        case "failed":
          changed = waiting.size > 0;
          waiting.clear();
          break;
      }
      if (changed && at) send(at.phase, at.extra);
    },
  };
}
