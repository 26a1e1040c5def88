/**
 * GraphQL over HTTP conformance: graphql-http's server audits against a real Stratus.
 * Every MUST audit is asserted; SHOULD and MAY audits run and are annotated when they do not pass
 * (see the test report), but do not fail the suite.
 */
import { type AuditResult, serverAudits } from 'graphql-http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';

/**
 * MUST audits that fail because of Stratus server configuration (server/app.ts), by audit id,
 * with the reason. Each runs as `it.fails`, so the suite stays green until the server is fixed,
 * and then fails, asking for its entry to be removed. None at the moment.
 */
const KNOWN_MUST_FAILURES: Record<string, string> = {};

let stratus: TestStratus;
beforeAll(async () => {
  stratus = await startTestStratus();
});
afterAll(async () => {
  await stratus?.stop();
});

async function explain(result: AuditResult): Promise<string> {
  if (result.status === 'ok') return 'ok';
  const body = await result.response
    .clone()
    .text()
    .catch(() => '<unreadable body>');
  return (
    `${result.status}: ${result.reason}; got ${result.response.status} ` +
    `${result.response.headers.get('content-type') ?? '<no content-type>'} ${body.slice(0, 300)}`
  );
}

const audits = serverAudits({ url: () => `${stratus.url}/graphql` });

it('graphql-http has MUST audits to run', () => {
  expect(audits.filter((a) => a.name.startsWith('MUST')).length).toBeGreaterThanOrEqual(10);
});

for (const audit of audits) {
  const title = `${audit.id} ${audit.name}`;
  if (audit.name.startsWith('MUST')) {
    const known = KNOWN_MUST_FAILURES[audit.id];
    (known ? it.fails : it)(title, async () => {
      const result = await audit.fn();
      expect(result.status, await explain(result)).toBe('ok');
    });
  } else {
    it(title, async ({ annotate }) => {
      const result = await audit.fn();
      if (result.status !== 'ok') await annotate(await explain(result), 'notice');
    });
  }
}
