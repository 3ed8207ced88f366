import { forwardRef, useEffect, useId, useState } from "react";

import { computeDigest, describeDigest, digestModes, type DigestMode } from "../lib/digest";
import { explain } from "../lib/errors";
import { toHex } from "../lib/hex";
import type { CoManagedWalletService, SignedMessage } from "../services/coManagedWalletService";
import { CopyButton } from "./CopyButton";
import { ErrorBox, Field } from "./Field";
import { ProgressPanel } from "./ProgressPanel";

export const SignSection = forwardRef<HTMLSelectElement, { service: CoManagedWalletService; walletId: string; onWalletChange(id: string): void }>(
  function SignSection({ service, walletId, onWalletChange }, walletRef) {
    const wallets = service.wallets;
    const [mode, setMode] = useState<DigestMode>("keccak256");
    const [text, setText] = useState("");
    const [hexDigest, setHexDigest] = useState("");
    const [password, setPassword] = useState("");
    // "Busy — retrying in N s" while the server parties refuse for overload.
    const [busyNote, setBusyNote] = useState("");
    const [running, setRunning] = useState(false);
    const [result, setResult] = useState<SignedMessage | null>(null);
    const [error, setError] = useState("");
    const [submitted, setSubmitted] = useState(false);
    const ids = { wallet: useId(), input: useId(), inputHint: useId(), preview: useId() };

    const selected = wallets.find((w) => w.walletId === walletId) ?? null;
    useEffect(() => {
      if (!selected && wallets.length > 0) onWalletChange(wallets[0]!.walletId);
    }, [selected, wallets, onWalletChange]);

    const input = mode === "raw" ? hexDigest : text;
    const digest = computeDigest(mode, input);
    const busy = service.engine.status === "busy";
    const canSign = service.engine.status === "ready" && !!selected;

    const submit = async (e: React.FormEvent) => {
      e.preventDefault();
      setSubmitted(true);
      if (!digest.ok || !selected || !password || !canSign) return;
      setRunning(true);
      setBusyNote("");
      setError("");
      setResult(null);
      try {
        const r = await service.sign({
          walletId: selected.walletId, password, mode, text: input,
          onBusy: (ms) => setBusyNote(`Busy — retrying in ${Math.ceil(ms / 1000)} s`),
        });
        setResult(r);
        setPassword("");
        setSubmitted(false);
      } catch (err) {
        setError(explain(err));
      } finally {
        setRunning(false);
      }
    };

    return (
      <section className="card" aria-labelledby="sign-title" data-testid="sign-section">
        <h2 id="sign-title">Sign</h2>
        {wallets.length === 0 ? (
          <p className="muted">Create or import a wallet to sign with it.</p>
        ) : (
          <form onSubmit={submit} noValidate>
            <div className="field">
              <label htmlFor={ids.wallet}>Wallet</label>
              <select
                id={ids.wallet}
                ref={walletRef}
                value={selected?.walletId ?? ""}
                onChange={(e) => {
                  onWalletChange(e.target.value);
                  setResult(null);
                  setError("");
                }}
                data-testid="sign-wallet"
              >
                {wallets.map((w) => (
                  <option key={w.walletId} value={w.walletId}>
                    {(w.name || "Imported wallet " + w.walletId.slice(0, 8)) + " — " + w.address.slice(0, 10) + "…"}
                  </option>
                ))}
              </select>
            </div>
            <fieldset>
              <legend>What to sign</legend>
              <div className="radios">
                {digestModes.map((m) => (
                  <label key={m.mode} className="radio">
                    <input
                      type="radio"
                      name="digest-mode"
                      value={m.mode}
                      checked={mode === m.mode}
                      onChange={() => {
                        setMode(m.mode);
                        setResult(null);
                      }}
                      data-testid={`mode-${m.mode}`}
                    />
                    <span>
                      {m.label}
                      <span className="hint block">{m.hint}</span>
                    </span>
                  </label>
                ))}
              </div>
            </fieldset>
            {mode === "raw" ? (
              <Field
                label="Digest (64 hex digits)"
                value={hexDigest}
                onChange={setHexDigest}
                autoComplete="off"
                spellCheck={false}
                placeholder="0x…"
                error={submitted && !digest.ok ? digest.problem : ""}
                testId="sign-digest-input"
              />
            ) : (
              <div className="field">
                <label htmlFor={ids.input}>Message</label>
                <textarea
                  id={ids.input}
                  rows={3}
                  value={text}
                  onChange={(e) => setText(e.target.value)}
                  aria-describedby={submitted && !digest.ok ? `${ids.input}-err` : undefined}
                  aria-invalid={submitted && !digest.ok ? true : undefined}
                  data-testid="sign-text-input"
                />
                {submitted && !digest.ok && (
                  <p className="field-error" id={`${ids.input}-err`}>
                    {digest.problem}
                  </p>
                )}
              </div>
            )}
            <p className="digest-preview" id={ids.preview}>
              <span className="muted">Digest to sign — {describeDigest(mode)}: </span>
              <output className="mono" data-testid="digest-preview">
                {digest.ok ? "0x" + toHex(digest.digest) : "—"}
              </output>
            </p>
            <Field
              label="Wallet password"
              type="password"
              value={password}
              onChange={setPassword}
              autoComplete="current-password"
              error={submitted && !password ? "Enter the wallet's password." : ""}
              testId="sign-password"
            />
            <div className="form-actions">
              <button type="submit" className="primary" disabled={!canSign || running} data-testid="sign-submit">
                {running ? "Signing…" : "Sign"}
              </button>
              {busy && !running && <span className="hint">Another operation is running.</span>}
            </div>
          </form>
        )}

        {running && busyNote && (
          <p role="status" data-testid="busy-note">
            {busyNote}
          </p>
        )}
        {running && <ProgressPanel kind="sign" progress={service.engine.progress} label="Signing progress" />}
        {error && <ErrorBox message={error} testId="sign-error" />}
        {result && <SignatureView result={result} walletLabel={selected?.name || selected?.walletId.slice(0, 8) || ""} />}
      </section>
    );
  },
);

function SignatureView({ result, walletLabel }: { result: SignedMessage; walletLabel: string }) {
  const rows: [string, string, string][] = [
    ["r", result.r, "sig-r"],
    ["s", result.s, "sig-s"],
    ["v", String(result.v), "sig-v"],
    ["Signature (r‖s)", result.signature, "sig-signature"],
    ["Digest signed", result.digest, "sig-digest"],
  ];
  return (
    <div className="result" data-testid="signature" data-digest={result.digest} data-signature={result.signature} data-wallet-id={result.walletId}>
      <h3 className="success-title">
        <span aria-hidden="true">✓ </span>Signed and verified
      </h3>
      <p className="muted">
        <strong>{walletLabel}</strong> signed {describeDigest(result.mode)}. The signature was checked against the wallet's
        public key before being shown here.
      </p>
      <dl className="facts sig">
        {rows.map(([label, value, id]) => (
          <div key={id}>
            <dt>{label}</dt>
            <dd className="with-copy">
              <code className="mono wrap" data-testid={id}>
                {value}
              </code>
              <CopyButton value={value} label={label} />
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}
