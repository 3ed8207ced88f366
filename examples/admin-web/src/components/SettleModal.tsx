import type { SettledRun, SettleStep, StoredRun } from "@tsskit/sdk";
import { useEffect, useId, useRef, useState } from "react";

import { explain } from "../lib/errors";
import type { CoManagedWallet, CoManagedWalletService } from "../services/coManagedWalletService";
import { CopyButton } from "./CopyButton";
import { ErrorBox, Field } from "./Field";
import { Modal } from "./Modal";
import { EngineHint } from "./ModalParts";
import { downloadBlob } from "./download";

const stateWords: Record<StoredRun["state"], string> = {
  joined: "joined, no share stored",
  stored: "share stored, not active",
  frozen: "frozen here",
  pinned: "pinned here",
  abandoned: "dropped (abandoned) here",
  activated: "active here",
};

const steps: Array<{ step: SettleStep; label: string; hint: string }> = [
  { step: "freeze", label: "Freeze", hint: "This browser never activates the run's share. Gives its frozen-run statement for the other holders' drop." },
  { step: "drop", label: "Drop", hint: "Given every other holder's frozen-run statement (the silent ones aside), deletes this browser's share of the run." },
  { step: "pin", label: "Pin", hint: "When the run is active at another holder: this browser never drops it, only thaws it. Gives its pinned-run statement." },
  { step: "thaw", label: "Thaw", hint: "Given every other holder's activated-run or pinned-run statement, undoes the freeze; Finish the refresh then activates it." },
];

const done: Record<SettledRun["kind"], string> = {
  frozen: "Frozen here. Hand this statement to the operator: every other holder that is not silent drops the run with it.",
  pinned: "Pinned here: this browser never drops the run, only thaws it. Hand this statement to the holders that thaw it.",
  activated:
    "This run is this browser's active share already: it is complete here, and nothing was frozen. Hand this statement to the holders that froze it: they pin and thaw it.",
  abandoned: "Dropped here: this browser's share of the run is deleted, and its next refresh says so to the other holders. Hand this statement to the operator.",
  thawed: "Thawed here. Once the coordinator records the run completed, Finish the refresh (on the wallet's Refresh shares) activates its share.",
};

/**
 * Settling a refresh or change of policy in limbo at this browser (the
 * SDK's settleRun; docs/lifecycle.md, settling a run in limbo): every
 * holder may have stored the run's share, one stays silent, and the
 * others refuse every later refresh of that epoch until the operator
 * settles it with each holder that is not silent — freeze, then drop on
 * the others' statements (or pin and thaw, if it is active somewhere).
 * This browser is one of those holders: the modal lists its recorded
 * runs, takes the step, the silent holders and the others' statements,
 * and shows the statement this browser signs, to copy or download.
 */
export function SettleModal(props: { service: CoManagedWalletService; wallet: CoManagedWallet; onClose(): void }) {
  const { service, wallet } = props;
  const label = wallet.name || "Imported wallet " + wallet.walletId.slice(0, 8);
  const [runs, setRuns] = useState<StoredRun[] | null>(null);
  const [sessionId, setSessionId] = useState("");
  const [step, setStep] = useState<SettleStep>("freeze");
  const [silent, setSilent] = useState("");
  const [statements, setStatements] = useState("");
  const [password, setPassword] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [working, setWorking] = useState(false);
  const [error, setError] = useState("");
  const [result, setResult] = useState<SettledRun | null>(null);
  const resultRef = useRef<HTMLHeadingElement>(null);
  const ids = { statements: useId(), runs: useId() };

  const load = async () => {
    const rs = await service.reshareRuns(wallet.walletId).catch(() => []);
    setRuns(rs);
    // The run most likely in limbo: the newest one above the wallet's epoch that stored, or was settled, here.
    setSessionId((cur) => cur || ([...rs].reverse().find((r) => r.epoch > (wallet.epoch ?? 0) && r.state !== "joined") ?? rs[rs.length - 1])?.sessionId || "");
  };
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(() => {
    if (result) resultRef.current?.focus();
  }, [result]);

  const needsWords = step === "drop" || step === "thaw";
  const errors = {
    run: sessionId ? "" : "Choose the run to settle.",
    password: password === "" ? "Enter the wallet's password." : "",
    // A drop of a run dropped here already only prints its statement again.
    statements:
      step === "drop" && statements.trim() === "" && runs?.find((r) => r.sessionId === sessionId)?.state !== "abandoned"
        ? "Paste the frozen-run statement of every other holder that is not silent."
        : "",
  };
  const valid = !errors.run && !errors.password && !errors.statements;
  const engineReady = service.engine.status === "ready";

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (!valid || !engineReady || working) return;
    setWorking(true);
    setError("");
    try {
      const r = await service.settleRun({
        walletId: wallet.walletId, sessionId, step, password,
        silent: needsWords ? silent.split(/[\s,]+/).filter(Boolean) : [],
        statements: needsWords ? statements.split(/\s+/).filter(Boolean) : [],
      });
      setResult(r);
      setPassword("");
      await load();
    } catch (err) {
      setError(explain(err));
    } finally {
      setWorking(false);
    }
  };

  const close = () => {
    if (working) return;
    setPassword("");
    props.onClose();
  };

  const download = () => {
    if (!result?.statement) return;
    downloadBlob(new Blob([result.statement + "\n"], { type: "text/plain" }), `tsskit-${result.kind}-run-${result.sessionId.slice(0, 8)}-${wallet.partyId}.hex`);
  };

  return (
    <Modal title={result ? "Run settled here" : `Settle a stuck run of ${label}`} closable={!working} onClose={close} wide>
      {!result && (
        <form onSubmit={submit} noValidate data-testid="settle-form">
          <div className="explain">
            <p>
              A refresh or change of policy that every holder may have stored, but that one holder never finished (a server party
              that is gone, or keeps silent), stops every later refresh of the wallet until the operator of the tsskit services{" "}
              <strong>settles</strong> it. The wallet signs as before meanwhile.
            </p>
            <p>
              The operator names the holders that stay silent. Every other holder — this browser among them — first{" "}
              <strong>freezes</strong> the run and hands its statement to the others, then <strong>drops</strong> it given theirs.
              If the run turns out to be active at some holder, the others <strong>pin</strong> and <strong>thaw</strong> it instead.
              Do each step only when the operator asks for it.
            </p>
          </div>
          {runs === null ? (
            <p className="muted">Reading this browser's runs…</p>
          ) : runs.length === 0 ? (
            <p data-testid="settle-no-runs">This browser has recorded no refresh or change of policy of this wallet: there is nothing to settle here.</p>
          ) : (
            <fieldset className="radios" role="radiogroup" aria-labelledby={ids.runs}>
              <legend id={ids.runs}>Run (this browser's record)</legend>
              {runs.map((r) => (
                <label key={r.sessionId} className="radio">
                  <input type="radio" name="run" checked={sessionId === r.sessionId} onChange={() => setSessionId(r.sessionId)} data-testid={`settle-run-${r.sessionId}`} data-state={r.state} />
                  <span>
                    Epoch {r.epoch} · session <code className="mono">{r.sessionId}</code> · {stateWords[r.state]}
                    {r.pinned && r.state !== "pinned" ? " (pinned before)" : ""}
                  </span>
                </label>
              ))}
            </fieldset>
          )}
          <fieldset className="radios" role="radiogroup" aria-label="Step">
            <legend>Step</legend>
            {steps.map((s) => (
              <label key={s.step} className="radio">
                <input
                  type="radio"
                  name="settle-step"
                  checked={step === s.step}
                  onChange={() => {
                    setStep(s.step);
                    setError("");
                  }}
                  data-testid={`settle-step-${s.step}`}
                />
                <span>
                  <strong>{s.label}</strong>: {s.hint}
                </span>
              </label>
            ))}
          </fieldset>
          {needsWords && (
            <>
              <Field
                label="Holders that stay silent"
                value={silent}
                onChange={setSilent}
                placeholder="server-3"
                hint={
                  step === "drop"
                    ? "Party ids, comma-separated, as the operator names them: fewer than the run needs to sign."
                    : "Party ids of holders that never drop the run (a lost device, a holder that is gone), as the operator names them."
                }
                testId="settle-silent"
              />
              <div className="field">
                <label htmlFor={ids.statements}>The other holders' statements</label>
                <textarea
                  id={ids.statements}
                  rows={4}
                  className="mono"
                  value={statements}
                  onChange={(e) => setStatements(e.target.value)}
                  spellCheck={false}
                  aria-describedby={`${ids.statements}-hint${submitted && errors.statements ? ` ${ids.statements}-err` : ""}`}
                  aria-invalid={submitted && errors.statements ? true : undefined}
                  data-testid="settle-statements"
                />
                <p className="hint" id={`${ids.statements}-hint`}>
                  One per line, the hex each holder's step printed (<code>tsskit settle</code> on a server party, this page in another
                  browser). {step === "drop"
                    ? "Frozen-run statements (and, if this browser held no share of the epoch before, the abandoned-run statement of a holder that dropped already)."
                    : "Activated-run or pinned-run statements."}
                </p>
                {submitted && errors.statements && (
                  <p className="field-error" id={`${ids.statements}-err`}>
                    {errors.statements}
                  </p>
                )}
              </div>
            </>
          )}
          <Field
            label="Password of this browser's share"
            type="password"
            value={password}
            onChange={setPassword}
            required
            autoComplete="current-password"
            error={submitted ? errors.password : ""}
            hint="Statements are signed with this browser's identity key, kept in the share."
            testId="settle-password"
          />
          {submitted && errors.run && <p className="field-error">{errors.run}</p>}
          {error && <ErrorBox message={error} testId="settle-error" />}
          <EngineHint status={service.engine.status} />
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close}>
              Close
            </button>
            <button type="submit" className="primary" disabled={!engineReady || working || !runs?.length} data-testid="settle-submit">
              {working ? "Working…" : `${steps.find((s) => s.step === step)!.label} the run`}
            </button>
          </div>
        </form>
      )}
      {result && (
        <div data-testid="settle-done" data-kind={result.kind}>
          <h3 ref={resultRef} tabIndex={-1} className="success-title">
            <span aria-hidden="true">✓ </span>
            Run {result.sessionId.slice(0, 8)}… (epoch {result.epoch}): {result.kind}
          </h3>
          <p>{done[result.kind]}</p>
          {result.statement && (
            <div className="field">
              <label htmlFor={ids.statements + "-out"}>
                This browser's {result.kind}-run statement
              </label>
              <textarea id={ids.statements + "-out"} rows={3} className="mono" readOnly value={result.statement} data-testid="settle-statement" />
              <div className="actions">
                <CopyButton value={result.statement} label="statement" />
                <button type="button" className="secondary" onClick={download} data-testid="settle-download">
                  Download statement
                </button>
              </div>
            </div>
          )}
          <div className="modal-actions">
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setResult(null);
                setSubmitted(false);
                setStatements("");
              }}
              data-testid="settle-another"
            >
              Another step
            </button>
            <button type="button" className="primary" onClick={close} data-testid="settle-close">
              Done
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}
