import { forwardRef, useEffect, useId, useImperativeHandle, useRef, useState } from "react";

import { explain } from "../lib/errors";
import type { CoManagedWalletService } from "../services/coManagedWalletService";
import { downloadBlob } from "./download";
import { ErrorBox, Field } from "./Field";

export interface BackupSectionHandle {
  focusExport(): void;
  focusImport(): void;
}

export const BackupSection = forwardRef<BackupSectionHandle, { service: CoManagedWalletService; walletId: string; onWalletChange(id: string): void; onImported(label: string, replaced: boolean): void }>(
  function BackupSection({ service, walletId, onWalletChange, onImported }, handle) {
    const wallets = service.wallets;
    const selected = wallets.find((w) => w.walletId === walletId) ?? null;
    const exportSelect = useRef<HTMLSelectElement>(null);
    const fileInput = useRef<HTMLInputElement>(null);
    const ids = { wallet: useId(), file: useId(), fileHint: useId() };
    useImperativeHandle(handle, () => ({
      focusExport: () => exportSelect.current?.focus(),
      focusImport: () => fileInput.current?.focus(),
    }));

    useEffect(() => {
      if (!selected && wallets.length > 0) onWalletChange(wallets[0]!.walletId);
    }, [selected, wallets, onWalletChange]);

    const [exportPassword, setExportPassword] = useState("");
    const [exporting, setExporting] = useState(false);
    const [exported, setExported] = useState("");
    const [exportError, setExportError] = useState("");

    const [file, setFile] = useState<File | null>(null);
    const [importPassword, setImportPassword] = useState("");
    const [importing, setImporting] = useState(false);
    const [imported, setImported] = useState("");
    const [importError, setImportError] = useState("");

    const doExport = async (e: React.FormEvent) => {
      e.preventDefault();
      if (!selected) return;
      setExporting(true);
      setExportError("");
      setExported("");
      try {
        const { blob, fileName } = await service.exportBackup(selected.walletId, exportPassword);
        downloadBlob(blob, fileName);
        setExported(fileName);
        setExportPassword("");
      } catch (err) {
        setExportError(explain(err));
      } finally {
        setExporting(false);
      }
    };

    const doImport = async (e: React.FormEvent) => {
      e.preventDefault();
      setImportError("");
      setImported("");
      if (!file) {
        setImportError("Choose a backup file first.");
        return;
      }
      setImporting(true);
      try {
        const w = await service.importBackup(file, importPassword);
        const label = `${w.name || "wallet " + w.walletId.slice(0, 8)} (${w.address})`;
        setImported(w.replaced ? `Replaced the share of ${label} with the backup's newer one` : `Imported ${label}`);
        setImportPassword("");
        setFile(null);
        if (fileInput.current) fileInput.current.value = "";
        onImported(label, w.replaced);
      } catch (err) {
        setImportError(explain(err));
      } finally {
        setImporting(false);
      }
    };

    return (
      <section className="card" aria-labelledby="backup-title" data-testid="backup-section">
        <h2 id="backup-title">Backup</h2>
        <p className="muted">
          A backup file holds this browser's share, encrypted with the wallet's password. It is useless without the password,
          and the password is useless without it.
        </p>
        <div className="two-col">
          <form onSubmit={doExport} aria-labelledby="export-title" noValidate>
            <h3 id="export-title">Export</h3>
            {wallets.length === 0 ? (
              <p className="muted">No wallet to export yet.</p>
            ) : (
              <>
                <div className="field">
                  <label htmlFor={ids.wallet}>Wallet</label>
                  <select
                    id={ids.wallet}
                    ref={exportSelect}
                    value={selected?.walletId ?? ""}
                    onChange={(e) => {
                      onWalletChange(e.target.value);
                      setExported("");
                      setExportError("");
                    }}
                    data-testid="export-wallet"
                  >
                    {wallets.map((w) => (
                      <option key={w.walletId} value={w.walletId}>
                        {(w.name || "Imported wallet " + w.walletId.slice(0, 8)) + " — " + w.address.slice(0, 10) + "…"}
                      </option>
                    ))}
                  </select>
                </div>
                <Field
                  label="Wallet password"
                  type="password"
                  value={exportPassword}
                  onChange={setExportPassword}
                  autoComplete="current-password"
                  testId="export-password"
                />
                <div className="form-actions">
                  <button type="submit" className="primary" disabled={exporting} data-testid="export-submit">
                    {exporting ? "Checking the password…" : "Download backup"}
                  </button>
                </div>
                {exported && (
                  <p role="status" className="ok-text" data-testid="export-done">
                    Saved <code>{exported}</code>.
                  </p>
                )}
                {exportError && <ErrorBox message={exportError} testId="export-error" />}
              </>
            )}
          </form>

          <form onSubmit={doImport} aria-labelledby="import-title" noValidate>
            <h3 id="import-title">Import</h3>
            <div className="field">
              <label htmlFor={ids.file}>Backup file</label>
              <input
                id={ids.file}
                ref={fileInput}
                type="file"
                accept=".json,application/json"
                onChange={(e) => {
                  setFile(e.target.files?.[0] ?? null);
                  setImportError("");
                  setImported("");
                }}
                aria-describedby={ids.fileHint}
                data-testid="import-file"
              />
              <p className="hint" id={ids.fileHint}>
                A <code>tsskit-backup-….json</code> file exported here, or a backup written by the tsskit CLI party.
              </p>
            </div>
            <Field
              label="Password of the backup"
              type="password"
              value={importPassword}
              onChange={setImportPassword}
              autoComplete="current-password"
              testId="import-password"
            />
            <div className="form-actions">
              <button type="submit" className="primary" disabled={importing} data-testid="import-submit">
                {importing ? "Importing…" : "Import"}
              </button>
            </div>
            {imported && (
              <p role="status" className="ok-text" data-testid="import-done">
                {imported}.
              </p>
            )}
            {importError && <ErrorBox message={importError} testId="import-error" />}
          </form>
        </div>
      </section>
    );
  },
);
