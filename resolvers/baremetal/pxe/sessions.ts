import { randomBytes } from 'node:crypto';

/**
 * The deploys and cleanings waiting for their node right now: the secret boot path a node
 * fetches its iPXE script, kernel and ramdisk under, and the one-time call-back token. Both are
 * random, valid only while the deploy waits, and known only to this process (the HTTP routes of
 * server/pxe-http.ts read them here).
 */

/** The files a node may fetch under its boot token. */
export const BOOT_FILES = ['boot.ipxe', 'vmlinuz', 'initrd.img', 'user-data'] as const;
export type BootFileName = (typeof BOOT_FILES)[number];

export interface BootSession {
  nodeId: string;
  bootToken: string;
  callbackToken: string;
  /** Absolute paths of the files served under the boot token. */
  files: Record<BootFileName, string>;
  /** Resolves with the report the node POSTed. */
  callback: Promise<string>;
}

interface Entry extends BootSession {
  resolve: (report: string) => void;
  reject: (error: Error) => void;
}

const token = () => randomBytes(24).toString('base64url');

export class PxeSessions {
  private readonly byBoot = new Map<string, Entry>();
  private readonly byCallback = new Map<string, Entry>();
  private readonly byNode = new Map<string, Entry>();

  /** Opens a session for `nodeId`, ending (rejecting) an older one of the same node. */
  open(nodeId: string, files: Record<BootFileName, string>): BootSession {
    this.close(nodeId, new Error('superseded by a newer deploy or clean of the node'));
    let resolve!: (report: string) => void;
    let reject!: (error: Error) => void;
    const callback = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be waiting yet when a session is closed early.
    callback.catch(() => {});
    const entry: Entry = {
      nodeId,
      bootToken: token(),
      callbackToken: token(),
      files,
      callback,
      resolve,
      reject,
    };
    this.byBoot.set(entry.bootToken, entry);
    this.byCallback.set(entry.callbackToken, entry);
    this.byNode.set(nodeId, entry);
    return entry;
  }

  /** The file `name` of the session with `bootToken`, or null. */
  bootFile(bootToken: string, name: string): string | null {
    const entry = this.byBoot.get(bootToken);
    if (!entry || !(BOOT_FILES as readonly string[]).includes(name)) return null;
    return entry.files[name as BootFileName];
  }

  /** Delivers a call-back; false when the token is unknown or already used. One use only. */
  deliver(callbackToken: string, report: string): boolean {
    const entry = this.byCallback.get(callbackToken);
    if (!entry) return false;
    this.byCallback.delete(callbackToken);
    entry.resolve(report);
    return true;
  }

  /** Ends the node's session (its tokens stop working); a waiter gets `reason`. */
  close(nodeId: string, reason = new Error('the deploy ended')): void {
    const entry = this.byNode.get(nodeId);
    if (!entry) return;
    this.byNode.delete(nodeId);
    this.byBoot.delete(entry.bootToken);
    this.byCallback.delete(entry.callbackToken);
    entry.reject(reason);
  }

  /** Nodes with an open session (for tests and diagnostics). */
  nodes(): string[] {
    return [...this.byNode.keys()];
  }
}
