import { useState } from "react";

import { builtInTrustRoot, checkTrustRoot, checkUrl, saveConfig, type AppConfig } from "../config";
import { ErrorBox, Field } from "./Field";

/** Where to find the services and the admin token, when the web server does not say. */
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
    token: token.trim() === "" ? "Paste an admin token." : token.trim().split(".").length !== 3 ? "An admin token has three parts separated by dots." : "",
    trustRoot: checkTrustRoot(trustRoot),
  };
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (Object.values(errors).some(Boolean)) return;
    const c: AppConfig = {
      coordinatorUrl: coordinatorUrl.trim(), routerUrl: routerUrl.trim(), wasmUrl: wasmUrl.trim(), token: token.trim(),
      trustRoot: trustRoot.trim().toLowerCase(), dev: false,
    };
    saveConfig(c);
    onDone(c);
  };
  return (
    <main className="login" id="main">
      <section className="card" aria-labelledby="login-title">
        <h1 id="login-title">Sign in to tsskit admin</h1>
        <p>
          This app needs the addresses of the tsskit coordinator and router, and an admin token. Make a token with{" "}
          <code>tsskit token</code> on a machine that has the deployment's <code>JWT_SECRET_KEY</code>. It is kept in this tab
          only.
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
            hint="tss-worker.js and wasm_exec.js must be beside it."
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
            label="Admin token"
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
