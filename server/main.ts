import { startStratus } from './app';
import { loadConfig } from './config';

/** `npm start`: one Stratus process; Ctrl-C (or SIGTERM) shuts it down cleanly. */
const stratus = await startStratus(loadConfig());
process.stdout.write(`Stratus: ${stratus.url}/graphql (GraphiQL in a browser)\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping Stratus…\n`);
    stratus
      .stop()
      .then(() => process.exit(0))
      .catch((error) => {
        console.error(error);
        process.exit(1);
      });
  });
}
