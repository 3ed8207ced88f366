import { type CreatedWallet, runHeld } from "@tsskit/sdk";
import { useCallback, useRef, useState } from "react";

import { BackupSection, type BackupSectionHandle } from "./components/BackupSection";
import { CoManagedWalletSection } from "./components/CoManagedWalletSection";
import { CreateWalletModal } from "./components/CreateWalletModal";
import { LifecycleModal, type LifecycleMode } from "./components/LifecycleModal";
import { Modal } from "./components/Modal";
import { RecoverModal } from "./components/RecoverModal";
import { RecoveryCodeSheet } from "./components/RecoveryCodeSheet";
import { SettleModal } from "./components/SettleModal";
import { SignSection } from "./components/SignSection";
import type { AppConfig } from "./config";
import { explain } from "./lib/errors";
import { useCoManagedWalletService } from "./services/coManagedWalletService";

interface Notice {
  tone: "ok" | "info" | "bad";
  text: string;
}

export function Dashboard({ config, onSignOut }: { config: AppConfig; onSignOut(): void }) {
  const service = useCoManagedWalletService(config);
  const [creating, setCreating] = useState(false);
  const [recovering, setRecovering] = useState(false);
  // A keygen finished after its modal was canceled: its recovery code is still shown once, here.
  const [lateCode, setLateCode] = useState<CreatedWallet | null>(null);
  const [lateKept, setLateKept] = useState(false);
  // A refresh or change of policy: of which wallet.
  const [lifecycle, setLifecycle] = useState<{ walletId: string; mode: LifecycleMode } | null>(null);
  // Settling a run in limbo: of which wallet.
  const [settling, setSettling] = useState("");
  const [notice, setNotice] = useState<Notice | null>(null);
  const [signWallet, setSignWallet] = useState("");
  const [exportWallet, setExportWallet] = useState("");
  const signRef = useRef<HTMLSelectElement>(null);
  const backupRef = useRef<BackupSectionHandle>(null);

  const { engine } = service;
  const busy = engine.status === "busy";
  const lifecycleWallet = lifecycle ? service.wallets.find((w) => w.walletId === lifecycle.walletId) : undefined;
  const settleWallet = settling ? service.wallets.find((w) => w.walletId === settling) : undefined;

  const remove = useCallback(
    async (walletId: string, label: string) => {
      // A run being settled here (frozen or pinned) goes with the wallet:
      // the other holders then settle it naming this browser silent.
      const held = (await service.reshareRuns(walletId).catch(() => [])).filter(runHeld);
      const settling = held.length
        ? `\n\nA stuck refresh of it is being settled here (${held.map((r) => `epoch ${r.epoch}, ${r.state}`).join("; ")}): its share is deleted too, and the other holders must then settle it naming this browser silent.`
        : "";
      const ok = window.confirm(
        `Remove ${label} from this browser?\n\nOnly this browser's share is deleted. Without a backup file of it, this wallet may no longer be able to sign.${settling}`,
      );
      if (!ok) return;
      try {
        await service.remove(walletId);
        setNotice({ tone: "info", text: `Removed ${label} from this browser.` });
      } catch (e) {
        setNotice({ tone: "bad", text: explain(e) });
      }
    },
    [service],
  );

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          <div>
            <h1 className="app-name">tsskit admin</h1>
            <p className="muted small">Threshold-ECDSA co-managed wallets</p>
          </div>
        </div>
        <div className="session">
          {config.dev ? (
            <p className="pill pill-dev" data-testid="dev-token">
              <span aria-hidden="true">⚙ </span>Development token from tsskit dev
            </p>
          ) : (
            <button type="button" className="secondary small" onClick={onSignOut}>
              Sign out
            </button>
          )}
          <EngineStatus service={service} />
        </div>
      </header>

      <main id="main" className="content" tabIndex={-1}>
        {config.dev && (
          <p className="dev-banner">
            Connected to a <strong>tsskit dev</strong> stack (coordinator <code>{config.coordinatorUrl}</code>). The web server
            gave this page a development user token automatically. Not for real funds.
          </p>
        )}
        <div className="notice-area" role="status" aria-live="polite">
          {notice && (
            <div className={`notice notice-${notice.tone}`} data-testid="notice">
              <p>{notice.text}</p>
              <button type="button" className="icon-button" onClick={() => setNotice(null)} aria-label="Dismiss message">
                <span aria-hidden="true">×</span>
              </button>
            </div>
          )}
        </div>
        {engine.status === "error" && (
          <div className="error-box" role="alert" data-testid="engine-error">
            <span className="error-icon" aria-hidden="true">!</span>
            <p>
              The signing engine could not start: {explain(engine.error)} Check that this server serves <code>{config.wasmUrl}</code>{" "}
              (run <code>make wasm</code>), then reload the page.
            </p>
          </div>
        )}
        {service.coordinator === "unreachable" && (
          <div className="error-box" role="alert">
            <span className="error-icon" aria-hidden="true">!</span>
            <p>
              The coordinator at <code>{config.coordinatorUrl}</code> does not answer. Your shares are safe in this browser; signing
              needs the coordinator and the server parties.
            </p>
          </div>
        )}

        <CoManagedWalletSection
          wallets={service.wallets}
          corrupt={service.corrupt}
          loading={service.loading}
          busy={busy}
          onCreate={() => {
            setNotice(null);
            setCreating(true);
          }}
          onImport={() => backupRef.current?.focusImport()}
          onRecover={() => {
            setNotice(null);
            setRecovering(true);
          }}
          onSign={(id) => {
            setSignWallet(id);
            signRef.current?.scrollIntoView({ block: "center" });
            signRef.current?.focus();
          }}
          onExport={(id) => {
            setExportWallet(id);
            backupRef.current?.focusExport();
          }}
          onRefresh={(id) => {
            setNotice(null);
            setLifecycle({ walletId: id, mode: "refresh" });
          }}
          onChangePolicy={(id) => {
            setNotice(null);
            setLifecycle({ walletId: id, mode: "policy" });
          }}
          onSettle={(id) => {
            setNotice(null);
            setSettling(id);
          }}
          onRemove={remove}
        />
        <SignSection ref={signRef} service={service} walletId={signWallet} onWalletChange={setSignWallet} />
        <BackupSection
          ref={backupRef}
          service={service}
          walletId={exportWallet}
          onWalletChange={setExportWallet}
          onImported={(label, replaced) =>
            setNotice({
              tone: "ok",
              text: replaced
                ? `Replaced this browser's share of ${label} with the newer one from the backup. It signs again.`
                : `Imported ${label}. It is listed under Co-managed wallets.`,
            })
          }
        />
      </main>
      <footer className="app-footer muted small">
        Shares stay in this browser (IndexedDB), encrypted with your password. Keygen and signing run in Web Workers (tss.wasm).
      </footer>

      {lifecycle && lifecycleWallet && (
        <LifecycleModal
          key={lifecycle.walletId + lifecycle.mode}
          service={service}
          wallet={lifecycleWallet}
          mode={lifecycle.mode}
          onClose={() => setLifecycle(null)}
          onCanceled={() => {
            setLifecycle(null);
            setNotice({
              tone: "info",
              text: lifecycle.mode === "refresh" ? "Refresh canceled. The wallet's shares are unchanged." : "Change of policy canceled. The wallet is unchanged.",
            });
          }}
          onDone={(w) =>
            setNotice({
              tone: "ok",
              text:
                lifecycle.mode === "refresh"
                  ? `Refreshed the shares of ${w.address}: epoch ${w.epoch}. Download a new backup; older ones no longer sign.`
                  : `${w.address} is now ${w.threshold}-of-${w.parties}, epoch ${w.epoch}. Download a new backup; older ones no longer sign.`,
            })
          }
        />
      )}
      {settleWallet && <SettleModal key={settleWallet.walletId} service={service} wallet={settleWallet} onClose={() => setSettling("")} />}
      {creating && (
        <CreateWalletModal
          service={service}
          recoveryBackend={config.recoveryBackend}
          onClose={() => setCreating(false)}
          onCancelRequested={() => {
            setCreating(false);
            setNotice({ tone: "info", text: "Canceling wallet creation… The current step finishes first; nothing will be kept." });
          }}
          onCanceled={() => {
            setCreating(false);
            setNotice({ tone: "info", text: "Wallet creation canceled. Nothing was saved." });
          }}
          onCreated={(w, lateCancel) => {
            setNotice(
              lateCancel
                ? { tone: "info", text: `The wallet was finished before the cancel took effect: ${w.address}. It is listed below.` }
                : { tone: "ok", text: `Created wallet ${w.address}.` }
            );
            if (lateCancel && w.recoveryCode) {
              setLateKept(false);
              setLateCode(w);
            }
          }}
        />
      )}
      {lateCode?.recoveryCode && !recovering && !lifecycle && (
        <Modal title="The canceled wallet was made" closable={lateKept} onClose={() => setLateCode(null)} wide>
          <p>
            The wallet <code className="mono">{lateCode.address}</code> was finished before the cancel took effect. Keep it or
            remove it; either way, its recovery code is shown now and never again.
          </p>
          <RecoveryCodeSheet code={lateCode.recoveryCode} address={lateCode.address} kept={lateKept} onKept={setLateKept} />
          <div className="modal-actions">
            <button type="button" className="secondary" onClick={() => setLateCode(null)} disabled={!lateKept}>
              Done
            </button>
          </div>
        </Modal>
      )}
      {recovering && (
        <RecoverModal
          service={service}
          onClose={() => setRecovering(false)}
          onCanceled={() => {
            setRecovering(false);
            setNotice({ tone: "info", text: "Recovery canceled. Nothing was stored and the wallet is unchanged." });
          }}
          onDone={(w) =>
            setNotice({
              tone: "ok",
              text: `Recovered ${w.address} onto this browser: epoch ${w.epoch}. The lost browser's share and older backups no longer sign.`,
            })
          }
        />
      )}
    </>
  );
}

function EngineStatus({ service }: { service: ReturnType<typeof useCoManagedWalletService> }) {
  const { status, progress, version } = service.engine;
  const text =
    status === "loading"
      ? `Loading the signing engine… ${progress ? Math.round(progress.fraction * 100) + "%" : ""}`
      : status === "ready"
        ? "Signing engine ready"
        : status === "busy"
          ? "Signing engine working…"
          : status === "error"
            ? "Signing engine failed to load"
            : "Signing engine closed";
  return (
    <p className={`pill pill-${status}`} data-testid="engine-status" data-status={status} title={version ? `tss.wasm ${version}` : undefined}>
      <span className="dot" aria-hidden="true" />
      {text}
    </p>
  );
}
