import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';

/** What a finished tool printed. */
export interface ToolOutput {
  stdout: string;
  stderr: string;
}

/** A tool that could not run or exited with a failure; `stderr` is what it printed, trimmed. */
export class ToolFailure extends Error {
  constructor(
    readonly binary: string,
    readonly stderr: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Runs `binary` with `args` (no shell) and resolves with its output; throws `ToolFailure`
 * when it cannot be started, exits non-zero or outlives `timeoutMs` (it is then killed).
 */
export function runTool(
  binary: string,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<ToolOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        const printed = (stderr || stdout || '').trim();
        const code = (err as NodeJS.ErrnoException).code;
        let reason: string;
        if (code === 'ENOENT') reason = `${binary} was not found`;
        else if (code === 'EACCES') reason = `${binary} is not executable`;
        else if (err.killed)
          reason = `${binary} did not finish within ${options.timeoutMs ?? 60_000} ms`;
        else reason = printed || err.message;
        reject(new ToolFailure(binary, printed || reason, reason, { cause: err }));
      },
    );
  });
}

/**
 * True while process `pid` exists and is not a zombie. QEMU daemonizes, so it is not our
 * child; where nobody reaps orphans (a container whose init does not), a killed QEMU stays a
 * zombie, which still answers `kill(pid, 0)`: /proc tells them apart.
 */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ...; comm may contain spaces and parentheses: take the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (err) {
    // No /proc (not Linux): trust kill(pid, 0). No such entry: it is gone.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !(await hasProc());
  }
}

let procMounted: boolean | undefined;
async function hasProc(): Promise<boolean> {
  if (procMounted === undefined) {
    procMounted = await fs.access('/proc/self/stat').then(
      () => true,
      () => false,
    );
  }
  return procMounted;
}

/**
 * True when process `pid` runs and its command line contains `marker` (an instance's own
 * socket path): guards against a stale pidfile whose pid was reused by something else.
 * Without /proc, a live pid is taken as a match.
 */
export async function isAliveWith(pid: number, marker: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(marker);
  } catch {
    return !(await hasProc());
  }
}

/** Waits until `pid` is gone, checking every `intervalMs`; false when it outlived `timeoutMs`. */
export async function waitForExit(
  pid: number,
  timeoutMs: number,
  intervalMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isAlive(pid))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(intervalMs, Math.max(1, deadline - Date.now()))),
    );
  }
}

/** The pid in `pidfile`, or null when the file is missing or does not hold a pid. */
export async function readPidfile(pidfile: string): Promise<number | null> {
  try {
    const text = (await fs.readFile(pidfile, 'utf8')).trim();
    const pid = Number(text);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Sends `signal` to `pid`; a process that is already gone is not an error. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
