import { useId, useState, type ReactNode } from "react";

/** A labelled input with an optional hint and error, wired with aria-describedby. */
export function Field(props: {
  label: string;
  value: string;
  onChange(v: string): void;
  type?: "text" | "password" | "url";
  hint?: ReactNode;
  error?: string;
  autoComplete?: string;
  required?: boolean;
  maxLength?: number;
  autoFocus?: boolean;
  testId?: string;
  placeholder?: string;
  spellCheck?: boolean;
  after?: ReactNode;
  /** Ids of other elements that describe the input (beside its hint and error). */
  describedBy?: string;
}) {
  const id = useId();
  const [shown, setShown] = useState(false);
  const isPassword = props.type === "password";
  const described = [props.hint ? `${id}-hint` : "", props.error ? `${id}-err` : "", props.describedBy ?? ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>
        {props.label}
        {props.required && <span className="required" aria-hidden="true"> *</span>}
      </label>
      <div className="input-row">
        <input
          id={id}
          type={isPassword ? (shown ? "text" : "password") : props.type ?? "text"}
          value={props.value}
          onChange={(e) => props.onChange(e.target.value)}
          autoComplete={props.autoComplete}
          required={props.required}
          maxLength={props.maxLength}
          aria-invalid={props.error ? true : undefined}
          aria-describedby={described}
          data-autofocus={props.autoFocus ? "" : undefined}
          data-testid={props.testId}
          placeholder={props.placeholder}
          spellCheck={props.spellCheck}
        />
        {isPassword && (
          <button type="button" className="secondary small" aria-pressed={shown} onClick={() => setShown((s) => !s)}>
            {shown ? "Hide" : "Show"}
            <span className="visually-hidden"> password</span>
          </button>
        )}
      </div>
      {props.after}
      {props.hint && (
        <p className="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p className="field-error" id={`${id}-err`}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** An error box for a failed action: role="alert", words only. */
export function ErrorBox({ message, testId }: { message: string; testId?: string }) {
  return (
    <div className="error-box" role="alert" data-testid={testId}>
      <span className="error-icon" aria-hidden="true">!</span>
      <p>{message}</p>
    </div>
  );
}
