/** An error from tss.wasm, the worker or a session, with a code to switch on. */
export class TsskitError extends Error {
  override readonly name = "TsskitError";
  readonly code: string;
  readonly culprits: string[];
  constructor(code: string, message: string, culprits: string[] = []) {
    super(message);
    this.code = code;
    this.culprits = culprits;
  }
  static from(e: unknown): TsskitError {
    if (e instanceof TsskitError) return e;
    if (e && typeof e === "object" && "code" in e && "message" in e) {
      const o = e as { code: unknown; message: unknown; culprits?: unknown };
      return new TsskitError(String(o.code), String(o.message), Array.isArray(o.culprits) ? o.culprits.map(String) : []);
    }
    return new TsskitError("internal", String(e));
  }
}
