// The strength meter shows the SDK's own password rule (the same rule the
// CLI party and the account API apply): createWallet refuses what the
// meter calls too weak, so the form says so first.
import { MIN_PASSWORD_BITS, MIN_PASSWORD_LENGTH, passwordStrength as rule } from "@tsskit/sdk";

export { MIN_PASSWORD_LENGTH };

export interface Strength {
  score: 0 | 1 | 2 | 3 | 4;
  label: string;
  advice: string;
  /** Why the rule refuses it ("" when it is accepted). */
  refusal: string;
}

export function passwordStrength(pw: string): Strength {
  if (pw.length === 0) {
    return { score: 0, label: "", advice: `Use at least ${MIN_PASSWORD_LENGTH} characters; a few unrelated words work well.`, refusal: "Enter a password." };
  }
  const r = rule(pw);
  if (!r.ok) {
    const reason = r.reason.charAt(0).toUpperCase() + r.reason.slice(1) + ".";
    return { score: 1, label: r.code === "too_short" ? "Too short" : "Too weak", advice: reason, refusal: reason };
  }
  if (r.bits < MIN_PASSWORD_BITS + 20) return { score: 2, label: "Fair", advice: "Longer is better: add another word.", refusal: "" };
  if (r.bits < MIN_PASSWORD_BITS + 40) return { score: 3, label: "Good", advice: "Store it somewhere safe.", refusal: "" };
  return { score: 4, label: "Strong", advice: "Store it somewhere safe.", refusal: "" };
}
