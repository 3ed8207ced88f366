// A wallet's policy: signers needed of all parties. The same rule for a
// new wallet and for a change of policy: this browser holds one share,
// so it alone must never be enough to sign (at least 2 signers), and the
// coordinator lets a user token (this app's) make or reshare wallets of at
// most 5 parties (coordinator.MaxUserParties; 16, store.MaxHolders, is
// the limit for every token, and the SDK's own check).

/** The most parties a wallet of this app may have, this browser included. */
export const MAX_PARTIES = 5;

/** "" when threshold-of-parties is a policy the coordinator accepts, else what is wrong. */
export function checkPolicy(threshold: number, parties: number): string {
  if (!Number.isSafeInteger(parties) || parties < 2 || parties > MAX_PARTIES) return `A wallet has 2 to ${MAX_PARTIES} parties in all.`;
  if (!Number.isSafeInteger(threshold) || threshold < 2) return "At least 2 signers: this browser alone must never be able to sign.";
  if (threshold > parties) return `${threshold} signers cannot be needed of ${parties} parties.`;
  return "";
}

/** The choices for the number of parties: 2..MAX_PARTIES, and `current` (a wallet's present number) if it is more. */
export const partyChoices = (current = 0): number[] => Array.from({ length: Math.max(MAX_PARTIES, current) - 1 }, (_, i) => i + 2);

/** The choices for signers needed of `parties`: 2..parties. */
export const signerChoices = (parties: number): number[] => Array.from({ length: Math.max(0, parties - 1) }, (_, i) => i + 2);

/** "This browser holds 1 share and 3 server parties hold the others. Any 3 of the 4 shares sign together." */
export function describePolicy(threshold: number, parties: number): string {
  const servers = parties - 1;
  return (
    `This browser holds 1 share and ${servers} server ${servers === 1 ? "party holds" : "parties hold"} the others. ` +
    `Any ${threshold} of the ${parties} shares sign together.`
  );
}

/**
 * A lost browser can be replaced (recovery) only when the server parties
 * alone are enough signers: the recovery reshare runs with them and the
 * new browser, which holds nothing yet.
 */
export const recoveryPossible = (threshold: number, parties: number): boolean => parties - 1 >= threshold;

/** Why a policy allows no recovery, or "". */
export function recoveryRefusal(threshold: number, parties: number): string {
  if (recoveryPossible(threshold, parties)) return "";
  return (
    `A recovery needs ${threshold} server parties to hand the wallet over without this browser; ${threshold}-of-${parties} has ` +
    `${parties - 1}. Choose fewer signers or more parties to allow it.`
  );
}
