import type { Progress as EngineProgress } from "./worker-client.js";

export type Phase = "loading" | "preparams" | "joining" | "keygen" | "signing" | "saving" | "done";

/** What onProgress receives: a phase, rounds where there are rounds, and an overall fraction 0..1. */
export interface ClientProgress {
  phase: Phase;
  round?: number;
  rounds?: number;
  /** Overall completion of the whole call, 0..1, never decreasing. */
  fraction: number;
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
  const plan = kind === "keygen" ? keygenPlan : signPlan;
  let last = 0;
  const report = (phase: Phase, within: number, extra: { round?: number; rounds?: number } = {}) => {
    const [a, b] = plan[phase];
    const f = Math.min(1, Math.max(last, a + (b - a) * Math.min(1, Math.max(0, within))));
    last = f;
    emit?.({ phase, fraction: f, ...extra });
  };
  return {
    phase: report,
    engine(p: EngineProgress) {
      const phase: Phase = p.phase === "keygen" ? "keygen" : "signing";
      // Round k of m is under way: the rounds before it are done.
      report(phase, (p.round - 1) / p.rounds, { round: p.round, rounds: p.rounds });
    },
  };
}
