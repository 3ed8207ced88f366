// A rough strength hint: length and variety. It is a hint, not a policy;
// the only rule is the minimum length.
export const MIN_PASSWORD_LENGTH = 10;

export interface Strength {
  score: 0 | 1 | 2 | 3 | 4;
  label: string;
  advice: string;
}

export function passwordStrength(pw: string): Strength {
  if (pw.length === 0) return { score: 0, label: "", advice: `Use at least ${MIN_PASSWORD_LENGTH} characters; a few unrelated words work well.` };
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(pw)).length;
  const unique = new Set(pw).size;
  // ~bits: length times log2 of the alphabet the classes suggest, damped by repetition.
  const alphabet = [0, 26, 52, 62, 94][classes] ?? 94;
  const bits = pw.length * Math.log2(Math.max(2, alphabet)) * Math.min(1, unique / Math.max(4, pw.length * 0.6));
  if (pw.length < MIN_PASSWORD_LENGTH) return { score: 1, label: "Too short", advice: `Use at least ${MIN_PASSWORD_LENGTH} characters.` };
  if (bits < 50) return { score: 1, label: "Weak", advice: "Make it longer, or mix in words, digits and symbols." };
  if (bits < 70) return { score: 2, label: "Fair", advice: "Longer is better: add another word." };
  if (bits < 90) return { score: 3, label: "Good", advice: "Store it somewhere safe." };
  return { score: 4, label: "Strong", advice: "Store it somewhere safe." };
}
