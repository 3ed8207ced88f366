import { useEffect, useState } from "react";

import { LoginForm } from "./components/LoginForm";
import { forgetConfig, loadConfig, type AppConfig, type ConfigLoad } from "./config";
import { Dashboard } from "./Dashboard";

export function App() {
  const [load, setLoad] = useState<ConfigLoad | null>(null);
  const [config, setConfig] = useState<AppConfig | null>(null);

  useEffect(() => {
    let alive = true;
    loadConfig().then((l) => {
      if (!alive) return;
      setLoad(l);
      if (l.kind === "served" && l.config.token && l.config.trustRoot) setConfig(l.config);
      else if (l.kind === "form" && l.saved) setConfig(l.saved);
    });
    return () => {
      alive = false;
    };
  }, []);

  if (!load) {
    return (
      <main className="login" id="main">
        <p className="muted" role="status">
          Loading…
        </p>
      </main>
    );
  }
  if (!config) {
    const served = load.kind === "served" ? load.config : null;
    return (
      <LoginForm
        saved={load.kind === "form" ? load.saved : served}
        note={load.kind === "form" ? load.note : undefined}
        onDone={(c) => setConfig(c)}
      />
    );
  }
  return (
    <Dashboard
      config={config}
      onSignOut={() => {
        forgetConfig();
        setLoad({ kind: "form", saved: null });
        setConfig(null);
      }}
    />
  );
}
