import type { ApolloServerPlugin } from '@apollo/server';
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one Stratus process, served at /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'stratus_graphql_requests_total',
    help: 'GraphQL operations, by operation name, type and outcome',
    labelNames: ['operation', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'stratus_graphql_request_duration_seconds',
    help: 'GraphQL operation latency',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'stratus_active_subscriptions',
    help: 'Open GraphQL subscriptions on this process',
    registers: [this.registry],
  });
  readonly dbQueries = new Counter({
    name: 'stratus_db_queries_total',
    help: 'SQL statements issued by services (through drizzle)',
    registers: [this.registry],
  });
  readonly sockets = new Gauge({
    name: 'stratus_websocket_connections',
    help: 'Open graphql-ws connections on this process',
    registers: [this.registry],
  });

  constructor(pool: pg.Pool) {
    collectDefaultMetrics({ register: this.registry });
    for (const [name, help, read] of [
      ['stratus_db_pool_total', 'Connections in the PostgreSQL pool', () => pool.totalCount],
      ['stratus_db_pool_idle', 'Idle connections in the PostgreSQL pool', () => pool.idleCount],
      ['stratus_db_pool_waiting', 'Queries waiting for a pool connection', () => pool.waitingCount],
    ] as const) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    }
  }

  /** Apollo plugin counting each operation and timing it. */
  apolloPlugin<T extends object>(): ApolloServerPlugin<T> {
    const metrics = this;
    return {
      async requestDidStart() {
        const start = process.hrtime.bigint();
        return {
          async willSendResponse(rc) {
            const operation = rc.operationName ?? rc.request.operationName ?? 'anonymous';
            const type = rc.operation?.operation ?? 'invalid';
            const body = rc.response.body;
            const failed = body.kind === 'single' && (body.singleResult.errors?.length ?? 0) > 0;
            metrics.requests.inc({ operation, type, outcome: failed ? 'error' : 'ok' });
            metrics.latency.observe(
              { operation, type },
              Number(process.hrtime.bigint() - start) / 1e9,
            );
          },
        };
      },
    };
  }
}
