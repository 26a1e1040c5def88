import { spawn } from 'node:child_process';

/** A host command that could not start or exited non-zero; `stderr` is what it printed. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommandError';
  }
}

/**
 * Runs `binary args` (no shell), optionally feeding `input` on stdin; resolves with stdout.
 * Throws `CommandError` naming the command and what it printed.
 */
export function run(
  binary: string,
  args: string[],
  options: {
    input?: string;
    timeoutMs?: number;
    /**
     * For daemons that fork (dnsmasq, ovs-vswitchd): finish when the command exits, even if
     * the daemon it left behind still holds its output pipes.
     */
    detachedOutput?: boolean;
  } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const shown = `${binary} ${args.join(' ')}`.slice(0, 300);
    child.on('error', (err) => {
      clearTimeout(timer);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new CommandError(shown, '', missing ? `${binary} was not found` : err.message, {
          cause: err,
        }),
      );
    });
    child.on(options.detachedOutput ? 'exit' : 'close', (code, signal) => {
      clearTimeout(timer);
      if (options.detachedOutput) {
        child.stdout.destroy();
        child.stderr.destroy();
      }
      if (code === 0) resolve(stdout);
      else {
        const printed = stderr.trim() || stdout.trim();
        const why = signal ? `killed by ${signal}` : `exit ${code}`;
        reject(new CommandError(shown, printed, `${shown}: ${printed || why}`));
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Whether the command failed because the thing it works on does not exist. */
export function isNotFound(err: unknown): boolean {
  return (
    err instanceof CommandError &&
    /(Cannot find device|does not exist|No such|not found|no port named|no row)/i.test(err.stderr)
  );
}
