import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import express from 'express';
import { GraphQLError } from 'graphql';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { connect } from '../db/connection';
import { migrateDatabase } from '../db/migrate';
import { loadObjectStore } from '../drivers/objects/index';
import { pruneAuditEvents } from '../resolvers/audit/audit';
import { startPowerSync } from '../resolvers/baremetal/power-sync';
import { StratusError } from '../resolvers/errors';
import { pruneEvents } from '../resolvers/events';
import {
  type BootstrapResult,
  bootstrapIdentity,
  signingSecret,
} from '../resolvers/identity/bootstrap';
import { RevocationCache } from '../resolvers/identity/revocation-cache';
import { loadRevocations, pruneRevocations } from '../resolvers/identity/revocations';
import { TokenService } from '../resolvers/identity/tokens';
import { startAlarmEvaluator } from '../resolvers/metering/alarm-evaluator';
import { reapOrphanBlobs } from '../resolvers/objects/blobs';
import { expireObjects } from '../resolvers/objects/objects';
import type { Runtime, ServiceContext } from '../resolvers/runtime';
import { resumeStacks } from '../resolvers/stacks/engine/index';
import { schema } from '../schema/index';
import { MeteringPollers } from '../workers/metering/pollers';
import { startWorker } from '../workers/runner';
import { serverJobs } from '../workers/tasks/servers';
import { volumeJobs } from '../workers/tasks/volumes';
import { baremetalStatus, loadBaremetal } from './baremetal';
import { loadCompute } from './compute';
import type { StratusConfig } from './config';
import { authenticate, serviceContext } from './context';
import { driverStatuses } from './drivers';
import { startEmbeddedPostgres } from './embedded-postgres';
import { formatError, isUnexpected } from './errors';
import { EventBus } from './event-bus';
import { eventStream } from './event-stream';
import { graphiqlRouter } from './graphiql';
import { graphqlHttpHandler, isGraphQLRequest } from './graphql-http';
import { imageRouter } from './image-http';
import { createLogger } from './logger';
import { Metrics } from './metrics';
import { loadNetwork } from './network';
import { objectRouter } from './object-http';
import { loadPxe } from './pxe-http';
import { stackSignalRouter } from './stack-signal-http';
import { loadVolumes } from './volumes';
import { attachWebSocket } from './websocket';

export interface RunningStratus {
  url: string;
  port: number;
  runtime: Runtime;
  bootstrap: BootstrapResult;
  /** Stops accepting, drains requests and subscriptions, stops the worker and the embedded database. */
  stop(): Promise<void>;
}

/** Starts one Stratus process: database, migrations, bootstrap, worker, event bus, HTTP + WebSocket. */
export async function startStratus(config: StratusConfig): Promise<RunningStratus> {
  const logger = createLogger(config.logLevel);
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((err) => logger.error({ err }, 'error while stopping'));
  };
  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const embedded = await startEmbeddedPostgres(config.dataDir, 'stratus', (line) =>
        logger.debug({ postgres: line }),
      );
      stops.push(() => embedded.stop());
      databaseUrl = embedded.url;
      logger.info({ dataDir: config.dataDir }, 'embedded PostgreSQL started');
    }
    let countQuery = () => {};
    const conn = connect(databaseUrl, 20, () => countQuery());
    stops.push(() => conn.pool.end());
    await migrateDatabase(conn);
    const bootstrap = await bootstrapIdentity(conn.db, config.adminPassword);
    if (bootstrap.generatedPassword) {
      // Printed once, on the run that created the admin; only its hash is kept.
      process.stdout.write(
        `\nStratus bootstrap admin created: user "admin", domain "Default", password: ${bootstrap.generatedPassword}\n\n`,
      );
    }
    const revocations = new RevocationCache();
    await pruneRevocations(conn.db);
    await loadRevocations(conn.db, revocations);
    const secret = config.tokenSecret ?? (await signingSecret(conn.db));
    const tokens = new TokenService(secret, config.tokenTtlSeconds, revocations);
    const objectStore = await loadObjectStore(config.objects.driver, config.objects.driverConfig);
    const bus = new EventBus(conn.pool, conn.db, revocations, logger);
    await bus.start();
    stops.push(() => bus.stop());
    // The limiter creates its table on its own; its callback says when logins can be counted.
    const loginLimiter = await new Promise<RateLimiterPostgres>((resolve, reject) => {
      const limiter: RateLimiterPostgres = new RateLimiterPostgres(
        {
          storeClient: conn.pool,
          storeType: 'pool',
          tableName: 'login_attempts',
          keyPrefix: 'login',
          points: config.limits.loginPerMinute,
          duration: 60,
        },
        (err?: Error) => (err ? reject(err) : resolve(limiter)),
      );
    });
    const compute = await loadCompute(config.compute, conn.db, objectStore, logger);
    if (compute.agent) stops.push(() => compute.agent!.stop());
    const network = await loadNetwork(config.network, config.compute.hostname, conn.db, logger);
    if (network.agent) stops.push(() => network.agent!.stop());
    const volumes = await loadVolumes(config, conn.db, objectStore, compute.agent, logger);
    const baremetal = await loadBaremetal(config.baremetal, config.dataDir, logger);
    const pxe = loadPxe(config, logger, network.unavailable);
    const jobKinds = new Set<string>();
    const runtime: Runtime = {
      config,
      db: conn.db,
      pool: conn.pool,
      logger,
      tokens,
      revocations,
      loginLimiter,
      jobKinds,
      drivers: driverStatuses(objectStore, compute, volumes, network).map((d) =>
        d.kind === 'baremetal' ? baremetalStatus(baremetal) : d,
      ),
      objectStore,
      tempUrlSecret: secret,
      events: { stream: (options) => eventStream(bus, options) },
      compute: compute.agent,
      computeUnavailable: compute.unavailable,
      volume: volumes.backend,
      volumeUnavailable: volumes.unavailable,
      network: network.agent,
      baremetal: baremetal.service,
      baremetalUnavailable: baremetal.unavailable,
      nodeDeployer: pxe.deployer,
    };
    // The worker starts after the agent reconciled, so no job runs against stale state.
    const worker = await startWorker({
      pool: conn.pool,
      db: conn.db,
      logger,
      concurrency: config.workerConcurrency,
      enableTestJobs: config.enableTestJobs,
      runtime,
      serverJobs: compute.agent ? serverJobs(runtime, compute.agent) : null,
      volumeJobs: volumes.backend ? volumeJobs(runtime, volumes.backend) : null,
      networkAgent: network.agent,
    });
    stops.push(() => worker.runner.stop());
    for (const kind of worker.kinds) jobKinds.add(kind);
    // Alarms due while no Stratus ran are evaluated now, then every interval.
    stops.push(startAlarmEvaluator(runtime));
    const meteringPollers = new MeteringPollers({
      db: conn.db,
      pool: conn.pool,
      logger,
      intervalMs: config.metering.intervalMs,
      compute: compute.agent,
      volume: volumes.backend,
    });
    meteringPollers.start();
    stops.push(() => meteringPollers.stop());
    if (baremetal.service) stops.push(startPowerSync(runtime));

    // Housekeeping once at start (a crash may have left orphans) and then every minute.
    const housekeeping = () => {
      void pruneRevocations(conn.db).catch(() => {});
      void pruneEvents(conn.db, config.eventRetentionSeconds).catch(() => {});
      void pruneAuditEvents(conn.db, config.audit.retentionDays).catch(() => {});
      void reapOrphanBlobs(runtime, 3600).catch((err) =>
        logger.warn({ err }, 'reaping orphan blobs failed'),
      );
      void expireObjects(runtime).catch((err) => logger.warn({ err }, 'expiring objects failed'));
      void compute.agent?.imageCache
        .prune(conn.db)
        .catch((err) => logger.warn({ err }, 'pruning the image cache failed'));
    };
    housekeeping();
    const pruner = setInterval(housekeeping, 60_000);
    pruner.unref();
    stops.push(async () => clearInterval(pruner));

    const metrics = new Metrics(conn.pool);
    countQuery = () => metrics.dbQueries.inc();
    const app = express();
    // GraphQL requests take the direct path; the rest (GraphiQL included) goes through express.
    let graphql: ReturnType<typeof graphqlHttpHandler> | null = null;
    const httpServer = http.createServer((req, res) => {
      if (graphql && isGraphQLRequest(req)) void graphql(req, res);
      else app(req, res);
    });
    const armor = new ApolloArmor({
      maxDepth: { n: config.limits.maxDepth, ignoreIntrospection: true },
      costLimit: { maxCost: config.limits.maxCost, ignoreIntrospection: true },
      maxAliases: { n: config.limits.maxAliases },
      maxDirectives: { n: 50 },
      // Its own parse turns a syntax error into a 500; the body limit bounds tokens instead.
      maxTokens: { enabled: false },
      blockFieldSuggestion: { enabled: false },
    });
    const protection = armor.protect();
    const ws = attachWebSocket(httpServer, schema, runtime, metrics, protection.validationRules);
    stops.push(() => ws.close());

    const apollo = new ApolloServer<ServiceContext>({
      schema,
      introspection: config.introspection,
      formatError,
      // Caps parser work per request; a syntax error still answers 400 GRAPHQL_PARSE_FAILED.
      parseOptions: { maxTokens: 10_000 },
      validationRules: protection.validationRules,
      includeStacktraceInErrorResponses: false,
      plugins: [
        ...protection.plugins,
        ApolloServerPluginDrainHttpServer({ httpServer }),
        ApolloServerPluginLandingPageDisabled(),
        metrics.apolloPlugin<ServiceContext>(),
        {
          // The request id goes into every error, so a user's report finds the log line.
          async requestDidStart() {
            return {
              async didEncounterErrors({ contextValue, errors }) {
                for (const error of errors.filter(isUnexpected)) {
                  (contextValue?.log ?? logger).error(
                    { err: unwrapResolverError(error), path: error.path },
                    'unexpected error in a GraphQL request',
                  );
                }
              },
              async willSendResponse({ contextValue, response }) {
                const requestId = contextValue?.requestId;
                // Every response names its request, so instance actions can be matched to it.
                response.http.headers.set('x-request-id', requestId ?? '');
                if (response.body.kind !== 'single' || !response.body.singleResult.errors) return;
                response.body.singleResult.errors = response.body.singleResult.errors.map((e) => ({
                  ...e,
                  extensions: { ...e.extensions, requestId },
                }));
              },
            };
          },
        },
      ],
    });
    await apollo.start();

    app.disable('x-powered-by');
    app.get('/healthz', (_req, res) => {
      res.json({ status: 'ok' });
    });
    app.get('/readyz', async (_req, res) => {
      try {
        await conn.pool.query('select 1');
        res.json({ status: 'ready' });
      } catch (error) {
        res.status(503).json({ status: 'unavailable', reason: String(error) });
      }
    });
    app.get('/metrics', async (_req, res) => {
      res.set('Content-Type', metrics.registry.contentType);
      res.send(await metrics.registry.metrics());
    });
    app.use(objectRouter(runtime));
    app.use(imageRouter(runtime));
    app.use(stackSignalRouter(runtime));
    app.use(pxe.router);
    app.use(graphiqlRouter());
    // Oversized or malformed bodies: a GraphQL-shaped error instead of express's HTML page.
    app.use(
      (
        error: { status?: number; type?: string; message?: string },
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        const status = error.status ?? 500;
        const code =
          error.type === 'entity.too.large'
            ? 'PAYLOAD_TOO_LARGE'
            : status < 500
              ? 'BAD_REQUEST'
              : 'INTERNAL_SERVER_ERROR';
        const message =
          error.type === 'entity.too.large'
            ? `Request body larger than the limit of ${config.limits.maxBodyBytes} bytes`
            : status < 500
              ? `Malformed request: ${error.message ?? 'bad request'}`
              : 'Internal server error';
        res.status(status).json({ errors: [{ message, extensions: { code } }] });
      },
    );

    graphql = graphqlHttpHandler(
      apollo,
      async (req) => {
        try {
          const auth = await authenticate(runtime, req.headers.authorization);
          return serviceContext(
            runtime,
            auth,
            req.socket.remoteAddress ?? '',
            `http://${req.headers.host ?? 'localhost'}`,
          );
        } catch (error) {
          const message = error instanceof StratusError ? error.message : 'Authentication failed';
          throw new GraphQLError(message, {
            extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
          });
        }
      },
      config.limits.maxBodyBytes,
    );
    await new Promise<void>((resolve) => httpServer.listen(config.port, config.host, resolve));
    stops.push(() => apollo.stop());
    const port = (httpServer.address() as AddressInfo).port;
    pxe.deployer.listening(port);
    const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    logger.info({ url: `${url}/graphql` }, 'Stratus is listening');
    // Stacks IN_PROGRESS when the last Stratus stopped continue where they were.
    await resumeStacks(runtime, url).catch((err) =>
      logger.error({ err }, 'resuming stacks failed'),
    );
    let stopping: Promise<void> | null = null;
    return {
      url,
      port,
      runtime,
      bootstrap,
      stop: () => {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
