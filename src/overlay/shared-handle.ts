import type { FileHandle } from 'node:fs/promises';

/**
 * A file handle that reads may still be using after its owner has moved on: compaction swaps
 * an overlay onto a new file while reads planned against the old one are in flight (the old
 * inode stays readable until closed), so the old handle is closed only when its last user is done.
 */
export class SharedHandle {
  private users = 0;
  private retired = false;
  private closed: Promise<void> | undefined;
  private onIdle: (() => void) | undefined;

  constructor(readonly fh: FileHandle) {}

  /** Marks one more user; pair with {@link release}. */
  acquire(): FileHandle {
    this.users++;
    return this.fh;
  }

  /** Ends one use; the last use of a retired handle closes it. */
  release(): void {
    if (--this.users === 0) this.onIdle?.();
  }

  /** Closes the handle once nobody uses it; resolves when it is closed. Never throws. */
  retire(): Promise<void> {
    if (this.retired) return this.closed!;
    this.retired = true;
    const idle = this.users === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.onIdle = resolve));
    this.closed = idle.then(() => this.fh.close()).catch(() => {});
    return this.closed;
  }
}
