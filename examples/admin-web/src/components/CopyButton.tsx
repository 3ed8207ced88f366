import { useEffect, useState } from "react";

/** Copies value to the clipboard; says so (also to screen readers). */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const t = setTimeout(() => setState("idle"), 2000);
    return () => clearTimeout(t);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setState("copied");
    } catch {
      setState(fallbackCopy(value) ? "copied" : "failed");
    }
  };
  return (
    <>
      <button type="button" className="copy-button" onClick={copy} aria-label={`Copy ${label}`}>
        <span aria-hidden="true">{state === "copied" ? "Copied" : state === "failed" ? "Copy failed" : "Copy"}</span>
      </button>
      <span className="visually-hidden" role="status">
        {state === "copied" ? `${label} copied` : state === "failed" ? `Could not copy the ${label}` : ""}
      </span>
    </>
  );
}

/** Where the Clipboard API is not allowed (plain http on another host), a hidden text area. */
function fallbackCopy(value: string): boolean {
  const ta = document.createElement("textarea");
  ta.value = value;
  ta.setAttribute("readonly", "");
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}
