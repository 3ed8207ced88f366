import { useState } from "react";

import { builtInRecoveryBackend, builtInTrustRoot, checkTrustRoot, checkUrl, saveConfig, type AppConfig } from "../config";
import { ErrorBox, Field } from "./Field";

/** Where to find the services and the user token, when the web server does not say. */
export function LoginForm({ saved, note, onDone }: { saved: AppConfig | null; note?: string; onDone(c: AppConfig): void }) {
  const [coordinatorUrl, setCoordinator] = useState(saved?.coordinatorUrl ?? "http://localhost:8081");
  const [routerUrl, setRouter] = useState(saved?.routerUrl ?? "http://localhost:8082");
  const [wasmUrl, setWasm] = useState(saved?.wasmUrl ?? "/tss.wasm");
  const [token, setToken] = useState("");
  const [trustRoot, setTrustRoot] = useState(saved?.trustRoot || builtInTrustRoot);
  const [submitted, setSubmitted] = useState(false);
  const errors = {
    coordinatorUrl: checkUrl(coordinatorUrl),
    routerUrl: checkUrl(routerUrl),
    wasmUrl: checkUrl(wasmUrl),
    token: token.trim() === "" ? "Paste a user token." : token.trim().split(".").length !== 3 ? "A user token has three parts separated by dots." : "",
    trustRoot: checkTrustRoot(trustRoot),
  };
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (Object.values(errors).some(Boolean)) return;
    const c: AppConfig = {
      coordinatorUrl: coordinatorUrl.trim(), routerUrl: routerUrl.trim(), wasmUrl: wasmUrl.trim(), token: token.trim(),
      trustRoot: trustRoot.trim().toLowerCase(), dev: false, recoveryBackend: builtInRecoveryBackend,
    };
    saveConfig(c);
    onDone(c);
  };
  return (
    <main className="login" id="main">
      <section className="card" aria-labelledby="login-title">
        <h1 id="login-title">Sign in to tsskit admin</h1>
        <p>
          This app needs the addresses of the tsskit coordinator and router, and a user token: your app's backend gets
          one for its signed-in user from the account API (<code>POST /api/v1/users/&#123;user_id&#125;/tokens</code>), or an
          operator makes one with <code>tsskit token --user ID</code>. It sees and signs that user's wallets only, and is
          kept in this tab only.
        </p>
        {note && <ErrorBox message={note + " Enter the connection details below."} />}
        <form onSubmit={submit} noValidate data-testid="login-form">
          <Field label="Coordinator URL" type="url" value={coordinatorUrl} onChange={setCoordinator} required error={submitted ? errors.coordinatorUrl : ""} />
          <Field label="Router URL" type="url" value={routerUrl} onChange={setRouter} required error={submitted ? errors.routerUrl : ""} />
          <Field
            label="tss.wasm URL"
            value={wasmUrl}
            onChange={setWasm}
            required
            hint="tss-worker.js must be beside it."
            error={submitted ? errors.wasmUrl : ""}
          />
          <Field
            label="Deployment root key"
            value={trustRoot}
            onChange={setTrustRoot}
            required
            autoComplete="off"
            hint="The public key your operator's tsskit identity init printed. Server parties must be certified by it."
            error={submitted ? errors.trustRoot : ""}
            testId="login-trust-root"
          />
          <Field
            label="User token"
            type="password"
            value={token}
            onChange={setToken}
            required
            autoComplete="off"
            error={submitted ? errors.token : ""}
            testId="login-token"
          />
          <div className="form-actions">
            <button type="submit" className="primary">
              Continue
            </button>
          </div>
        </form>
      </section>
    </main>
  );
}
