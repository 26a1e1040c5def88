import type { Server } from 'node:http';
import {
  type DocumentNode,
  GraphQLError,
  type GraphQLSchema,
  parse,
  specifiedRules,
  type ValidationRule,
  validate,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import type { AuthContext } from '../resolvers/identity/auth-context';
import type { Runtime, ServiceContext } from '../resolvers/runtime';
import { authenticate, serviceContext } from './context';
import { formatError, isUnexpected } from './errors';
import type { Metrics } from './metrics';

/** Close code for a connection whose token was revoked or expired (4401 is graphql-ws's Unauthorized). */
export const TOKEN_INVALID_CLOSE = CloseCode.Unauthorized;
const SWEEP_MS = 500;
/** The parser's token cap, as Apollo's parseOptions on HTTP. */
const MAX_TOKENS = 10_000;

type Extra = {
  socket: WebSocket;
  request: import('node:http').IncomingMessage;
  service?: ServiceContext;
};

/**
 * graphql-ws on the same HTTP server and path as Apollo. The token comes from
 * `connectionParams.authorization`; connections whose token is revoked or expires are
 * closed, which ends their subscriptions.
 */
export function attachWebSocket(
  httpServer: Server,
  schema: GraphQLSchema,
  rt: Runtime,
  metrics: Metrics,
  validationRules: ValidationRule[],
) {
  const wss = new WebSocketServer({
    server: httpServer,
    path: '/graphql',
    maxPayload: rt.config.limits.maxBodyBytes,
  });
  const live = new Map<WebSocket, AuthContext>();

  const closeInvalid = () => {
    const now = Date.now();
    for (const [socket, auth] of live) {
      if (auth.expiresAt.getTime() <= now || rt.tokens.isRevoked(auth)) {
        live.delete(socket);
        socket.close(TOKEN_INVALID_CLOSE, 'Token revoked or expired');
      }
    }
  };
  const logUnexpected = (service: ServiceContext | undefined, errors: readonly GraphQLError[]) => {
    for (const error of errors.filter(isUnexpected)) {
      (service?.log ?? rt.logger).error(
        { err: error.originalError ?? error, path: error.path },
        'unexpected error in a GraphQL subscription',
      );
    }
  };
  const stopListening = rt.revocations.onRevocation(closeInvalid);
  const sweeper = setInterval(closeInvalid, SWEEP_MS);
  sweeper.unref();

  const cleanup = useServer<Record<string, unknown>, Extra>(
    {
      schema,
      context: (ctx) => ctx.extra.service!,
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        let auth: AuthContext | null;
        try {
          auth = await authenticate(rt, params.authorization ?? params.Authorization);
        } catch {
          return false;
        }
        const address =
          (ctx.extra.socket as unknown as { _socket?: { remoteAddress?: string } })._socket
            ?.remoteAddress ?? '';
        ctx.extra.service = serviceContext(
          rt,
          auth,
          address,
          `http://${ctx.extra.request.headers.host ?? 'localhost'}`,
        );
        if (auth) live.set(ctx.extra.socket, auth);
        metrics.sockets.inc();
        return true;
      },
      // Errors over WebSocket read like errors over HTTP: same codes, no internals.
      onError: (ctx, _id, _payload, errors) => {
        logUnexpected(ctx.extra.service, errors);
        return errors.map((e) => formatError(e.toJSON(), e));
      },
      onNext: (ctx, _id, _payload, _args, result) => {
        if (!result.errors) return result;
        logUnexpected(ctx.extra.service, result.errors);
        return { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e)) };
      },
      onOperation: () => {
        metrics.subscriptions.inc();
      },
      onComplete: () => {
        metrics.subscriptions.dec();
      },
      onClose: (ctx) => {
        live.delete(ctx.extra.socket);
        metrics.sockets.dec();
      },
      // Parsed here rather than by graphql-ws, to cap tokens like the HTTP path does; then the
      // same depth, cost and alias limits as over HTTP.
      onSubscribe: (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: MAX_TOKENS });
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          return [new GraphQLError(message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        const errors = validate(schema, document, [...specifiedRules, ...validationRules]);
        if (errors.length > 0) {
          return errors.map(
            (e) =>
              new GraphQLError(e.message, {
                nodes: e.nodes,
                extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
              }),
          );
        }
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: ctx.extra.service,
        };
      },
    },
    wss,
  );

  return {
    wss,
    async close() {
      clearInterval(sweeper);
      stopListening();
      await cleanup.dispose();
    },
  };
}
