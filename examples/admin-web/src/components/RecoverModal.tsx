import type { RecoveryRequest, Wallet } from "@tsskit/sdk";
import { useEffect, useRef, useState } from "react";

import { explain, isCanceled } from "../lib/errors";
import { shellWord } from "../lib/shell";
import { passwordStrength } from "../lib/password";
import type { CoManagedWalletService } from "../services/coManagedWalletService";
import { CopyButton } from "./CopyButton";
import { ErrorBox, Field } from "./Field";
import { Modal } from "./Modal";
import { BackupPrompt, EngineHint } from "./ModalParts";
import { ProgressPanel } from "./ProgressPanel";
import { downloadBlob } from "./download";

/** code: the wallet's recovery code. approval: the app backend approves a request this browser makes. */
export type RecoverMethod = "code" | "approval";

type Step = "form" | "request" | "running" | "canceling" | "done" | "failed";

// As for a refresh: once this browser's new share is stored and reported, the recovery runs to its end.
const pastCancel = new Set(["saving", "activating", "done"]);

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;


/**
 * Recover a co-managed wallet onto this browser after the one that held
 * its share was lost (docs/lifecycle.md): by the address the user wrote
 * down, with the recovery code shown when the wallet was made, or with an
 * approval file from the app's backend for a request this browser makes.
 * The server parties hand the wallet over to themselves and this browser;
 * the lost browser's share no longer signs.
 */
export function RecoverModal(props: {
  service: CoManagedWalletService;
  onClose(): void;
  /** The recovery completed: w has the new epoch, and its share is stored here. */
  onDone(w: Wallet): void;
  onCanceled(): void;
}) {
  const { service } = props;
  const [method, setMethod] = useState<RecoverMethod>("code");
  const [step, setStep] = useState<Step>("form");
  const [address, setAddress] = useState("");
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [approvalFile, setApprovalFile] = useState<File | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const [request, setRequest] = useState<RecoveryRequest | null>(null);
  // This browser's requests still waiting for an approval (after a reload too).
  const [pending, setPending] = useState<RecoveryRequest[]>([]);
  const [requestError, setRequestError] = useState("");
  const [requesting, setRequesting] = useState(false);
  const [result, setResult] = useState<Wallet | null>(null);
  // kept: the wallet id of a new share this browser stored and reported before the failure (kept aside, pending).
  const [failure, setFailure] = useState<{ text: string; code: string; kept: string } | null>(null);
  const [finishing, setFinishing] = useState(false);
  const [downloaded, setDownloaded] = useState("");
  const [downloadError, setDownloadError] = useState("");
  const [busyNote, setBusyNote] = useState("");
  const abortRef = useRef<AbortController | null>(null);
  const resultRef = useRef<HTMLHeadingElement>(null);
  const failRef = useRef<HTMLButtonElement>(null);

  const progress = step === "running" || step === "canceling" ? service.lifecycle.progress : null;
  const committed = progress !== null && pastCancel.has(progress.phase);
  const running = step === "running" || step === "canceling";

  useEffect(() => {
    let alive = true;
    service
      .recoveryRequests()
      .then((r) => alive && setPending(r))
      .catch(() => {});
    return () => {
      alive = false;
    };
  }, [service.recoveryRequests, request]);

  useEffect(() => {
    if (step === "done") resultRef.current?.focus();
    if (step === "failed") failRef.current?.focus();
  }, [step]);

  useEffect(() => {
    if (!running) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [running]);

  const words = code.trim().split(/\s+/).filter(Boolean);
  // A new password for the recovered share, except when continuing a request: then the one it was made with.
  const newPassword = !(method === "approval" && step === "request");
  const strength = passwordStrength(password);
  const errors = {
    address: ADDRESS.test(address.trim()) ? "" : "Enter the wallet's address: 0x and 40 hex digits, as you wrote it down.",
    code: method === "code" && words.length !== 12 ? `The recovery code is 12 words; this is ${words.length}.` : "",
    password: password === "" ? "Enter a password." : newPassword ? strength.refusal : "",
    confirm: newPassword && confirm !== password ? "The two passwords differ." : "",
    approval: method === "approval" && step === "request" && !approvalFile ? "Choose the approval file from the app's backend." : "",
  };
  const valid = Object.values(errors).every((e) => e === "");
  const engineReady = service.engine.status === "ready";

  const run = async (what: { code: string } | { approval: string }) => {
    const ac = new AbortController();
    abortRef.current = ac;
    setBusyNote("");
    setStep("running");
    try {
      const w = await service.recoverWallet({
        address: address.trim(), password, ...what, signal: ac.signal,
        onBusy: (ms) => setBusyNote(`Busy — retrying in ${Math.ceil(ms / 1000)} s`),
      });
      setResult(w);
      setStep("done");
      setCode("");
      props.onDone(w);
    } catch (err) {
      if (ac.signal.aborted || isCanceled(err)) {
        setPassword("");
        props.onCanceled();
        return;
      }
      const c = (err as { code?: unknown } | null)?.code;
      // A new share this browser stored and reported is kept aside, whatever the end: say so rather than "nothing stored".
      const w = await service.findAccountWallet(address).catch(() => null);
      const kept = w && (await service.pendingShares(w.walletId).catch(() => [])).length > 0 ? w.walletId : "";
      setFailure({ text: explain(err, "recover"), code: typeof c === "string" ? c : "", kept });
      setStep("failed");
    } finally {
      abortRef.current = null;
    }
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (!valid || !engineReady) return;
    if (method === "code") return run({ code });
    if (step === "form") {
      // The request for the backend: this browser's new device identity, kept (encrypted) in IndexedDB.
      setRequestError("");
      setRequesting(true);
      try {
        setRequest(await service.requestRecovery({ address: address.trim(), password }));
        setSubmitted(false);
        setConfirm("");
        setStep("request");
      } catch (err) {
        // A request this browser already made for the wallet: its key is sealed under that request's password.
        setRequestError(
          (err as { name?: unknown } | null)?.name === "WrongPasswordError"
            ? "This browser already made a request for this wallet, with another password. Continue it below with that password, or discard it and make a new one."
            : explain(err, "recover"),
        );
        void service.recoveryRequests().then(setPending, () => {});
      } finally {
        setRequesting(false);
      }
      return;
    }
    if (approvalFile!.size > 64 << 10) {
      setRequestError("That file is too large to be an approval.");
      return;
    }
    return run({ approval: await approvalFile!.text() });
  };

  // The end of a recovery this browser missed: the coordinator's record of the session, checked by the SDK (resumeReshare).
  const finish = async (walletId: string) => {
    setFinishing(true);
    try {
      const w = await service.resumeReshare({ walletId, password });
      setResult(w);
      setStep("done");
      setCode("");
      props.onDone(w);
    } catch (err) {
      const still = (err as { code?: unknown } | null)?.code === "unavailable";
      setFailure(
        (f) => f && { ...f, text: still ? "The server parties are still finishing their part. Try again in a moment." : explain(err, "recover") },
      );
    } finally {
      setFinishing(false);
    }
  };

  const continueRequest = (r: RecoveryRequest) => {
    setMethod("approval");
    setRequest(r);
    setSubmitted(false);
    setPassword("");
    setConfirm("");
    setRequestError("");
    setStep("request");
  };

  const discard = async (r: RecoveryRequest) => {
    await service.cancelRecoveryRequest(r.walletId).catch(() => {});
    setPending((p) => p.filter((x) => x.walletId !== r.walletId));
    if (request?.walletId === r.walletId) {
      setRequest(null);
      setStep("form");
    }
  };

  const cancel = () => {
    if (abortRef.current) {
      setStep("canceling");
      abortRef.current.abort();
    } else close();
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
    setConfirm("");
    setCode("");
    props.onClose();
  };

  const title = step === "done" ? "Wallet recovered" : "Recover a wallet on this device";
  const requestJson = request
    ? JSON.stringify(
        { wallet_id: request.walletId, epoch: request.epoch, party_id: request.partyId, identity: request.identity, recovery: request.recovery },
        null,
        2,
      ) + "\n"
    : "";
  const approveCommand = request
    ? ["tsskit", "recovery", "approve", "--key", "BACKEND_KEY_FILE", "--wallet", request.walletId, "--epoch", String(request.epoch),
        "--party-id", request.partyId, "--identity", request.identity, "--out", "approval.json"].map(shellWord).join(" ")
    : "";
  const otherPending = pending.filter((r) => r.walletId !== request?.walletId);

  return (
    <Modal title={title} closable={!running} onClose={close} wide>
      {(step === "form" || step === "request") && (
        <form onSubmit={submit} noValidate data-testid="recover-form" data-method={method} data-step={step}>
          {step === "form" && (
            <>
              <p>
                Lost the browser that held your share, and its backup file? The server parties can hand the wallet over to this
                browser, if the wallet allowed it when it was made. The wallet keeps its <strong>address and key</strong>; this
                browser gets a new share, and <strong>the lost browser's share and old backups stop working</strong>.
              </p>
              <fieldset className="radios" role="radiogroup" aria-label="How to prove the wallet is yours">
                <label className="radio">
                  <input type="radio" name="method" checked={method === "code"} onChange={() => setMethod("code")} data-testid="method-code" />
                  <span>
                    <strong>With the recovery code</strong>: the 12 words shown when the wallet was made.
                  </span>
                </label>
                <label className="radio">
                  <input
                    type="radio"
                    name="method"
                    checked={method === "approval"}
                    onChange={() => setMethod("approval")}
                    data-testid="method-approval"
                  />
                  <span>
                    <strong>With an approval from this app's backend</strong>: this browser makes a request; the app's operators
                    check who you are and send you an approval file.
                  </span>
                </label>
              </fieldset>
            </>
          )}
          {step === "request" && request && (
            <div className="callout recovery-request" data-testid="recovery-request" data-wallet-id={request.walletId} data-epoch={request.epoch}
              data-party-id={request.partyId} data-identity={request.identity}>
              <p>
                <strong>Send this request to the app's operators.</strong> Once they have checked that the wallet is yours, they
                sign an approval of it, for this browser only, and send you the file. This browser keeps the request (its new key
                encrypted with your password), so you can close this page and come back with the file.
              </p>
              <pre className="mono request-json">{requestJson}</pre>
              <div className="actions">
                <button type="button" className="secondary" onClick={() => downloadBlob(new Blob([requestJson], { type: "application/json" }), `tsskit-recovery-request-${request.walletId.slice(0, 8)}.json`)} data-testid="download-request">
                  Download the request
                </button>
                <CopyButton value={approveCommand} label="the command the backend runs" />
              </div>
              <p className="muted small">
                The backend signs it with: <code className="mono">{approveCommand}</code>
              </p>
            </div>
          )}
          <Field
            label="Wallet address"
            value={address}
            onChange={setAddress}
            required
            autoFocus
            autoComplete="off"
            spellCheck={false}
            hint="As you wrote it down: the key handed over must have this address, whatever anyone else says."
            error={submitted ? errors.address : ""}
            testId="recover-address"
          />
          {method === "code" && (
            <Field
              label="Recovery code"
              value={code}
              onChange={setCode}
              required
              autoComplete="off"
              spellCheck={false}
              hint="The 12 words, in order, separated by spaces."
              error={submitted ? errors.code : ""}
              testId="recover-code"
            />
          )}
          {method === "approval" && step === "request" && (
            <div className="field">
              <label htmlFor="approval-file">Approval file</label>
              <input id="approval-file" type="file" accept=".json,application/json" onChange={(e) => setApprovalFile(e.target.files?.[0] ?? null)} data-testid="approval-file" />
              {submitted && errors.approval && <p className="field-error">{errors.approval}</p>}
            </div>
          )}
          <Field
            label={newPassword ? "Password for this browser's new share" : "The password you made the request with"}
            type="password"
            value={password}
            onChange={setPassword}
            required
            autoComplete={newPassword ? "new-password" : "current-password"}
            error={submitted ? errors.password : ""}
            testId="recover-password"
          />
          {newPassword && (
            <Field
              label="Confirm the password"
              type="password"
              value={confirm}
              onChange={setConfirm}
              required
              autoComplete="new-password"
              error={submitted ? errors.confirm : ""}
              testId="recover-password-confirm"
            />
          )}
          {requestError && <ErrorBox message={requestError} testId="recover-request-error" />}
          {otherPending.length > 0 && (
            <div className="pending-requests" data-testid="pending-requests">
              <p className="radio-group-title">
                {method === "approval"
                  ? "Requests from this browser waiting for an approval"
                  : "Unfinished recoveries from this browser (a retry with the code uses the same device and password)"}
              </p>
              <ul>
                {otherPending.map((r) => (
                  <li key={r.walletId}>
                    Wallet <code className="mono">{r.walletId.slice(0, 8)}</code>, epoch {r.epoch}, made{" "}
                    {new Date(r.createdAt).toLocaleString()}{" "}
                    <button type="button" className="secondary small" onClick={() => continueRequest(r)} data-testid="continue-request">
                      Continue
                    </button>{" "}
                    <button type="button" className="danger-link" onClick={() => void discard(r)}>
                      Discard
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          )}
          <EngineHint status={service.engine.status} />
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close}>
              Cancel
            </button>
            {step === "request" && request && (
              <button type="button" className="danger-link" onClick={() => void discard(request)} data-testid="discard-request">
                Discard the request
              </button>
            )}
            <button type="submit" className="primary" disabled={!engineReady || requesting} data-testid="recover-submit">
              {method === "code" ? "Recover the wallet" : step === "form" ? (requesting ? "Making the request…" : "Make the request") : "Recover the wallet"}
            </button>
          </div>
        </form>
      )}

      {running && (
        <div data-testid="recover-running">
          <p>
            Recovering <code className="mono">{address.trim()}</code> onto this browser with the wallet's server parties. This takes
            about half a minute; the page stays usable.
          </p>
          {busyNote && (
            <p role="status" data-testid="busy-note">
              {busyNote}
            </p>
          )}
          <ProgressPanel kind="reshare" progress={progress} label="Recovery progress" />
          <p className="hint" aria-live="polite">
            {step === "canceling"
              ? "Canceling… the current step finishes first. Nothing changes for the wallet."
              : committed
                ? "Your new share is saved and reported: the recovery now runs to its end and can no longer be canceled."
                : "Cancel stops it and leaves the wallet as it was."}
          </p>
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={cancel} disabled={step === "canceling" || committed} data-testid="recover-cancel">
              {step === "canceling" ? "Canceling…" : "Cancel"}
            </button>
          </div>
        </div>
      )}

      {step === "done" && result && (
        <div data-testid="recover-done" data-epoch={result.epoch} data-address={result.address} data-public-key={result.publicKey} data-wallet-id={result.walletId}>
          <h3 ref={resultRef} tabIndex={-1} className="success-title">
            <span aria-hidden="true">✓ </span>
            The wallet is back in this browser
          </h3>
          <dl className="facts stacked">
            <div>
              <dt>Address</dt>
              <dd className="with-copy">
                <code className="mono">{result.address}</code>
                <CopyButton value={result.address} label="address" />
                <span className="muted small"> (the one you gave)</span>
              </dd>
            </div>
            <div>
              <dt>Policy</dt>
              <dd>
                {result.threshold}-of-{result.parties}
              </dd>
            </div>
            <div>
              <dt>Epoch</dt>
              <dd data-testid="recover-epoch">{result.epoch}</dd>
            </div>
          </dl>
          <p>
            This browser's new share is saved here, encrypted with your password. The lost browser's share, and every backup made
            before, no longer sign. The recovery code still works for a later recovery.
          </p>
          <BackupPrompt label="Download the new backup" onDownload={download} downloaded={downloaded} error={downloadError}>
            <strong>Download a backup of the new share now.</strong> With it and your password, this browser's share comes back if
            its data is cleared.
          </BackupPrompt>
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={close} data-testid="recover-close">
              Done
            </button>
          </div>
        </div>
      )}

      {step === "failed" && failure && (
        <div>
          <ErrorBox message={failure.text} testId="recover-error" />
          {/* Not where the outcome is unconfirmed: the new share may then be kept aside (the message says so). */}
          {failure.kept ? (
            <div className="callout" data-testid="recover-kept">
              <p>
                This browser stored its new share before the recovery broke off, and keeps it aside, unused. If the server parties
                finished their part, <strong>Finish the recovery</strong> checks that every holder stored its new share (each
                signed a receipt the coordinator cannot make) and then makes it this browser's share.
              </p>
              <button type="button" className="primary" onClick={() => void finish(failure.kept)} disabled={finishing} data-testid="recover-finish">
                {finishing ? "Finishing…" : "Finish the recovery"}
              </button>
            </div>
          ) : (
            !["reshare_unconfirmed", "verify"].includes(failure.code) && <p>Nothing was stored in this browser, and the wallet is unchanged.</p>
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
                setStep(method === "approval" && request ? "request" : "form");
              }}
              data-testid="recover-retry"
            >
              Try again
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}
