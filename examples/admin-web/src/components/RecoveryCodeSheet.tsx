import { useId } from "react";

/**
 * A new wallet's recovery code, shown once (the SDK never stores it):
 * the 12 words numbered, the address they go with, what they are worth,
 * and the box the user ticks once they are written down.
 */
export function RecoveryCodeSheet(props: { code: string; address: string; kept: boolean; onKept(kept: boolean): void }) {
  const words = props.code.split(" ");
  const hint = useId();
  return (
    <div className="callout recovery-sheet" data-testid="recovery-sheet">
      <p>
        <strong>Write down this recovery code and the wallet's address, on paper, now.</strong> They are shown only this once.
        If this browser is lost with its backup, they are how a new browser gets the wallet back (Recover a wallet on this
        device).
      </p>
      <ol className="recovery-words" data-testid="recovery-code" aria-label="Recovery code, 12 words">
        {words.map((w, i) => (
          <li key={i}>
            <span className="mono">{w}</span>
          </li>
        ))}
      </ol>
      <p className="small">
        Address: <code className="mono">{props.address}</code>
      </p>
      <p className="warning" id={hint}>
        Whoever has these words can take this wallet over from the server parties, without your password. Keep them apart from
        this computer and never type them into a site or a message.
      </p>
      <label className="check">
        <input type="checkbox" checked={props.kept} onChange={(e) => props.onKept(e.target.checked)} aria-describedby={hint} data-testid="recovery-kept" />
        <span>I have written down the 12 words and the address.</span>
      </label>
    </div>
  );
}
