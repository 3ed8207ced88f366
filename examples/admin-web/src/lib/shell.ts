/**
 * One POSIX shell word: as is when it has only safe characters, else in
 * single quotes (a quote inside as '\''). Commands the app shows for
 * pasting carry values from the coordinator (a wallet id), and are run on
 * machines that hold keys.
 */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9._:/=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
