/**
 * Token costs: (a) validate() cached and cold, (b) the same with many revocations on record,
 * (c) password logins through the real server, (d) how fast a revocation made on one Stratus
 * reaches another on the same database (open socket closed, HTTP refused).
 *
 *   npx tsx bench/tokens.ts
 *
 * Env: VALIDATE_CALLS (200000), LOGIN_CONCURRENCY (8), LOGIN_SECONDS (5), REVOKE_ROUNDS (10).
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { AuthContext } from '../resolvers/identity/auth-context';
import { RevocationCache } from '../resolvers/identity/revocation-cache';
import { TokenService } from '../resolvers/identity/tokens';
import {
  ADMIN_PASSWORD,
  type BenchStratus,
  createProject,
  defaultDomainId,
  fmt,
  LOGIN_MUTATION,
  machineLine,
  nowNs,
  printTable,
  runMain,
  sleep,
  startBenchStratus,
  startDatabase,
  summarize,
} from './support';

const VALIDATE_CALLS = Number(process.env.VALIDATE_CALLS ?? 200_000);
const COLD_TOKENS = 10_000;
const LOGIN_CONCURRENCY = Number(process.env.LOGIN_CONCURRENCY ?? 8);
const LOGIN_SECONDS = Number(process.env.LOGIN_SECONDS ?? 5);
const REVOKE_ROUNDS = Number(process.env.REVOKE_ROUNDS ?? 10);
const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const TTL = 3600;

const FIELDS: Omit<AuthContext, 'tokenId' | 'issuedAt' | 'expiresAt'> = {
  userId: randomUUID(),
  domainId: randomUUID(),
  scope: { kind: 'project', projectId: randomUUID(), domainId: randomUUID() },
  roles: ['admin', 'member', 'reader'],
  method: 'password',
  applicationCredentialId: null,
};

function cacheWith(records: number): RevocationCache {
  const cache = new RevocationCache();
  const now = Date.now();
  for (let i = 0; i < records; i++) {
    cache.apply({
      kind: i % 2 === 0 ? 'token' : 'user',
      subject: randomUUID(),
      issuedBefore: now - Math.floor(Math.random() * 60_000),
      expiresAt: now + TTL * 1000,
    });
  }
  return cache;
}

/** ns per validate() of one token already verified (map hit + expiry + revocation lookups). */
async function cachedNs(cache: RevocationCache, token: string): Promise<number> {
  const service = new TokenService(SECRET, TTL, cache);
  await service.validate(token);
  const start = nowNs();
  for (let i = 0; i < VALIDATE_CALLS; i++) await service.validate(token);
  return Number(nowNs() - start) / VALIDATE_CALLS;
}

/** ns per validate() of tokens never seen by this TokenService (HS256 verify + claims). */
async function coldNs(cache: RevocationCache, tokens: string[]): Promise<number> {
  const service = new TokenService(SECRET, TTL, cache);
  const start = nowNs();
  for (const token of tokens) await service.validate(token);
  return Number(nowNs() - start) / tokens.length;
}

/** Floor for comparison: HMAC-SHA256 of header.payload with node:crypto, compared in constant time. */
function rawHmacNs(tokens: string[]): number {
  const start = nowNs();
  for (const token of tokens) {
    const dot = token.lastIndexOf('.');
    const mac = createHmac('sha256', SECRET).update(token.slice(0, dot)).digest();
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) throw new Error('bad mac');
  }
  return Number(nowNs() - start) / tokens.length;
}

const median = (xs: number[]) => summarize(xs).p50;

async function validationBench(): Promise<void> {
  const issuer = new TokenService(SECRET, TTL, new RevocationCache());
  const start = nowNs();
  const tokens: string[] = [];
  for (let i = 0; i < COLD_TOKENS; i++) tokens.push((await issuer.issue(FIELDS)).token);
  const issueNs = Number(nowNs() - start) / COLD_TOKENS;
  const token = tokens[0];

  const variants = [
    { name: 'no revocations', cache: new RevocationCache() },
    { name: '10,000 revocations (token+user)', cache: cacheWith(10_000) },
    { name: '100,000 revocations (token+user)', cache: cacheWith(100_000) },
  ];
  // Warm-up, then interleave the variants so machine noise spreads evenly over them.
  for (const v of variants) {
    await cachedNs(v.cache, token);
    await coldNs(v.cache, tokens.slice(0, 2000));
  }
  const results = variants.map(() => ({ cached: [] as number[], cold: [] as number[] }));
  const raw: number[] = [];
  for (let round = 0; round < 5; round++) {
    raw.push(rawHmacNs(tokens));
    for (const [i, v] of variants.entries()) {
      results[i].cached.push(await cachedNs(v.cache, token));
      results[i].cold.push(await coldNs(v.cache, tokens));
    }
  }
  const rows: Array<Array<string | number>> = [
    ['revocation cache', 'path', 'ns/op (median of 5)', 'validations/s', 'calls per run'],
  ];
  for (const [i, v] of variants.entries()) {
    const c = median(results[i].cached);
    const k = median(results[i].cold);
    rows.push([`${v.name}`, 'cached', fmt(c), fmt(1e9 / c), fmt(VALIDATE_CALLS)]);
    rows.push([`${v.name}`, 'cold (HMAC verify)', fmt(k), fmt(1e9 / k), fmt(COLD_TOKENS)]);
  }
  const r = median(raw);
  rows.push([
    '(reference, not Stratus code)',
    'node:crypto HMAC only',
    fmt(r),
    fmt(1e9 / r),
    fmt(COLD_TOKENS),
  ]);
  printTable('(a)+(b) TokenService.validate(), in-process, no server', rows);
  const base = median(results[0].cached);
  printTable('cached validate() relative to no revocations', [
    ['revocation cache', 'ratio'],
    ...variants.map((v, i) => [v.name, (median(results[i].cached) / base).toFixed(2)]),
  ]);
  printTable('TokenService.issue() (HS256 sign)', [
    ['ns/op', 'tokens/s'],
    [fmt(issueNs), fmt(1e9 / issueNs)],
  ]);
}

async function loginBench(s: BenchStratus): Promise<void> {
  const body = JSON.stringify({
    query: LOGIN_MUTATION,
    variables: {
      input: { userName: 'admin', password: ADMIN_PASSWORD, scope: { projectName: 'admin' } },
    },
  });
  const once = async () => {
    const res = await fetch(s.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const json = (await res.json()) as { data?: { login?: { __typename: string } } };
    return json.data?.login?.__typename === 'LoginSuccess';
  };
  for (let i = 0; i < 4; i++) await once(); // warm-up
  const rows: Array<Array<string | number>> = [
    ['concurrency', 'logins', 'failed', 'logins/s', 'p50 ms', 'p99 ms', 'max ms'],
  ];
  for (const concurrency of [1, LOGIN_CONCURRENCY]) {
    const latencies: number[] = [];
    let failed = 0;
    const start = nowNs();
    const deadline = start + BigInt(Math.round(LOGIN_SECONDS * 1e9));
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (nowNs() < deadline) {
          const t = nowNs();
          const ok = await once();
          latencies.push(Number(nowNs() - t) / 1e6);
          if (!ok) failed++;
        }
      }),
    );
    const seconds = Number(nowNs() - start) / 1e9;
    const st = summarize(latencies);
    rows.push([
      concurrency,
      st.n,
      failed,
      fmt((st.n - failed) / seconds, 1),
      fmt(st.p50, 1),
      fmt(st.p99, 1),
      fmt(st.max, 1),
    ]);
  }
  printTable(`(c) login mutation over HTTP, ~${LOGIN_SECONDS} s per row (argon2id verify)`, rows);
}

async function revocationBench(a: BenchStratus, b: BenchStratus): Promise<void> {
  const adminToken = await a.adminLogin();
  const domainId = await defaultDomainId(a, adminToken);
  const closeMs: number[] = [];
  const refuseMs: number[] = [];
  const mutationMs: number[] = [];
  const codes = new Map<string, number>();
  for (let round = 0; round < REVOKE_ROUNDS + 1; round++) {
    const token = await a.adminLogin();
    // The token works on B over HTTP (so B has it in its verified cache) and over WebSocket.
    await b.ok('{ viewer { roles } }', {}, token);
    let closedAt: bigint | null = null;
    let closeCode: number | undefined;
    let gotEvent!: () => void;
    const eventSeen = new Promise<void>((r) => {
      gotEvent = r;
    });
    const closed = new Promise<void>((resolve) => {
      const client = createClient({
        url: b.wsUrl,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => {},
        connectionParams: { authorization: `Bearer ${token}` },
        on: {
          closed: (event) => {
            closedAt ??= nowNs();
            closeCode = (event as { code?: number }).code;
            resolve();
          },
        },
      });
      client.subscribe(
        { query: 'subscription { identityChanged { kind cursor } }' },
        { next: () => gotEvent(), error: () => {}, complete: () => {} },
      );
    });
    // Wait until the subscription on B is live: an event made on A reaches it.
    const name = `bench-rev-${round}-${randomUUID().slice(0, 8)}`;
    for (let tries = 0; ; tries++) {
      await createProject(a, adminToken, domainId, `${name}-${tries}`);
      const seen = await Promise.race([eventSeen.then(() => true), sleep(1000).then(() => false)]);
      if (seen) break;
      if (tries > 10) throw new Error('subscription on B never received an event');
    }

    const t0 = nowNs();
    let refusedAt: bigint | null = null;
    const poll = (async () => {
      for (;;) {
        const result = await b.gql('{ viewer { roles } }', {}, token);
        if (result.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED') {
          refusedAt = nowNs();
          return;
        }
        if (Number(nowNs() - t0) > 10e9) return;
      }
    })();
    const revoked = await a.gql('mutation { revokeToken(input: {}) { __typename } }', {}, token);
    const mutationDone = nowNs();
    if (revoked.data?.revokeToken?.__typename !== 'RevokeTokenSuccess')
      throw new Error(`revokeToken failed: ${JSON.stringify(revoked)}`);
    await Promise.race([closed, sleep(10_000)]);
    await poll;
    if (round === 0) continue; // warm-up round
    const key = String(closeCode);
    codes.set(key, (codes.get(key) ?? 0) + 1);
    mutationMs.push(Number(mutationDone - t0) / 1e6);
    if (closedAt !== null) closeMs.push(Number((closedAt as bigint) - t0) / 1e6);
    if (refusedAt !== null) refuseMs.push(Number((refusedAt as bigint) - t0) / 1e6);
  }
  const rows: Array<Array<string | number>> = [
    ['measured from just before revokeToken is sent to A', 'n', 'p50 ms', 'max ms', 'mean ms'],
  ];
  for (const [label, xs] of [
    ['revokeToken response received from A', mutationMs],
    ['B closes the subscription socket', closeMs],
    ['B answers UNAUTHENTICATED over HTTP', refuseMs],
  ] as const) {
    const st = summarize([...xs]);
    rows.push([label, st.n, fmt(st.p50, 1), fmt(st.max, 1), fmt(st.mean, 1)]);
  }
  printTable(
    `(d) revocation propagation A -> B (two Stratus instances, one database), ${REVOKE_ROUNDS} rounds`,
    rows,
  );
  process.stdout.write(
    `close codes seen on B: ${[...codes].map(([c, n]) => `${c} x${n}`).join(', ')} (4401 expected)\n`,
  );
}

runMain(async () => {
  process.stdout.write('== bench/tokens.ts ==\n');
  await validationBench();
  const db = await startDatabase();
  process.stdout.write(`${machineLine(db.source)}\n`);
  let a: BenchStratus | null = null;
  let b: BenchStratus | null = null;
  try {
    a = await startBenchStratus(db.url);
    await loginBench(a);
    b = await startBenchStratus(db.url);
    await revocationBench(a, b);
  } finally {
    await b?.stop();
    await a?.stop();
    await db.stop();
  }
});
