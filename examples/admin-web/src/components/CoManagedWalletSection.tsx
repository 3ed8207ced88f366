import type { CoManagedWallet } from "../services/coManagedWalletService";
import { shorten } from "../lib/hex";
import { CopyButton } from "./CopyButton";

const serverText: Record<CoManagedWallet["server"], { text: string; tone: string; title: string }> = {
  ok: { text: "Active on server", tone: "ok", title: "The coordinator knows this wallet, with the same public key." },
  unknown: { text: "Unknown to server", tone: "warn", title: "The coordinator has no record of this wallet (another tsskit deployment, or its data was reset)." },
  unreachable: { text: "Server unreachable", tone: "bad", title: "The coordinator could not be asked about this wallet." },
  checking: { text: "Checking…", tone: "muted", title: "Asking the coordinator about this wallet." },
};

export function CoManagedWalletSection(props: {
  wallets: CoManagedWallet[];
  corrupt: string[];
  loading: boolean;
  busy: boolean;
  onCreate(): void;
  onImport(): void;
  /** A new browser takes a lost one's place in a wallet. */
  onRecover(): void;
  onSign(walletId: string): void;
  onExport(walletId: string): void;
  onRefresh(walletId: string): void;
  onChangePolicy(walletId: string): void;
  /** Settle a refresh in limbo at this browser (freeze, drop, pin, thaw). */
  onSettle(walletId: string): void;
  onRemove(walletId: string, label: string): void;
}) {
  const { wallets, corrupt } = props;
  const empty = wallets.length === 0 && corrupt.length === 0;
  return (
    <section className="card" aria-labelledby="wallets-title" data-testid="wallet-section">
      <div className="section-head">
        <div>
          <h2 id="wallets-title">Co-managed wallets</h2>
          <p className="muted">Wallets this browser holds a share of.</p>
        </div>
        <div className="actions">
          <button type="button" className="primary" onClick={props.onCreate} disabled={props.busy} data-testid="create-wallet">
            Create wallet
          </button>
          <button type="button" className="secondary" onClick={props.onImport}>
            Import backup
          </button>
          <button type="button" className="secondary" onClick={props.onRecover} disabled={props.busy} data-testid="recover-wallet">
            Recover a wallet
          </button>
        </div>
      </div>

      {empty && !props.loading && (
        <div className="empty" data-testid="empty-state">
          <h3>No co-managed wallets in this browser yet</h3>
          <p>
            A <strong>co-managed wallet</strong> is an Ethereum-style (secp256k1) account whose private key never exists in one
            place. Threshold ECDSA splits it into <em>shares</em>: this browser keeps one, encrypted with a password you choose,
            and tsskit's server parties keep the others.
          </p>
          <p>
            Signing needs a set number of shares working together — for a <strong>2-of-3</strong> wallet, this browser and one
            server party. The shares sign without ever being put together, so no single machine can recreate the key.
          </p>
          <p>
            <button type="button" className="primary" onClick={props.onCreate} disabled={props.busy}>
              Create your first wallet
            </button>
          </p>
          <p className="muted">
            Lost the browser that held your share? With the wallet's recovery code, or an approval from this app's backend,{" "}
            <button type="button" className="link-button" onClick={props.onRecover} disabled={props.busy} data-testid="empty-recover">
              recover the wallet on this device
            </button>
            .
          </p>
        </div>
      )}

      {wallets.length > 0 && (
        <ul className="wallet-list" aria-label="Wallets">
          {wallets.map((w) => {
            const label = w.name || "Imported wallet " + w.walletId.slice(0, 8);
            const st = serverText[w.server];
            const epoch = w.epoch ?? 0;
            // The coordinator's epoch is past this share's: it was refreshed without this browser.
            const stale = w.server === "ok" && w.serverEpoch !== undefined && w.epoch !== undefined && w.serverEpoch > w.epoch;
            return (
              <li key={w.walletId}>
                <article
                  className="wallet"
                  aria-labelledby={`w-${w.walletId}`}
                  data-testid="wallet-card"
                  data-wallet-id={w.walletId}
                  data-address={w.address}
                  data-public-key={w.publicKey}
                  data-server={w.server}
                  data-epoch={w.epoch ?? ""}
                  data-policy={w.policy}
                  data-stale={stale ? "" : undefined}
                >
                  <header className="wallet-head">
                    <h3 id={`w-${w.walletId}`}>{label}</h3>
                    <span className="badge" title="Signers needed of all parties">
                      <span className="visually-hidden">Policy: </span>
                      {w.policy}
                    </span>
                    {epoch > 0 && (
                      <span className="badge badge-muted" title="Refreshed or reshared this many times; backups of older epochs no longer sign" data-testid="wallet-epoch">
                        epoch {epoch}
                      </span>
                    )}
                    <span className={`badge badge-${st.tone}`} title={st.title} data-testid="server-status">
                      <span className="dot" aria-hidden="true" />
                      {st.text}
                    </span>
                  </header>
                  <dl className="facts">
                    <div>
                      <dt>Address</dt>
                      <dd className="with-copy">
                        <code className="mono" data-testid="wallet-address">
                          {w.address}
                        </code>
                        <CopyButton value={w.address} label="address" />
                      </dd>
                    </div>
                    <div>
                      <dt>Public key</dt>
                      <dd className="with-copy">
                        <code className="mono" title={w.publicKey}>
                          {shorten(w.publicKey, 12, 8)}
                        </code>
                        <CopyButton value={w.publicKey} label="public key" />
                      </dd>
                    </div>
                    <div>
                      <dt>Policy</dt>
                      <dd>
                        {w.threshold} of {w.parties.length} shares sign; this browser holds one
                      </dd>
                    </div>
                    <div>
                      <dt>Created</dt>
                      <dd>
                        <time dateTime={new Date(w.createdAt).toISOString()}>{new Date(w.createdAt).toLocaleString()}</time>
                      </dd>
                    </div>
                  </dl>
                  {stale && (
                    <p className="warning" data-testid="stale-share">
                      <strong>This share is out of date.</strong> The wallet was refreshed, or its policy changed, without this browser
                      (it is at epoch {w.serverEpoch}; this share is of epoch {w.epoch}), so this share no longer signs. Import the
                      newest backup of the wallet, or recover it on this device with its recovery code.
                    </p>
                  )}
                  <div className="actions">
                    <button type="button" className="secondary" onClick={() => props.onSign(w.walletId)} disabled={props.busy}>
                      Sign<span className="visually-hidden"> with {label}</span>
                    </button>
                    <button type="button" className="secondary" onClick={() => props.onExport(w.walletId)}>
                      Export backup<span className="visually-hidden"> of {label}</span>
                    </button>
                    <button type="button" className="secondary" onClick={() => props.onRefresh(w.walletId)} disabled={props.busy} data-testid="refresh-wallet">
                      Refresh shares<span className="visually-hidden"> of {label}</span>
                    </button>
                    <button type="button" className="secondary" onClick={() => props.onChangePolicy(w.walletId)} disabled={props.busy} data-testid="change-policy">
                      Change policy<span className="visually-hidden"> of {label}</span>
                    </button>
                    <button type="button" className="secondary" onClick={() => props.onSettle(w.walletId)} disabled={props.busy} data-testid="settle-wallet">
                      Settle a stuck run<span className="visually-hidden"> of {label}</span>
                    </button>
                    <button type="button" className="danger-link" onClick={() => props.onRemove(w.walletId, label)} disabled={props.busy}>
                      Remove<span className="visually-hidden"> {label} from this browser</span>
                    </button>
                  </div>
                </article>
              </li>
            );
          })}
        </ul>
      )}

      {corrupt.length > 0 && (
        <ul className="wallet-list" aria-label="Damaged shares">
          {corrupt.map((id) => (
            <li key={id}>
              <article className="wallet wallet-corrupt" data-testid="corrupt-card">
                <h3>Damaged share</h3>
                <p>
                  The stored share of wallet <code className="mono">{id}</code> cannot be read: it is damaged, or was written by a
                  newer version of this app. Import the wallet again from its backup file, or remove this entry.
                </p>
                <div className="actions">
                  <button type="button" className="danger-link" onClick={() => props.onRemove(id, "the damaged share " + id.slice(0, 8))}>
                    Remove<span className="visually-hidden"> the damaged share</span>
                  </button>
                </div>
              </article>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
