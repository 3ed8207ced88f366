import type { DerivedAddress } from "@tsskit/sdk";
import { forwardRef, useEffect, useId, useMemo, useState } from "react";

import { computeDigest, describeDigest, digestModes } from "../lib/digest";
import { explain } from "../lib/errors";
import { describeEth, ethModes, exampleFor, isEthMode, parseEthRequest } from "../lib/ethRequest";
import { toHex } from "../lib/hex";
import type { CoManagedWalletService, SignedEthereum, SignedMessage, SignMode, SignResult } from "../services/coManagedWalletService";
import { CopyButton } from "./CopyButton";
import { ErrorBox, Field } from "./Field";
import { ProgressPanel } from "./ProgressPanel";

const describe = (mode: SignMode) => (isEthMode(mode) ? describeEth(mode) : describeDigest(mode));

/** The key that signs, in words: the wallet key or the key at a path. */
const keyLabel = (path: string) => (path === "m" ? "the wallet key" : `the key at ${path}`);

export const SignSection = forwardRef<HTMLSelectElement, { service: CoManagedWalletService; walletId: string; onWalletChange(id: string): void }>(
  function SignSection({ service, walletId, onWalletChange }, walletRef) {
    const wallets = service.wallets;
    const [mode, setMode] = useState<SignMode>("keccak256");
    const [text, setText] = useState("");
    const [hexDigest, setHexDigest] = useState("");
    // Each JSON mode keeps its own text, so switching modes loses nothing.
    const [json, setJson] = useState<Record<"typed-data" | "eth-tx", string>>({ "typed-data": "", "eth-tx": "" });
    const [jsonTouched, setJsonTouched] = useState(false);
    const [path, setPath] = useState("");
    const [password, setPassword] = useState("");
    // "Busy — retrying in N s" while the server parties refuse for overload.
    const [busyNote, setBusyNote] = useState("");
    const [running, setRunning] = useState(false);
    const [result, setResult] = useState<SignResult | null>(null);
    const [error, setError] = useState("");
    const [submitted, setSubmitted] = useState(false);
    const ids = {
      wallet: useId(), input: useId(), json: useId(), jsonHint: useId(), preview: useId(), signer: useId(),
      digestGroup: useId(), ethGroup: useId(),
    };

    const selected = wallets.find((w) => w.walletId === walletId) ?? null;
    useEffect(() => {
      if (!selected && wallets.length > 0) onWalletChange(wallets[0]!.walletId);
    }, [selected, wallets, onWalletChange]);

    // The key and address for the wallet and path, recomputed as either
    // changes (BIP32 public derivation: no password, no server).
    const pathKey = `${selected?.walletId ?? ""}\n${path.trim()}`;
    const [derived, setDerived] = useState<{ key: string; address: DerivedAddress | null; error: string } | null>(null);
    const { deriveAddress } = service;
    const selectedId = selected?.walletId;
    useEffect(() => {
      if (!selectedId) return;
      let alive = true;
      deriveAddress(selectedId, path).then(
        (address) => alive && setDerived({ key: pathKey, address, error: "" }),
        (e) => alive && setDerived({ key: pathKey, address: null, error: explain(e) }),
      );
      return () => {
        alive = false;
      };
    }, [deriveAddress, selectedId, path, pathKey]);
    const current = derived?.key === pathKey ? derived : null;
    const pathError = current?.error ?? "";
    const signerAddress = current?.address?.address;

    const jsonMode = mode === "typed-data" || mode === "eth-tx" ? mode : null;
    const input = mode === "raw" ? hexDigest : jsonMode ? json[jsonMode] : text;
    const parsed = useMemo(
      () => (isEthMode(mode) ? parseEthRequest(mode, input, signerAddress) : computeDigest(mode, input)),
      [mode, input, signerAddress],
    );
    const inputError = !parsed.ok && (submitted || (jsonMode !== null && jsonTouched)) ? parsed.problem : "";
    const busy = service.engine.status === "busy";
    const canSign = service.engine.status === "ready" && !!selected && !pathError;

    const chooseMode = (m: SignMode) => {
      setMode(m);
      setResult(null);
      setJsonTouched(false);
    };

    const submit = async (e: React.FormEvent) => {
      e.preventDefault();
      setSubmitted(true);
      if (!parsed.ok || !selected || !password || !canSign) return;
      setRunning(true);
      setBusyNote("");
      setError("");
      setResult(null);
      try {
        const r = await service.sign({
          walletId: selected.walletId, password, mode, text: input, path,
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

    const modeRadio = (m: { mode: SignMode; label: string; hint: string }) => (
      <label key={m.mode} className="radio">
        <input
          type="radio"
          name="digest-mode"
          value={m.mode}
          checked={mode === m.mode}
          onChange={() => chooseMode(m.mode)}
          data-testid={`mode-${m.mode}`}
        />
        <span>
          {m.label}
          <span className="hint block">{m.hint}</span>
        </span>
      </label>
    );

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
            <Field
              label="Derivation path"
              value={path}
              onChange={setPath}
              autoComplete="off"
              spellCheck={false}
              placeholder="m/0/5"
              hint="Empty: the wallet's own key. A BIP32 path of non-hardened indices, such as m/0/5, signs with a key derived from it."
              error={pathError}
              describedBy={ids.signer}
              testId="sign-path"
            />
            <p className="digest-preview" id={ids.signer}>
              <span className="muted">Signs as — {current?.address ? keyLabel(current.address.path) : "address"}: </span>
              <output className="mono" data-testid="derived-address" data-path={current?.address?.path ?? ""}>
                {current?.address?.address ?? "—"}
              </output>
            </p>
            <fieldset>
              <legend>What to sign</legend>
              <div className="radios" role="group" aria-labelledby={ids.digestGroup}>
                <p className="radio-group-title" id={ids.digestGroup}>
                  A 32-byte digest
                </p>
                {digestModes.map(modeRadio)}
              </div>
              <div className="radios" role="group" aria-labelledby={ids.ethGroup}>
                <p className="radio-group-title" id={ids.ethGroup}>
                  Ethereum
                </p>
                {ethModes.map(modeRadio)}
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
                error={inputError}
                testId="sign-digest-input"
              />
            ) : jsonMode ? (
              <JsonField
                mode={jsonMode}
                id={ids.json}
                hintId={ids.jsonHint}
                value={json[jsonMode]}
                onChange={(v) => setJson((j) => ({ ...j, [jsonMode]: v }))}
                onBlur={() => setJsonTouched(true)}
                error={inputError}
                onExample={signerAddress ? () => setJson((j) => ({ ...j, [jsonMode]: exampleFor(jsonMode, signerAddress) })) : undefined}
              />
            ) : (
              <div className="field">
                <label htmlFor={ids.input}>Message</label>
                <textarea
                  id={ids.input}
                  rows={3}
                  value={text}
                  onChange={(e) => setText(e.target.value)}
                  aria-describedby={inputError ? `${ids.input}-err` : undefined}
                  aria-invalid={inputError ? true : undefined}
                  data-testid="sign-text-input"
                />
                {inputError && (
                  <p className="field-error" id={`${ids.input}-err`}>
                    {inputError}
                  </p>
                )}
              </div>
            )}
            <p className="digest-preview" id={ids.preview}>
              <span className="muted">Digest to sign — {describe(mode)}: </span>
              <output className="mono" data-testid="digest-preview">
                {parsed.ok ? "0x" + toHex(parsed.digest) : "—"}
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
              {pathError && <span className="hint">Fix the derivation path to sign.</span>}
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
        {result?.kind === "digest" && <SignatureView result={result} walletLabel={walletLabelOf(selected)} />}
        {result?.kind === "ethereum" && <EthSignatureView result={result} walletLabel={walletLabelOf(selected)} />}
      </section>
    );
  },
);

const walletLabelOf = (w: { name: string; walletId: string } | null) => w?.name || w?.walletId.slice(0, 8) || "";

/** The textarea for typed data or a transaction, as JSON. */
function JsonField(props: {
  mode: "typed-data" | "eth-tx";
  id: string;
  hintId: string;
  value: string;
  onChange(v: string): void;
  onBlur(): void;
  error: string;
  onExample?: () => void;
}) {
  const { mode, id, hintId, error } = props;
  const label = mode === "typed-data" ? "Typed data (JSON)" : "Transaction (JSON)";
  const hint =
    mode === "typed-data"
      ? "An object with domain, types, primaryType and message. Write integers above 2^53 as strings."
      : 'Fields: type ("eip1559", "eip2930" or "legacy"), chainId, nonce and gas (required), to, value, data, maxFeePerGas, maxPriorityFeePerGas or gasPrice, accessList. Amounts in wei, as numbers or as decimal or 0x strings.';
  return (
    <div className="field">
      <div className="label-row">
        <label htmlFor={id}>{label}</label>
        {props.onExample && (
          <button type="button" className="secondary small" onClick={props.onExample} data-testid="json-example">
            Fill in an example
          </button>
        )}
      </div>
      <textarea
        id={id}
        className="mono"
        rows={10}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        onBlur={props.onBlur}
        spellCheck={false}
        autoComplete="off"
        aria-describedby={[hintId, error ? `${id}-err` : ""].filter(Boolean).join(" ")}
        aria-invalid={error ? true : undefined}
        data-testid="sign-json-input"
      />
      <p className="hint" id={hintId}>
        {hint}
      </p>
      {error && (
        <p className="field-error" id={`${id}-err`} data-testid="sign-json-error">
          {error}
        </p>
      )}
    </div>
  );
}

function Facts({ rows }: { rows: [string, string, string][] }) {
  return (
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
  );
}

function SignatureView({ result, walletLabel }: { result: SignedMessage; walletLabel: string }) {
  const rows: [string, string, string][] = [
    ["r", result.r, "sig-r"],
    ["s", result.s, "sig-s"],
    ["v", String(result.v), "sig-v"],
    ["Signature (r‖s)", result.signature, "sig-signature"],
    ["Digest signed", result.digest, "sig-digest"],
  ];
  return (
    <div className="result" data-testid="signature" data-digest={result.digest} data-signature={result.signature} data-wallet-id={result.walletId} data-path={result.path}>
      <h3 className="success-title">
        <span aria-hidden="true">✓ </span>Signed and verified
      </h3>
      <p className="muted">
        <strong>{walletLabel}</strong> signed {describeDigest(result.mode)}
        {result.path !== "m" && <> with {keyLabel(result.path)}</>}. The signature was checked against the
        {result.path !== "m" ? " derived" : " wallet's"} public key before being shown here.
      </p>
      <Facts rows={rows} />
    </div>
  );
}

function EthSignatureView({ result, walletLabel }: { result: SignedEthereum; walletLabel: string }) {
  const tx = result.mode === "eth-tx";
  const rows: [string, string, string][] = [
    [tx ? "Signed transaction" : "Signature", result.signed, "eth-signature"],
    ...(result.txHash ? [["Transaction hash", result.txHash, "eth-tx-hash"] as [string, string, string]] : []),
    ["Digest signed", result.digest, "sig-digest"],
  ];
  const signerLabel = result.path === "m" ? "Wallet address" : `Address at ${result.path}`;
  return (
    <div
      className="result"
      data-testid="signature"
      data-mode={result.mode}
      data-digest={result.digest}
      data-signature={result.signed}
      data-wallet-id={result.walletId}
      data-path={result.path}
    >
      <h3 className={result.matches ? "success-title" : "warning-title"}>
        <span aria-hidden="true">{result.matches ? "✓ " : "! "}</span>
        {result.matches ? "Signed, and the signer recovered" : "Signed, but the recovered signer is not this key"}
      </h3>
      <p className="muted">
        <strong>{walletLabel}</strong> signed {describeEth(result.mode)} with {keyLabel(result.path)}. The app recovered
        the signer's address from the {tx ? "signed transaction" : "signature"} (with viem) and compared it with the address of
        that key.
      </p>
      <dl className="facts sig">
        <div>
          <dt>{signerLabel}</dt>
          <dd className="with-copy">
            <code className="mono wrap" data-testid="signer-address">
              {result.signer}
            </code>
            <CopyButton value={result.signer} label={signerLabel} />
          </dd>
        </div>
        <div>
          <dt>Recovered address</dt>
          <dd className="with-copy">
            <code className="mono wrap" data-testid="recovered-address">
              {result.recovered}
            </code>
            <span className={`badge ${result.matches ? "badge-ok" : "badge-bad"}`} data-testid="address-match" data-match={result.matches}>
              {result.matches ? "matches" : "does not match"}
            </span>
          </dd>
        </div>
      </dl>
      <Facts rows={rows} />
    </div>
  );
}
