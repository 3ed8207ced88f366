import { useEffect, useId, useRef, type ReactNode } from "react";
import { createPortal } from "react-dom";

const focusable =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal dialog: role="dialog" with aria-modal, the page behind it inert,
 * focus moved in on open, kept in with Tab, and given back on close.
 * Escape closes it only when closable (not while work is running).
 */
export function Modal(props: { title: string; closable: boolean; onClose(): void; children: ReactNode; wide?: boolean }) {
  const { title, closable, onClose, children, wide } = props;
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const closeRef = useRef({ closable, onClose });
  closeRef.current = { closable, onClose };

  useEffect(() => {
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = document.getElementById("root");
    root?.setAttribute("inert", "");
    const first = ref.current?.querySelector<HTMLElement>("[data-autofocus]") ?? ref.current?.querySelector<HTMLElement>(focusable);
    (first ?? ref.current)?.focus();
    return () => {
      root?.removeAttribute("inert");
      // Back to where focus was, unless that control is disabled now (e.g. busy).
      if (previous && previous.isConnected && !previous.matches(":disabled")) previous.focus();
      else document.getElementById("main")?.focus({ preventScroll: true });
    };
  }, []);

  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === "Escape") {
      e.stopPropagation();
      if (closeRef.current.closable) closeRef.current.onClose();
      return;
    }
    if (e.key !== "Tab" || !ref.current) return;
    const items = Array.from(ref.current.querySelectorAll<HTMLElement>(focusable)).filter((el) => el.offsetParent !== null);
    if (items.length === 0) return;
    const first = items[0]!;
    const last = items[items.length - 1]!;
    if (e.shiftKey && (document.activeElement === first || document.activeElement === ref.current)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };

  return createPortal(
    <div className="backdrop">
      <div
        ref={ref}
        className={wide ? "modal modal-wide" : "modal"}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <header className="modal-head">
          <h2 id={titleId}>{title}</h2>
          {closable && (
            <button type="button" className="icon-button" onClick={onClose} aria-label="Close">
              <span aria-hidden="true">×</span>
            </button>
          )}
        </header>
        {children}
      </div>
    </div>,
    document.body,
  );
}
