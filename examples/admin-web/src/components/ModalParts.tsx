import type { ReactNode } from "react";

import type { CoManagedWalletService } from "../services/coManagedWalletService";
import { ErrorBox } from "./Field";

/** The prompt at the end of a keygen, refresh or recovery: why a backup now, the button, and what came of it. */
export function BackupPrompt(props: { children: ReactNode; label: string; onDownload(): void; downloaded: string; error: string }) {
  return (
    <div className="callout">
      <p>{props.children}</p>
      <button type="button" className="primary" onClick={props.onDownload} data-testid="download-backup">
        {props.label}
      </button>
      {props.downloaded && (
        <p role="status" className="ok-text">
          Saved <code>{props.downloaded}</code>. Keep it somewhere other than this computer.
        </p>
      )}
      {props.error && <ErrorBox message={props.error} />}
    </div>
  );
}

/** Why a form's submit button is disabled: the engine is loading, failed to load, or busy. */
export function EngineHint({ status }: { status: CoManagedWalletService["engine"]["status"] }) {
  if (status === "ready") return null;
  return (
    <p className="hint" role="status">
      {status === "error"
        ? "The signing engine did not load; see the message on the page."
        : status === "busy"
          ? "The signing engine is busy; it is free again when the current keygen or signing ends."
          : "Loading the signing engine (tss.wasm)…"}
    </p>
  );
}
