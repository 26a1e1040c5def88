/** One undo step: removes what a completed step created. */
export type Undo = () => Promise<void> | void;

/**
 * Undoes completed steps when a later one fails (Incus's reverter): every step that creates
 * something registers how to remove it; on failure the undos run newest first; on success
 * they are dropped.
 *
 * ```ts
 * const revert = new Reverter();
 * try {
 *   await createA(); revert.add(() => removeA());
 *   await createB(); revert.add(() => removeB());
 *   revert.success();
 * } catch (err) {
 *   await revert.fail();
 *   throw err;
 * }
 * ```
 */
export class Reverter {
  private undos: Undo[] = [];

  /** Registers the undo of a step that just completed. */
  add(undo: Undo): void {
    this.undos.push(undo);
  }

  /**
   * Runs every registered undo, newest first, each once. An undo that throws does not stop
   * the others, and `fail` itself never throws, so the caller rethrows its original error;
   * returns what the failing undos threw (empty when all succeeded), for logging.
   */
  async fail(): Promise<unknown[]> {
    const undos = this.undos;
    this.undos = [];
    const errors: unknown[] = [];
    for (let i = undos.length - 1; i >= 0; i--) {
      try {
        await undos[i]();
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }

  /** Marks the whole operation as done: the registered undos are dropped and never run. */
  success(): void {
    this.undos = [];
  }

  /**
   * Runs `steps` with a fresh reverter: on success its undos are dropped, on failure they run
   * (newest first) and the original error is rethrown. Returns what `steps` returns.
   */
  static async run<T>(steps: (revert: Reverter) => Promise<T>): Promise<T> {
    const revert = new Reverter();
    try {
      const result = await steps(revert);
      revert.success();
      return result;
    } catch (err) {
      await revert.fail();
      throw err;
    }
  }
}
