import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';

/** A bug or an outage answers "Internal server error", and the log says what it was. */

let s: TestStratus;
const lines: Array<Record<string, unknown>> = [];
beforeAll(async () => {
  s = await startTestStratus();
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  // Request loggers are children of the runtime's logger: route them to a sink we can read.
  const captured = pino({ level: 'error' }, sink);
  vi.spyOn(s.stratus.runtime.logger, 'child').mockImplementation((bindings) =>
    captured.child(bindings),
  );
});
afterAll(async () => {
  vi.restoreAllMocks();
  await s?.stop();
});

describe('unexpected errors', () => {
  it('are hidden from the client and logged with the request id and the cause', async () => {
    vi.spyOn(s.stratus.runtime.db, 'select').mockImplementationOnce(() => {
      throw new Error('database on fire');
    });
    const result = await s.gql(`{ hypervisors { hostname } }`, {}, s.adminToken);
    const error = result.errors?.[0];
    expect(error?.message).toBe('Internal server error');
    expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    const logged = lines.find((l) => l.requestId === error?.extensions?.requestId);
    expect(logged?.msg).toBe('unexpected error in a GraphQL request');
    expect(JSON.stringify(logged?.err)).toContain('database on fire');
  });

  it('expected failures are not logged as errors', async () => {
    const before = lines.length;
    const result = await s.gql(`{ hypervisors { hostname } }`, {}, null);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(lines.length).toBe(before);
  });
});
