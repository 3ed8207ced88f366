import type { Wallet } from "@tsskit/sdk";
import { useEffect, useId, useRef, useState } from "react";

import { explain, isCanceled } from "../lib/errors";
import { checkPolicy, describePolicy, partyChoices, signerChoices } from "../lib/policy";
import type { CoManagedWallet, CoManagedWalletService } from "../services/coManagedWalletService";
import { CopyButton } from "./CopyButton";
import { ErrorBox, Field } from "./Field";
import { Modal } from "./Modal";
import { BackupPrompt, EngineHint } from "./ModalParts";
import { ProgressPanel } from "./ProgressPanel";
import { downloadBlob } from "./download";

/** refresh: new shares, same policy. policy: new shares with another threshold or number of parties. */
export type LifecycleMode = "refresh" | "policy";

type Step = "form" | "running" | "canceling" | "done" | "failed";

// Once this browser has stored its new share and reported it, the
// coordinator may be activating the new epoch: the SDK no longer stops
// the call then, so Cancel is off from these phases on.
const pastCancel = new Set(["saving", "activating", "done"]);

/**
 * Refresh shares or change the policy of a co-managed wallet: what it
 * does, the password, the SDK's refreshWallet / reshareWallet with its
 * phases, and at the end the new epoch and the prompt to download a new
 * backup (the old one no longer signs).
 */
export function LifecycleModal(props: {
  service: CoManagedWalletService;
  wallet: CoManagedWallet;
  mode: LifecycleMode;
  onClose(): void;
  /** The refresh or change of policy completed: w has the new epoch (and policy). */
  onDone(w: Wallet): void;
  /** It was canceled before it changed anything. */
  onCanceled(): void;
}) {
  const { service, mode } = props;
  // The wallet as it was when the modal opened: the list changes under it at the end.
  const [wallet] = useState(props.wallet);
  const label = wallet.name || "Imported wallet " + wallet.walletId.slice(0, 8);
  const holders = wallet.parties.length;
  const epoch = wallet.epoch ?? 0;
  const [step, setStep] = useState<Step>("form");
  const [threshold, setThreshold] = useState(wallet.threshold);
  const [parties, setParties] = useState(holders);
  const [password, setPassword] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [result, setResult] = useState<Wallet | null>(null);
  const [lateCancel, setLateCancel] = useState(false);
  // kept: this browser stored and reported its new share before the failure, and keeps it aside (pending).
  const [failure, setFailure] = useState<{ text: string; code: string; kept: boolean } | null>(null);
  const [finishing, setFinishing] = useState(false);
  const [downloaded, setDownloaded] = useState("");
  const [downloadError, setDownloadError] = useState("");
  const [busyNote, setBusyNote] = useState("");
  const abortRef = useRef<AbortController | null>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const resultRef = useRef<HTMLHeadingElement>(null);
  const failRef = useRef<HTMLButtonElement>(null);
  const ids = { threshold: useId(), parties: useId(), policyHint: useId(), policyError: useId(), cancelHint: useId() };

  const progress = step === "running" || step === "canceling" ? service.lifecycle.progress : null;
  const committed = progress !== null && pastCancel.has(progress.phase);

  useEffect(() => {
    if (step === "running") cancelRef.current?.focus();
    if (step === "done") resultRef.current?.focus();
    if (step === "failed") failRef.current?.focus();
  }, [step]);

  // Closing the page mid-refresh: ask first.
  const running = step === "running" || step === "canceling";
  useEffect(() => {
    if (!running) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [running]);

  const unchanged = mode === "policy" && threshold === wallet.threshold && parties === holders;
  const errors = {
    policy:
      mode !== "policy"
        ? ""
        : checkPolicy(threshold, parties) ||
          (unchanged ? `${threshold}-of-${parties} is the wallet's policy now. Choose another, or use Refresh shares to keep it with new shares.` : ""),
    password: password === "" ? "Enter the wallet's password." : "",
  };
  const valid = !errors.policy && !errors.password;
  const engineReady = service.engine.status === "ready";
  const what = mode === "refresh" ? "refresh" : "change of policy";

  const start = async (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (!valid || !engineReady) return;
    const ac = new AbortController();
    abortRef.current = ac;
    setBusyNote("");
    setLateCancel(false);
    setStep("running");
    const onBusy = (ms: number) => setBusyNote(`Busy — retrying in ${Math.ceil(ms / 1000)} s`);
    try {
      const w =
        mode === "refresh"
          ? await service.refreshWallet({ walletId: wallet.walletId, password, signal: ac.signal, onBusy })
          : await service.changePolicy({ walletId: wallet.walletId, password, threshold, parties, signal: ac.signal, onBusy });
      setResult(w);
      setLateCancel(ac.signal.aborted);
      setStep("done");
      props.onDone(w);
    } catch (err) {
      if (ac.signal.aborted || isCanceled(err)) {
        setPassword("");
        props.onCanceled();
        return;
      }
      const code = (err as { code?: unknown } | null)?.code;
      const kept = (await service.pendingShares(wallet.walletId).catch(() => [])).length > 0;
      setFailure({ text: explain(err, "reshare"), code: typeof code === "string" ? code : "", kept });
      setStep("failed");
    } finally {
      abortRef.current = null;
    }
  };

  // The end this browser missed, from the coordinator's record of the
  // session; the SDK checks every holder's stored receipt itself.
  const finish = async () => {
    setFinishing(true);
    try {
      const w = await service.resumeReshare({ walletId: wallet.walletId, password });
      setResult(w);
      setStep("done");
      props.onDone(w);
    } catch (err) {
      const still = (err as { code?: unknown } | null)?.code === "unavailable";
      setFailure(
        (f) => f && { ...f, text: still ? "The server parties are still finishing their part. Try again in a moment." : explain(err, "reshare") },
      );
    } finally {
      setFinishing(false);
    }
  };

  // Cancel keeps the modal open until the SDK has stopped: before the new
  // share is stored and reported nothing changes; if the call was already
  // past that point it completes, and the backup prompt still matters.
  const cancel = () => {
    if (abortRef.current) {
      setStep("canceling");
      abortRef.current.abort();
    } else {
      close();
    }
  };

  const download = async () => {
    if (!result) return;
    setDownloadError("");
    try {
      const { blob, fileName } = await service.exportBackup(result.walletId, password);
      downloadBlob(blob, fileName);
      setDownloaded(fileName);
    } catch (err) {
      setDownloadError(explain(err));
    }
  };

  const close = () => {
    if (running) return;
    setPassword("");
    props.onClose();
  };

  const title =
    step === "done" ? (mode === "refresh" ? "Shares refreshed" : "Policy changed") : mode === "refresh" ? `Refresh the shares of ${label}` : `Change the policy of ${label}`;

  return (
    <Modal title={title} closable={!running} onClose={close} wide>
      {step === "form" && (
        <form onSubmit={start} noValidate data-testid="lifecycle-form" data-mode={mode}>
          {mode === "refresh" ? (
            <div className="explain">
              <p>A refresh replaces every share of this wallet with a new one:</p>
              <ul>
                <li>
                  The wallet keeps its <strong>address and key</strong> (and every derived address): nothing changes for whoever pays
                  it or checks its signatures.
                </li>
                <li>
                  <strong>Every holder gets a new share</strong>: this browser and the {holders - 1} server{" "}
                  {holders - 1 === 1 ? "party" : "parties"}. Old shares no longer sign together with new ones, so a share taken
                  before the refresh is worth nothing to whoever took it.
                </li>
                <li>
                  <strong>Backups made before stop working.</strong> Download a new backup when the refresh is done.
                </li>
              </ul>
              <p className="muted small">
                Policy {wallet.threshold}-of-{holders}, unchanged. Epoch {epoch} now; epoch {epoch + 1} after the refresh.
              </p>
            </div>
          ) : (
            <>
              <div className="explain">
                <p>
                  A change of policy hands the wallet's key to a new set of holders, with a new number of signers needed. The
                  wallet keeps its <strong>address and key</strong>; <strong>every holder gets a new share</strong>, server parties
                  are added from the pool or dropped, and <strong>backups made before stop working</strong>: download a new backup
                  when it is done.
                </p>
                <p className="muted small">
                  Policy {wallet.threshold}-of-{holders} now, epoch {epoch}.
                </p>
              </div>
              <fieldset className="policy">
                <legend>New policy</legend>
                <div className="policy-row">
                  <div className="field">
                    <label htmlFor={ids.threshold}>Signers needed</label>
                    <select
                      id={ids.threshold}
                      value={threshold}
                      onChange={(e) => setThreshold(Number(e.target.value))}
                      aria-describedby={`${ids.policyHint}${submitted && errors.policy ? " " + ids.policyError : ""}`}
                      aria-invalid={submitted && errors.policy ? true : undefined}
                      data-autofocus=""
                      data-testid="new-threshold"
                    >
                      {signerChoices(parties).map((n) => (
                        <option key={n} value={n}>
                          {n}
                        </option>
                      ))}
                    </select>
                  </div>
                  <span className="of" aria-hidden="true">
                    of
                  </span>
                  <div className="field">
                    <label htmlFor={ids.parties}>Parties in all</label>
                    <select
                      id={ids.parties}
                      value={parties}
                      onChange={(e) => {
                        const n = Number(e.target.value);
                        setParties(n);
                        setThreshold((t) => Math.min(t, n));
                      }}
                      aria-describedby={`${ids.policyHint}${submitted && errors.policy ? " " + ids.policyError : ""}`}
                      aria-invalid={submitted && errors.policy ? true : undefined}
                      data-testid="new-parties"
                    >
                      {partyChoices(holders).map((n) => (
                        <option key={n} value={n}>
                          {n}
                        </option>
                      ))}
                    </select>
                  </div>
                </div>
                <p className="hint" id={ids.policyHint}>
                  {describePolicy(threshold, parties)} Every holder but this browser is a server party, and each must be online now.
                </p>
                {submitted && errors.policy && (
                  <p className="field-error" id={ids.policyError} data-testid="policy-error">
                    {errors.policy}
                  </p>
                )}
              </fieldset>
            </>
          )}
          <Field
            label="Password of this browser's share"
            type="password"
            value={password}
            onChange={setPassword}
            required
            autoFocus={mode === "refresh"}
            autoComplete="current-password"
            error={submitted ? errors.password : ""}
            hint="The new share is saved under the same password."
            testId="lifecycle-password"
          />
          <EngineHint status={service.engine.status} />
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={!engineReady} data-testid="lifecycle-submit">
              {mode === "refresh" ? "Refresh shares" : "Change policy"}
            </button>
          </div>
        </form>
      )}

      {running && (
        <div data-testid="lifecycle-running">
          <p>
            {mode === "refresh" ? (
              <>
                Refreshing the shares of <strong>{label}</strong> ({wallet.threshold}-of-{holders}) with its {holders - 1} server{" "}
                {holders - 1 === 1 ? "party" : "parties"}.
              </>
            ) : (
              <>
                Changing the policy of <strong>{label}</strong> from {wallet.threshold}-of-{holders} to {threshold}-of-{parties}.
              </>
            )}{" "}
            This takes about half a minute; the page stays usable.
          </p>
          {busyNote && (
            <p role="status" data-testid="busy-note">
              {busyNote}
            </p>
          )}
          <ProgressPanel kind="reshare" progress={progress} label={mode === "refresh" ? "Refresh progress" : "Change of policy progress"} />
          <p className="hint" id={ids.cancelHint} aria-live="polite">
            {step === "canceling"
              ? "Canceling… the current step finishes first. Nothing changes for the wallet."
              : committed
                ? `Your new share is saved and reported: the ${what} now runs to its end and can no longer be canceled.`
                : "Cancel stops it and leaves the wallet as it was."}
          </p>
          <div className="modal-actions">
            <button
              ref={cancelRef}
              type="button"
              className="secondary"
              onClick={cancel}
              disabled={step === "canceling" || committed}
              aria-describedby={ids.cancelHint}
              data-testid="lifecycle-cancel"
            >
              {step === "canceling" ? "Canceling…" : "Cancel"}
            </button>
          </div>
        </div>
      )}

      {step === "done" && result && (
        <div
          data-testid="lifecycle-done"
          data-epoch={result.epoch}
          data-policy={`${result.threshold}-of-${result.parties}`}
          data-address={result.address}
          data-public-key={result.publicKey}
        >
          <h3 ref={resultRef} tabIndex={-1} className="success-title">
            <span aria-hidden="true">✓ </span>
            {mode === "refresh" ? `${label} has new shares` : `${label} is now ${result.threshold}-of-${result.parties}`}
          </h3>
          {lateCancel && (
            <p role="status">The {what} was already past the point where it can be stopped, so it completed.</p>
          )}
          <dl className="facts stacked">
            <div>
              <dt>Address</dt>
              <dd className="with-copy">
                <code className="mono">{result.address}</code>
                <CopyButton value={result.address} label="address" />
                <span className="muted small"> (unchanged)</span>
              </dd>
            </div>
            <div>
              <dt>Policy</dt>
              <dd data-testid="lifecycle-policy">
                {result.threshold}-of-{result.parties}
              </dd>
            </div>
            <div>
              <dt>Epoch</dt>
              <dd data-testid="lifecycle-epoch">
                {result.epoch} <span className="muted small">(was {epoch})</span>
              </dd>
            </div>
          </dl>
          <p>Every holder saved its new share; this browser's is saved here, encrypted with your password.</p>
          <BackupPrompt label="Download the new backup" onDownload={download} downloaded={downloaded} error={downloadError}>
            <strong>Download the new backup now.</strong> Backups made before this {what} no longer sign: if this browser's data
            is cleared, only a backup of epoch {result.epoch} and your password get this share back. Delete the old backup files.
          </BackupPrompt>
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close} data-testid="lifecycle-close">
              Done
            </button>
          </div>
        </div>
      )}

      {step === "failed" && failure && (
        <div>
          <ErrorBox message={failure.text} testId="lifecycle-error" />
          {/* Said only where it is true: a stale share does not sign, and an unconfirmed outcome is explained above. */}
          {failure.kept ? (
            <div className="callout" data-testid="lifecycle-kept">
              <p>
                This browser stored its new share before the {what} broke off, and keeps it aside, unused; its current share is
                unchanged. If the server parties finished their part, <strong>Finish the {what}</strong> checks that every holder
                stored its new share (each signed a receipt the coordinator cannot make) and then makes it this browser's share.
              </p>
              <button type="button" className="primary" onClick={() => void finish()} disabled={finishing} data-testid="lifecycle-finish">
                {finishing ? "Finishing…" : `Finish the ${what}`}
              </button>
            </div>
          ) : (
            !["stale_epoch", "reshare_unconfirmed", "verify"].includes(failure.code) && (
              <p>The wallet was not changed: this browser keeps the share it had, and signs with it as before.</p>
            )
          )}
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close}>
              Close
            </button>
            <button
              ref={failRef}
              type="button"
              className="primary"
              onClick={() => {
                setFailure(null);
                setSubmitted(false);
                setStep("form");
              }}
            >
              Try again
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}
