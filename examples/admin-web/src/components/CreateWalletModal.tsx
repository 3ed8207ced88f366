import type { ClientProgress, CreatedWallet } from "@tsskit/sdk";
import { useEffect, useId, useRef, useState } from "react";

import { explain, isCanceled } from "../lib/errors";
import { passwordStrength } from "../lib/password";
import { describePolicy, partyChoices, recoveryRefusal, signerChoices } from "../lib/policy";
import type { CoManagedWalletService } from "../services/coManagedWalletService";
import { CopyButton } from "./CopyButton";
import { ErrorBox, Field } from "./Field";
import { Modal } from "./Modal";
import { BackupPrompt, EngineHint } from "./ModalParts";
import { ProgressPanel } from "./ProgressPanel";
import { RecoveryCodeSheet } from "./RecoveryCodeSheet";
import { downloadBlob } from "./download";

type Step = "form" | "running" | "canceling" | "done" | "failed";

export function CreateWalletModal(props: {
  service: CoManagedWalletService;
  /** The server parties accept the app backend's recovery approvals: offered, and on by default. */
  recoveryBackend: boolean;
  onClose(): void;
  /** Cancel was pressed during a keygen: the modal should close; the keygen stops after its current step. */
  onCancelRequested(): void;
  /** The canceled keygen has stopped, and nothing was kept. */
  onCanceled(): void;
  /** lateCancel: the keygen completed although Cancel was pressed (the modal is gone then). */
  onCreated(w: CreatedWallet, lateCancel: boolean): void;
}) {
  const { service } = props;
  const [step, setStep] = useState<Step>("form");
  const [name, setName] = useState("");
  const [threshold, setThreshold] = useState(2);
  const [parties, setParties] = useState(3);
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [kit, setKit] = useState(true);
  // Off unless chosen: with it, whoever holds the backend's key (and a token of this user) can recover the wallet.
  const [backend, setBackend] = useState(false);
  const [wallet, setWallet] = useState<CreatedWallet | null>(null);
  // The recovery code is shown once: the modal stays until the user says it is written down.
  const [codeKept, setCodeKept] = useState(false);
  const [failure, setFailure] = useState("");
  const [downloaded, setDownloaded] = useState("");
  const [downloadError, setDownloadError] = useState("");
  const [progress, setProgress] = useState<ClientProgress | null>(null);
  // "Busy — retrying in N s" while the server parties refuse for overload.
  const [busyNote, setBusyNote] = useState("");
  const abortRef = useRef<AbortController | null>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const resultRef = useRef<HTMLHeadingElement>(null);
  const failRef = useRef<HTMLButtonElement>(null);
  const ids = { threshold: useId(), parties: useId(), policyHint: useId(), recoveryHint: useId() };

  // The engine's progress belongs to this keygen while it runs.
  useEffect(() => {
    if (step === "running" || step === "canceling") setProgress(service.engine.progress);
  }, [service.engine.progress, step]);

  useEffect(() => {
    if (step === "running") cancelRef.current?.focus();
    if (step === "done") resultRef.current?.focus();
    if (step === "failed") failRef.current?.focus();
  }, [step]);

  // Closing the page mid-keygen, or before the recovery code is written down: ask first.
  const codeUnkept = step === "done" && !!wallet?.recoveryCode && !codeKept;
  useEffect(() => {
    if (step !== "running" && !codeUnkept) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [step, codeUnkept]);

  const strength = passwordStrength(password);
  const errors = {
    name: name.trim() === "" ? "Give the wallet a name." : "",
    password: strength.refusal,
    confirm: confirm !== password ? "The two passwords differ." : "",
  };
  const valid = !errors.name && !errors.password && !errors.confirm;
  // A recovery needs enough server parties; a policy without them allows none.
  const noRecovery = recoveryRefusal(threshold, parties);
  const recovery = noRecovery ? { kit: false, backend: false } : { kit, backend: backend && props.recoveryBackend };
  const engineReady = service.engine.status === "ready";

  const start = async (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (!valid || !engineReady) return;
    const ac = new AbortController();
    abortRef.current = ac;
    setProgress(null);
    setBusyNote("");
    setStep("running");
    try {
      const w = await service.createWallet({
        name: name.trim(), password, threshold, parties, recovery, signal: ac.signal,
        onBusy: (ms) => setBusyNote(`Busy — retrying in ${Math.ceil(ms / 1000)} s`),
      });
      setWallet(w);
      setStep("done");
      props.onCreated(w, ac.signal.aborted);
    } catch (err) {
      if (ac.signal.aborted || isCanceled(err)) {
        props.onCanceled();
        return;
      }
      setFailure(explain(err));
      setStep("failed");
    } finally {
      abortRef.current = null;
    }
  };

  // Cancel closes the modal at once; the SDK stops the keygen after the
  // step the worker is in (which can take seconds) and removes anything it
  // saved. The page says when that is done (onCanceled).
  const cancel = () => {
    if (abortRef.current) {
      setStep("canceling");
      setPassword("");
      setConfirm("");
      abortRef.current.abort();
      props.onCancelRequested();
    } else {
      props.onClose();
    }
  };

  const download = async () => {
    if (!wallet) return;
    setDownloadError("");
    try {
      const { blob, fileName } = await service.exportBackup(wallet.walletId, password);
      downloadBlob(blob, fileName);
      setDownloaded(fileName);
    } catch (err) {
      setDownloadError(explain(err));
    }
  };

  const running = step === "running" || step === "canceling";
  const codePending = step === "done" && !!wallet?.recoveryCode && !codeKept;
  const close = () => {
    if (running || codePending) return;
    setPassword("");
    setConfirm("");
    setWallet(null); // the recovery code with it
    props.onClose();
  };

  return (
    <Modal title={step === "done" ? "Wallet created" : "Create a co-managed wallet"} closable={!running && !codePending} onClose={close} wide>
      {step === "form" && (
        <form onSubmit={start} noValidate data-testid="create-form">
          <Field
            label="Wallet name"
            value={name}
            onChange={setName}
            required
            maxLength={64}
            autoFocus
            autoComplete="off"
            error={submitted ? errors.name : ""}
            testId="wallet-name"
          />
          <fieldset className="policy">
            <legend>Policy</legend>
            <div className="policy-row">
              <div className="field">
                <label htmlFor={ids.threshold}>Signers needed</label>
                <select
                  id={ids.threshold}
                  value={threshold}
                  onChange={(e) => setThreshold(Number(e.target.value))}
                  aria-describedby={ids.policyHint}
                  data-testid="threshold"
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
                  aria-describedby={ids.policyHint}
                  data-testid="parties"
                >
                  {partyChoices().map((n) => (
                    <option key={n} value={n}>
                      {n}
                    </option>
                  ))}
                </select>
              </div>
            </div>
            <p className="hint" id={ids.policyHint}>
              {describePolicy(threshold, parties)}
            </p>
          </fieldset>
          <fieldset className="policy" data-testid="recovery-options">
            <legend>If this browser is lost</legend>
            <label className="check">
              <input
                type="checkbox"
                checked={recovery.kit}
                disabled={!!noRecovery}
                onChange={(e) => setKit(e.target.checked)}
                aria-describedby={ids.recoveryHint}
                data-testid="recovery-kit"
              />
              <span>
                <strong>Make a recovery code</strong> (recommended): 12 words, shown once when the wallet is ready. With them, the
                wallet's address and the server parties, a new browser takes this one's place.
              </span>
            </label>
            <label className="check">
              <input
                type="checkbox"
                checked={recovery.backend}
                disabled={!!noRecovery || !props.recoveryBackend}
                onChange={(e) => setBackend(e.target.checked)}
                aria-describedby={ids.recoveryHint}
                data-testid="recovery-backend"
              />
              <span>
                <strong>Let this app's backend approve a recovery</strong>, after it has checked who you are by its own means.
                Whoever runs the backend and its recovery key could then recover the wallet too.
                {!props.recoveryBackend && " (The server parties of this deployment are not configured with a backend recovery key.)"}
              </span>
            </label>
            <p className="hint" id={ids.recoveryHint}>
              {noRecovery ||
                (recovery.kit || recovery.backend
                  ? "Every holder records this when the wallet is made; no one can change it later."
                  : "Without either, a lost browser with no backup file loses its share for good.")}
            </p>
          </fieldset>
          <Field
            label="Password for this browser's share"
            type="password"
            value={password}
            onChange={setPassword}
            required
            autoComplete="new-password"
            error={submitted ? errors.password : ""}
            testId="password"
            after={
              <div className="strength" data-score={strength.score} aria-live="polite">
                <span className="strength-bar" aria-hidden="true">
                  <span style={{ width: `${strength.score * 25}%` }} />
                </span>
                <span className="strength-text">
                  {strength.label ? <strong>{strength.label}. </strong> : null}
                  {strength.advice}
                </span>
              </div>
            }
          />
          <Field
            label="Confirm the password"
            type="password"
            value={confirm}
            onChange={setConfirm}
            required
            autoComplete="new-password"
            error={submitted || (confirm.length >= password.length && confirm !== "") ? errors.confirm : ""}
            testId="password-confirm"
          />
          <div className="warning" role="note">
            <strong>A lost password cannot be recovered.</strong> The share is encrypted in this browser with this password;
            nobody — not the server parties, not an administrator — can reset it. Download the encrypted backup when the wallet
            is ready, and keep the password somewhere safe.
          </div>
          <EngineHint status={service.engine.status} />
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={!engineReady} data-testid="create-submit">
              Create wallet
            </button>
          </div>
        </form>
      )}

      {running && (
        <div data-testid="keygen-running">
          <p>
            Creating <strong>{name.trim()}</strong> ({threshold}-of-{parties}) with {parties - 1} server{" "}
            {parties - 1 === 1 ? "party" : "parties"}. This takes about half a minute; the page stays usable.
          </p>
          {busyNote && (
            <p role="status" data-testid="busy-note">
              {busyNote}
            </p>
          )}
          <ProgressPanel kind="keygen" progress={progress} label="Wallet creation progress" />
          <div className="modal-actions">
            <button ref={cancelRef} type="button" className="secondary" onClick={cancel} disabled={step === "canceling"} data-testid="create-cancel">
              {step === "canceling" ? "Canceling…" : "Cancel"}
            </button>
          </div>
        </div>
      )}

      {step === "done" && wallet && (
        <div data-testid="created" data-address={wallet.address} data-wallet-id={wallet.walletId} data-public-key={wallet.publicKey}>
          <h3 ref={resultRef} tabIndex={-1} className="success-title">
            <span aria-hidden="true">✓ </span>
            {name.trim()} is ready
          </h3>
          <dl className="facts stacked">
            <div>
              <dt>Address</dt>
              <dd className="with-copy">
                <code className="mono" data-testid="created-address">
                  {wallet.address}
                </code>
                <CopyButton value={wallet.address} label="address" />
              </dd>
            </div>
            <div>
              <dt>Policy</dt>
              <dd>
                {wallet.threshold}-of-{wallet.parties}
              </dd>
            </div>
          </dl>
          <p>Your share is saved in this browser, encrypted with your password.</p>
          {wallet.recoveryCode && (
            <RecoveryCodeSheet code={wallet.recoveryCode} address={wallet.address} kept={codeKept} onKept={setCodeKept} />
          )}
          <BackupPrompt label="Download encrypted backup" onDownload={download} downloaded={downloaded} error={downloadError}>
            <strong>Download the encrypted backup now.</strong> If this browser's data is cleared, the backup file and your
            password are the only way to get this share back.
          </BackupPrompt>
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close} disabled={codePending} data-testid="created-close">
              Done
            </button>
          </div>
        </div>
      )}

      {step === "failed" && (
        <div>
          <ErrorBox message={failure} testId="create-error" />
          <p>Nothing was saved for this attempt.</p>
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close}>
              Close
            </button>
            <button
              ref={failRef}
              type="button"
              className="primary"
              onClick={() => {
                setFailure("");
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
