import { randomBytes, randomUUID } from 'node:crypto';
import { InvalidInputError } from '../../../errors';
import type { ResourcePlugin, ResourceState } from '../plugin';

/** One signal as the handle keeps it (Heat's handle metadata, keyed by the signal's id). */
export interface WaitSignal {
  status: 'SUCCESS' | 'FAILURE';
  reason: string;
  data: unknown;
}

const SIGNAL_KEYS = ['data', 'reason', 'status', 'id'];

export function storedSignals(data: Record<string, unknown>): Record<string, WaitSignal> {
  return (data.signals ?? {}) as Record<string, WaitSignal>;
}

/** Heat's HeatWaitConditionHandle.handle_signal: defaults, then the metadata format check. */
export function acceptSignal(state: ResourceState, details: unknown): Record<string, unknown> {
  const signals = storedSignals(state.data);
  const given = details === null || details === undefined || details === '' ? {} : details;
  if (typeof given !== 'object' || Array.isArray(given))
    throw new InvalidInputError(
      'details',
      'details: a wait condition signal must be a JSON object',
    );
  const body = given as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!SIGNAL_KEYS.includes(key))
      throw new InvalidInputError(
        `details.${key}`,
        `details.${key}: unknown key (allowed: ${SIGNAL_KEYS.join(', ')})`,
      );
  }
  const status = body.status ?? 'SUCCESS';
  if (status !== 'SUCCESS' && status !== 'FAILURE')
    throw new InvalidInputError('details.status', 'details.status: must be SUCCESS or FAILURE');
  const id =
    body.id === undefined || body.id === null
      ? String(Object.keys(signals).length + 1)
      : String(body.id);
  const reason =
    typeof body.reason === 'string'
      ? body.reason
      : `Signal ${Object.keys(signals).length + 1} received`;
  const signal: WaitSignal = { status, reason, data: body.data ?? null };
  return { ...state.data, signals: { ...signals, [id]: signal } };
}

/** OS::Heat::WaitConditionHandle: where a guest signals (curl) that it is ready or failed. */
export const waitConditionHandle: ResourcePlugin = {
  type: 'OS::Heat::WaitConditionHandle',
  properties: {
    signal_transport: { type: 'string', default: 'TOKEN_SIGNAL' },
  },
  attributes: ['token', 'endpoint', 'curl_cli', 'signal'],
  async validate(ctx, props) {
    const transport = props.signal_transport ?? 'TOKEN_SIGNAL';
    if (transport !== 'TOKEN_SIGNAL')
      throw new InvalidInputError(
        `${ctx.path}.signal_transport`,
        `${ctx.path}.signal_transport: only TOKEN_SIGNAL is supported (the signal URL carries its credential)`,
      );
  },
  async create(ctx, props) {
    await waitConditionHandle.validate?.(ctx, props);
    return {
      physicalId: randomUUID(),
      data: { token: randomBytes(24).toString('hex'), signals: {} },
    };
  },
  async delete() {},
  async attribute(ctx, state, name) {
    const endpoint = ctx.engine.signalUrl();
    const token = state.data.token as string;
    switch (name) {
      case 'token':
        return token;
      case 'endpoint':
        return endpoint;
      case 'curl_cli':
        return `curl -i -X POST -H 'X-Auth-Token: ${token}' -H 'Content-Type: application/json' -H 'Accept: application/json' ${endpoint}`;
      case 'signal':
        return JSON.stringify({ endpoint, token });
      case 'show':
        return { id: state.physicalId, endpoint, signals: storedSignals(state.data) };
      default:
        return null;
    }
  },
  async signal(_ctx, state, details) {
    return { data: acceptSignal(state, details) };
  },
};
