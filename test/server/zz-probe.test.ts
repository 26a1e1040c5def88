import { it } from 'vitest';
import { startTestStratus } from '../support/harness';
import { loadConfig } from '../../server/config';

it('probe', async () => {
  const s = await startTestStratus({ limits: { ...loadConfig({}).limits, maxBodyBytes: 10_000 } });
  const post = async (body: string, headers: Record<string, string> = {}) => {
    const r = await fetch(`${s.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    console.log(r.status, r.headers.get('content-type'), r.headers.get('x-request-id'), (await r.text()).slice(0, 400));
  };
  await post(JSON.stringify({ query: '{ viewer { ' }));
  await post(JSON.stringify({ query: '{ viewer { nope } }' }));
  await post(JSON.stringify({ query: '{ projects(first: "x") { totalCount } }' }));
  await post(JSON.stringify({ query: `{ __typename } # ${'x'.repeat(20_000)}` }));
  let deep = 'name'; for (let i = 0; i < 15; i++) deep = `domain { ${i % 2 ? 'name' : ''} ${deep} }`;
  await post(JSON.stringify({ query: `{ viewer { project { ${deep} } } }` }));
  const d2 = `{ viewer { user { defaultProject { domain { id } } } } }`;
  await post(JSON.stringify({ query: d2 }));
  await post(JSON.stringify({ query: `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: __typename`).join(' ')} }` }));
  await post(JSON.stringify({ query: '{ viewer { tokenId } }' }), { authorization: 'Bearer garbage' });
  await post(JSON.stringify({ query: '{ __typename }' }), { authorization: 'Bearer garbage' });
  await post('{"query": ', {});
  await s.stop();
});
