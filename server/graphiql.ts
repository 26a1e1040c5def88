import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import express from 'express';

/**
 * The GraphiQL explorer, served entirely by Stratus from node_modules: no CDN, so it works on
 * machines without internet. React 18 and graphiql 3 ship UMD builds that run without a
 * bundler; graphql-ws's UMD build carries subscriptions over the same `/graphql` endpoint.
 */

const JS = 'application/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const ASSET_PREFIX = '/graphiql/assets/';

/** What the Headers tab shows until the operator pastes a token; never sent to the server. */
const TOKEN_PLACEHOLDER = 'Bearer <paste token from login>';

const DEFAULT_HEADERS = `${JSON.stringify({ Authorization: TOKEN_PLACEHOLDER }, null, 2)}\n`;

const DEFAULT_QUERY = `# Welcome to Stratus.
# 1. Set the admin password below, run Login (Ctrl-Enter).
# 2. Copy data.token into the Headers tab below,
#    in place of <paste token from login>.
# 3. Then try  { viewer { user { name } } }
#    or  subscription { identityChanged { kind } }

mutation Login {
  login(input: { domain: "Default", userName: "admin", password: "..." }) {
    __typename
    ... on LoginSuccess {
      data {
        token
        expiresAt
      }
    }
    ... on AuthenticationFailedError {
      message
    }
  }
}
`;

/**
 * Runs in the browser after React, ReactDOM, GraphiQL and graphqlWs (their UMD globals).
 * Kept as a served file rather than an inline script so the page's CSP can forbid inline code.
 */
const BOOT_SCRIPT = `(function () {
  'use strict';
  var TOKEN_PLACEHOLDER = ${JSON.stringify(TOKEN_PLACEHOLDER)};
  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint') || '/graphql';
  var httpUrl = location.origin + endpoint;
  var wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + endpoint;

  // Headers as typed in the Headers tab, minus the untouched placeholder and empty tokens.
  function usableHeaders(headers) {
    var out = {};
    if (!headers || typeof headers !== 'object') return out;
    Object.keys(headers).forEach(function (name) {
      var value = headers[name];
      if (name.toLowerCase() === 'authorization') {
        if (typeof value !== 'string') return;
        value = value.trim();
        if (value === '' || value === TOKEN_PLACEHOLDER || /^bearer\\s*$/i.test(value)) return;
      }
      out[name] = value;
    });
    return out;
  }

  function authorizationOf(headers) {
    var names = Object.keys(headers);
    for (var i = 0; i < names.length; i++) {
      if (names[i].toLowerCase() === 'authorization') return headers[names[i]];
    }
    return undefined;
  }

  // A WebSocket carries the token once, in connection_init; so one lazy client per
  // Authorization value: a changed token closes the old socket and opens a new one.
  var current = null;
  function fetcherFor(authorization) {
    if (current && current.authorization === authorization) return current.fetcher;
    if (current) current.client.dispose();
    var client = graphqlWs.createClient({
      url: wsUrl,
      lazy: true,
      connectionParams: function () {
        return authorization ? { authorization: authorization } : {};
      },
    });
    current = {
      authorization: authorization,
      client: client,
      fetcher: GraphiQL.createFetcher({ url: httpUrl, wsClient: client }),
    };
    return current.fetcher;
  }

  function fetcher(graphQLParams, opts) {
    var headers = usableHeaders(opts && opts.headers);
    var next = Object.assign({}, opts, { headers: headers });
    return fetcherFor(authorizationOf(headers))(graphQLParams, next);
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: ${JSON.stringify(DEFAULT_QUERY)},
      defaultHeaders: ${JSON.stringify(DEFAULT_HEADERS)},
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    }),
  );
})();
`;

interface Asset {
  type: string;
  body: Buffer;
  /** Short content hash: the `?v=` the page asks for, and the ETag. */
  version: string;
  gzipped?: Buffer;
}

/** The only files served under /graphiql/assets/: name -> [package, file inside it]. */
const PACKAGE_FILES: Record<string, [pkg: string, file: string, type: string]> = {
  'react.production.min.js': ['react', 'umd/react.production.min.js', JS],
  'react-dom.production.min.js': ['react-dom', 'umd/react-dom.production.min.js', JS],
  'graphiql.min.js': ['graphiql', 'graphiql.min.js', JS],
  'graphiql.min.css': ['graphiql', 'graphiql.min.css', CSS],
  'graphql-ws.min.js': ['graphql-ws', 'umd/graphql-ws.min.js', JS],
};

/** Script order on the page: libraries first, each after what it needs. */
const SCRIPTS = [
  'react.production.min.js',
  'react-dom.production.min.js',
  'graphiql.min.js',
  'graphql-ws.min.js',
  'stratus-graphiql.js',
];

function asset(type: string, body: Buffer): Asset {
  const version = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return { type, body, version };
}

/** Reads the allow-listed files once; throws at startup when a package is missing. */
function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [name, [pkg, file, type]] of Object.entries(PACKAGE_FILES)) {
    const dir = path.dirname(require.resolve(`${pkg}/package.json`));
    assets.set(name, asset(type, readFileSync(path.join(dir, file))));
  }
  assets.set('stratus-graphiql.js', asset(JS, Buffer.from(BOOT_SCRIPT, 'utf8')));
  return assets;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(base: string, assets: Map<string, Asset>): string {
  const src = (name: string) =>
    escapeHtml(`${base}${ASSET_PREFIX}${name}?v=${assets.get(name)!.version}`);
  const scripts = SCRIPTS.map((name) => `    <script src="${src(name)}"></script>`).join('\n');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Stratus · GraphiQL</title>
    <link rel="stylesheet" href="${src('graphiql.min.css')}">
    <style>html, body, #graphiql { height: 100%; margin: 0; overflow: hidden; }</style>
  </head>
  <body>
    <div id="graphiql" data-endpoint="${escapeHtml(`${base}/graphql`)}">Loading GraphiQL…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>
${scripts}
  </body>
</html>
`;
}

/**
 * Scripts only from this origin (no inline code, no eval); GraphiQL sets inline styles and its
 * CSS embeds fonts and images as data: URLs; fetch and WebSocket go back to this origin only.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Routes for the explorer: `GET /graphql` answers browsers (Accept prefers text/html) with the
 * GraphiQL page and passes every other request on to the GraphQL handler; the page's scripts
 * and stylesheet are served from a fixed allow-list under `/graphiql/assets/`.
 * Mount it before the GraphQL middleware: `app.use(graphiqlRouter())`.
 */
export function graphiqlRouter(): express.Router {
  const assets = loadAssets();
  const router = express.Router();

  router.get('/graphql', (req, res, next) => {
    res.vary('Accept');
    const preferred = req.accepts([
      'application/graphql-response+json',
      'application/json',
      'text/html',
    ]);
    if (preferred !== 'text/html') {
      next();
      return;
    }
    res.set({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
    });
    res.send(page(req.baseUrl, assets));
  });

  router.get(`${ASSET_PREFIX}:file`, (req, res) => {
    // Looked up by exact name in the allow-list: no path from the request reaches the disk.
    const found = assets.get(req.params.file);
    if (!found) {
      res.status(404).type('text/plain; charset=utf-8').send('Not found\n');
      return;
    }
    const gzip = req.acceptsEncodings('gzip', 'identity') === 'gzip';
    res.vary('Accept-Encoding');
    res.set({
      'Content-Type': found.type,
      // One ETag per representation; res.send answers 304 when If-None-Match matches it.
      ETag: gzip ? `"${found.version}-gz"` : `"${found.version}"`,
      // The page links `?v=<content hash>`, so such a URL never changes content.
      'Cache-Control':
        req.query.v === found.version ? 'public, max-age=31536000, immutable' : 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    if (gzip) {
      found.gzipped ??= gzipSync(found.body);
      res.set('Content-Encoding', 'gzip').send(found.gzipped);
      return;
    }
    res.send(found.body);
  });

  return router;
}
