// Records test counts for `make test`'s closing line (scripts/testsummary
// -total): `node scripts/counts.mjs vitest[-name] <vitest json report>` or
// `node scripts/counts.mjs <name> <node --test TAP file>`.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [, , name, file] = process.argv;
const dir = process.env.TSSKIT_COUNTS;
if (!dir) process.exit(0);
let passed = 0, failed = 0, skipped = 0;
const text = readFileSync(file, "utf8");
if (name.startsWith("vitest")) {
  const r = JSON.parse(text);
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
} else {
  const num = (k) => Number((text.match(new RegExp(`^# ${k} (\\d+)$`, "m")) || [0, 0])[1]);
  passed = num("pass");
  failed = num("fail") + num("cancelled");
  skipped = num("skipped") + num("todo");
}
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `${name}.txt`), `${passed} ${failed} ${skipped}\n`);
