import type { Queued } from "@tsskit/sdk";

/**
 * The sentence for server parties of the session waiting for a work slot
 * (the SDK's progress.queued): the session waits its turn, it is not stuck.
 */
export function describeQueued(q: Queued | undefined): string {
  if (!q) return "";
  const who = q.parties.length === 1 ? "A server party is" : `${q.parties.length} server parties are`;
  const place = q.position === 1 ? "next in line" : `number ${q.position} in line`;
  return `${who} busy with other sessions; this one is ${place}.`;
}
