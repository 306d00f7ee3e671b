/**
 * Undo steps for what a bench sets up outside its work dir (servers, loop devices, mounts): each
 * step is registered as soon as the thing exists and dropped once it was undone normally, so an
 * error or a signal anywhere in between still leaves the machine as it was.
 */
import { log } from './log.js';

export class Teardown {
  private readonly steps = new Map<number, { what: string; undo: () => void }>();
  private next = 0;

  /** Registers `undo`; the function returned removes it (call it once undone normally). */
  add(what: string, undo: () => void): () => void {
    const id = this.next++;
    this.steps.set(id, { what, undo });
    return () => void this.steps.delete(id);
  }

  /** Runs every step still registered, newest first (a mount before its loop device); never throws. */
  runAll(): void {
    for (const id of [...this.steps.keys()].reverse()) {
      const step = this.steps.get(id)!;
      this.steps.delete(id);
      try {
        step.undo();
      } catch (err) {
        log(`cleanup: ${step.what}: ${(err as Error).message}`);
      }
    }
  }

  /** Whether nothing is left to undo (so removing the work dir cannot reach through a mount). */
  get empty(): boolean {
    return this.steps.size === 0;
  }
}
