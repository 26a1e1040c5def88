import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, HeaderMap } from '@apollo/server';
import type { ServiceContext } from '../resolvers/runtime';

/**
 * GraphQL over HTTP straight on node:http, without express's router and body parser: they
 * cost a third of the throughput of a trivial query (bench/http-overhead.ts). Everything
 * else (GraphiQL, object and image bytes, health, metrics) stays on express.
 */

function sendJsonError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}

/** Reads the body up to `limit` bytes; null when it is larger (the rest is drained). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Whether this request is GraphQL for Apollo (rather than the GraphiQL page for a browser). */
export function isGraphQLRequest(req: IncomingMessage): boolean {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/graphql' && path !== '/graphql/') return false;
  if (req.method !== 'GET') return true;
  const accept = req.headers.accept ?? '';
  return !accept.includes('text/html');
}

export function graphqlHttpHandler(
  apollo: ApolloServer<ServiceContext>,
  context: (req: IncomingMessage) => Promise<ServiceContext>,
  maxBodyBytes: number,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      let body: unknown;
      if (req.method === 'POST') {
        const raw = await readBody(req, maxBodyBytes);
        if (raw === null) {
          sendJsonError(
            res,
            413,
            'PAYLOAD_TOO_LARGE',
            `Request body larger than the limit of ${maxBodyBytes} bytes`,
          );
          return;
        }
        const type = req.headers['content-type'] ?? '';
        if (/^application\/(graphql-response\+)?json/i.test(type)) {
          try {
            body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
          } catch (error) {
            sendJsonError(
              res,
              400,
              'BAD_REQUEST',
              `Malformed request: ${(error as Error).message}`,
            );
            return;
          }
        } else {
          body = raw.toString('utf8');
        }
      }
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: {
          method: (req.method ?? 'GET').toUpperCase(),
          headers,
          search: query >= 0 ? url.slice(query) : '',
          body,
        },
        context: () => context(req),
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } catch {
      if (!res.headersSent)
        sendJsonError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
      else res.destroy();
    }
  };
}
