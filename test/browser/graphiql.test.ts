import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus } from '../support/harness';

/**
 * The GraphiQL explorer, driven like an operator would in Debian's Chromium: every script and
 * stylesheet comes from Stratus itself (requests that leave this machine are blocked and
 * counted), queries carry the token typed in the Headers tab, and subscriptions carry it over
 * the WebSocket.
 */

const CHROMIUM = '/usr/bin/chromium';
const missingChromium = !existsSync(CHROMIUM);
const skip = missingChromium && process.env.CI !== 'true';
const title = skip
  ? `GraphiQL in Chromium (skipped: ${CHROMIUM} is missing; scripts/install-deps installs it)`
  : 'GraphiQL in Chromium';

// Slow machines (QEMU TCG) load a 1 MB bundle and start a server: wait generously.
const SLOW = 120_000;

const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const HEADERS_EDITOR = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
const RESPONSE = '.graphiql-response .CodeMirror';

type Stratus = Awaited<ReturnType<typeof startTestStratus>>;

/** CodeMirror 5 keeps its instance on the wrapper element; GraphiQL adds the parsed document. */
interface EditorElement extends Element {
  CodeMirror?: {
    getValue(): string;
    setValue(value: string): void;
    documentAST?: { loc?: { source?: { body?: string } } } | null;
  };
}

function isLocal(url: string): boolean {
  if (url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') return true;
  return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
}

function editorValue(page: Page, selector: string): Promise<string | null> {
  return page.evaluate(
    (sel) => (document.querySelector(sel) as EditorElement | null)?.CodeMirror?.getValue() ?? null,
    selector,
  );
}

/** Replaces the query and waits until GraphiQL has parsed it (it debounces edits). */
async function setQuery(page: Page, text: string): Promise<void> {
  await page.evaluate(
    ([sel, value]) => {
      const editor = (document.querySelector(sel) as EditorElement | null)?.CodeMirror;
      if (!editor) throw new Error(`no editor at ${sel}`);
      editor.setValue(value);
    },
    [QUERY_EDITOR, text] as const,
  );
  await page.waitForFunction(
    ([sel, value]) =>
      (document.querySelector(sel) as EditorElement | null)?.CodeMirror?.documentAST?.loc?.source
        ?.body === value,
    [QUERY_EDITOR, text] as const,
    { timeout: SLOW },
  );
}

/** Resolves once the result pane contains `text`, or returns false after `timeout` ms. */
function responseShows(page: Page, text: string, timeout: number): Promise<boolean> {
  return page
    .waitForFunction(
      ([sel, wanted]) =>
        (
          (document.querySelector(sel) as EditorElement | null)?.CodeMirror?.getValue() ?? ''
        ).includes(wanted),
      [RESPONSE, text] as const,
      { timeout },
    )
    .then(
      () => true,
      () => false,
    );
}

describe.skipIf(skip)(title, () => {
  let stratus: Stratus;
  let browser: Browser;
  let page: Page;
  const outside: string[] = [];
  const pageErrors: string[] = [];
  const subscribeFrames: string[] = [];

  beforeAll(async () => {
    if (missingChromium) {
      throw new Error(`${CHROMIUM} is missing and CI=true: run scripts/install-deps`);
    }
    stratus = await startTestStratus();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext();
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      outside.push(url);
      return route.abort();
    });
    // What an operator would have after pasting the login token: persisted headers.
    await context.addInitScript(
      ({ headers, query }) => {
        if (sessionStorage.getItem('stratus-test-seeded')) return;
        sessionStorage.setItem('stratus-test-seeded', '1');
        localStorage.removeItem('graphiql:tabState');
        localStorage.setItem('graphiql:headers', headers);
        localStorage.setItem('graphiql:query', query);
      },
      {
        headers: JSON.stringify({ Authorization: `Bearer ${stratus.adminToken}` }),
        query: '{ viewer { user { name } } }',
      },
    );
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('websocket', (ws) => {
      if (!isLocal(ws.url())) outside.push(ws.url());
      ws.on('framesent', ({ payload }) => {
        if (typeof payload === 'string' && payload.includes('"subscribe"')) {
          subscribeFrames.push(payload);
        }
      });
    });
  }, SLOW);

  afterAll(async () => {
    await browser?.close();
    await stratus?.stop();
  }, SLOW);

  it(
    'serves the explorer page with the Headers tab open and the token in it',
    async () => {
      const response = await page.goto(`${stratus.url}/graphql`, { timeout: SLOW });
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-type']).toBe('text/html; charset=utf-8');
      await page.waitForSelector('.graphiql-container', { timeout: SLOW });
      await page.waitForSelector(QUERY_EDITOR, { timeout: SLOW });
      await expect.poll(() => page.locator('button[data-name="headers"].active').count()).toBe(1);
      expect(JSON.parse((await editorValue(page, HEADERS_EDITOR)) ?? '')).toEqual({
        Authorization: `Bearer ${stratus.adminToken}`,
      });
    },
    SLOW,
  );

  it(
    'runs a query with the token from the Headers tab',
    async () => {
      expect(await editorValue(page, QUERY_EDITOR)).toBe('{ viewer { user { name } } }');
      await page.click('.graphiql-execute-button');
      expect(await responseShows(page, '"admin"', SLOW)).toBe(true);
      const result = JSON.parse((await editorValue(page, RESPONSE)) ?? '');
      expect(result.errors).toBeUndefined();
      expect(result.data.viewer.user.name).toBe('admin');
    },
    SLOW,
  );

  it(
    'streams a subscription over the WebSocket with the same token',
    async () => {
      await setQuery(page, 'subscription { identityChanged { kind } }');
      await page.click('.graphiql-execute-button');
      await expect.poll(() => subscribeFrames.length, { timeout: SLOW }).toBeGreaterThan(0);

      const domains = await stratus.gql(
        '{ domains(filter: { name: "Default" }) { edges { node { id } } } }',
        undefined,
        stratus.adminToken,
      );
      expect(domains.errors).toBeUndefined();
      const domainId: string = domains.data.domains.edges[0].node.id;

      // The server may still be registering the subscription when the subscribe frame leaves
      // the browser; each new project is a fresh event, so try a bounded few.
      let shown = false;
      for (let attempt = 1; attempt <= 5 && !shown; attempt++) {
        const name = attempt === 1 ? 'browser-test' : `browser-test-${attempt}`;
        const created = await stratus.gql(
          `mutation { createProject(input: { domainId: ${JSON.stringify(domainId)}, name: ${JSON.stringify(name)} }) { __typename } }`,
          undefined,
          stratus.adminToken,
        );
        expect(created.errors).toBeUndefined();
        shown = await responseShows(page, 'PROJECT_CREATED', SLOW / 4);
      }
      expect(shown).toBe(true);
      expect(subscribeFrames.join('\n')).toContain('identityChanged');
    },
    SLOW * 2,
  );

  it('loaded nothing from outside this machine and raised no page errors', () => {
    expect(outside).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
