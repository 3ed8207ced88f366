import type { ClientProgress, Phase, ReshareProgress, ResharePhase } from "@tsskit/sdk";
import { useEffect, useState } from "react";

import { describeQueued } from "../lib/progress";

const keygenSteps: { phase: Phase; label: string }[] = [
  { phase: "loading", label: "Loading wasm" },
  { phase: "preparams", label: "Preparing parameters" },
  { phase: "joining", label: "Joining the server parties" },
  { phase: "keygen", label: "Generating the key together" },
  { phase: "saving", label: "Saving your encrypted share" },
];
const signSteps: { phase: Phase; label: string }[] = [
  { phase: "loading", label: "Unlocking your share" },
  { phase: "joining", label: "Joining the server parties" },
  { phase: "signing", label: "Signing together" },
];
// A refresh or change of policy (the SDK's refreshWallet / reshareWallet).
const reshareSteps: { phase: ResharePhase; label: string }[] = [
  { phase: "loading", label: "Unlocking your share" },
  { phase: "preparams", label: "Preparing parameters" },
  { phase: "joining", label: "Joining the server parties" },
  { phase: "resharing", label: "Making new shares together" },
  { phase: "saving", label: "Saving your new share" },
  { phase: "activating", label: "Confirming every holder saved theirs" },
];

export type ProgressKind = "keygen" | "sign" | "reshare";

/** The sentence for where a call is. */
export function describeProgress(kind: ProgressKind, p: ClientProgress | ReshareProgress | null): string {
  if (kind === "reshare") return describeReshare(p as ReshareProgress | null);
  if (!p) return kind === "keygen" ? "Starting…" : "Unlocking your share…";
  const rounds = p.round && p.rounds ? `round ${p.round} of ${p.rounds}` : "";
  switch (p.phase) {
    case "loading":
      return kind === "keygen" ? "Loading wasm…" : "Unlocking your share…";
    case "preparams":
      return "Preparing parameters (safe primes, in the background workers)…";
    case "joining":
      return "Joining the session with the server parties…";
    case "keygen":
      return rounds ? `Generating the key: ${rounds}` : "Generating the key…";
    case "signing":
      return rounds ? `Signing: ${rounds}` : "Signing…";
    case "saving":
      return "Saving your share, encrypted with your password…";
    case "done":
      return "Done.";
    default:
      return "Working…";
  }
}

function describeReshare(p: ReshareProgress | null): string {
  if (!p) return "Unlocking your share…";
  const rounds = p.round && p.rounds ? `round ${p.round} of ${p.rounds}` : "";
  switch (p.phase) {
    case "loading":
      return "Unlocking your share…";
    case "preparams":
      return "Preparing parameters (safe primes, in the background workers)…";
    case "joining":
      return "Joining the session with the server parties…";
    case "resharing":
      return rounds ? `Making new shares: ${rounds}` : "Making new shares…";
    case "saving":
      return "Saving your new share, encrypted with your password…";
    case "activating":
      return "Waiting for every holder to confirm it saved its new share…";
    case "done":
      return "Done.";
  }
}

export function ProgressPanel({ kind, progress, label }: { kind: ProgressKind; progress: ClientProgress | ReshareProgress | null; label: string }) {
  const steps: { phase: string; label: string }[] = kind === "keygen" ? keygenSteps : kind === "sign" ? signSteps : reshareSteps;
  const [started] = useState(() => Date.now());
  const [now, setNow] = useState(started);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, []);
  const fraction = progress?.fraction ?? 0;
  const phase = progress?.phase ?? "loading";
  const current = phase === "done" ? steps.length : Math.max(0, steps.findIndex((s) => s.phase === phase));
  const queued = describeQueued(progress?.queued);
  const text = describeProgress(kind, progress) + (queued ? " " + queued : "");
  return (
    <div className="progress-panel" data-testid="progress" data-phase={phase} data-queued={progress?.queued?.position ?? 0}>
      <ol className="steps">
        {steps.map((s, i) => {
          const state = i < current ? "done" : i === current ? "current" : "pending";
          return (
            <li key={s.phase} className={`step step-${state}`} aria-current={state === "current" ? "step" : undefined}>
              <span className="step-mark" aria-hidden="true">
                {state === "done" ? "✓" : i + 1}
              </span>
              <span>
                {s.label}
                {state === "current" && progress?.round && progress.rounds ? ` — round ${progress.round} of ${progress.rounds}` : ""}
                <span className="visually-hidden">{state === "done" ? " (done)" : state === "current" ? " (in progress)" : ""}</span>
              </span>
            </li>
          );
        })}
      </ol>
      <div className="progress-row">
        <progress max={1} value={fraction} aria-label={label} aria-valuetext={`${Math.round(fraction * 100)}%: ${text}`} />
        <span className="progress-pct">{Math.round(fraction * 100)}%</span>
      </div>
      <p className="progress-text">
        <span aria-live="polite" data-testid="progress-text">{text}</span>{" "}
        <span className="muted">({Math.floor((now - started) / 1000)} s)</span>
      </p>
    </div>
  );
}
