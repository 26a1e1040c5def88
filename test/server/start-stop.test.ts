import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../server/embedded-postgres';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-start-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

/** Runs `npm start`'s entry as a user would, with its own embedded PostgreSQL. */
async function start(port: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: '',
      PORT: String(port),
      STRATUS_DATA_DIR: dataDir,
      STRATUS_LOG_LEVEL: 'warn',
      STRATUS_ADMIN_PASSWORD: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  for (let i = 0; i < 600 && !out.includes('Stratus: http'); i++) {
    if (child.exitCode !== null) throw new Error(`exited early: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => out };
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });
}

async function login(port: number, password: string) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: `mutation($p: String!) { login(input: { userName: "admin", password: $p }) { __typename } }`,
      variables: { p: password },
    }),
  });
  return ((await res.json()) as { data: { login: { __typename: string } } }).data.login.__typename;
}

describe('npm start', () => {
  it('bootstraps with a printed password, stops on Ctrl-C with the database, and finds its data on the next start', async () => {
    const port = await freePort();
    const first = await start(port);
    const password = /password: (\S+)/.exec(first.output())?.[1];
    expect(password, first.output()).toBeTruthy();
    expect(await login(port, password!)).toBe('LoginSuccess');
    expect(await stop(first.child)).toBe(0);
    // The embedded PostgreSQL stopped with it: its pid file is gone.
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

    const second = await start(port);
    expect(second.output()).not.toContain('password:');
    expect(await login(port, password!)).toBe('LoginSuccess');
    expect(await stop(second.child)).toBe(0);
  });
});
