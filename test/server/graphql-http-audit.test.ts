import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';

let s: TestStratus;
beforeAll(async () => {
  s = await startTestStratus();
});
afterAll(async () => {
  await s?.stop();
});

for (const audit of serverAudits({ url: () => `${s.url}/graphql` })) {
  it(`${audit.id} ${audit.name}`, async () => {
    const result = await audit.fn();
    if (result.status !== 'ok') {
      console.log(`${audit.id} ${audit.name}: ${result.status} ${result.reason}`, result.response.status, result.response.headers.get('content-type'), await result.response.text().catch(() => ''));
    }
    if (audit.name.startsWith('MUST')) expect(result.status).toBe('ok');
  });
}
