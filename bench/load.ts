/**
 * Child process running autocannon for bench/http-overhead.ts, so the load generator does not
 * share the server's event loop. Receives one job over IPC, answers with the result, exits.
 */
import autocannon from 'autocannon';

export interface LoadJob {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  duration: number;
}

export interface LoadResult {
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

process.once('message', async (job: LoadJob) => {
  const result = await autocannon({
    url: job.url,
    method: 'POST',
    headers: job.headers,
    body: job.body,
    connections: job.connections,
    duration: job.duration,
  });
  const out: LoadResult = {
    requests: result.requests.total,
    reqPerSec: result.requests.total / (result.duration || job.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
  process.send?.(out, () => process.exit(0));
});
