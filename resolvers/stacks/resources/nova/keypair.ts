import {
  deleteKeypair,
  generateKeypair,
  importKeypair,
  type KeypairRow,
  loadKeypairs,
} from '../../../compute/keypairs';
import { NotFoundError } from '../../../errors';
import type { PropertySpec, ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { asProperties, badProperty, oneOf, optBool, optString, type Props } from './props';

/**
 * OS::Nova::KeyPair: imports `public_key`, or generates one (Ed25519, as generateKeypair
 * does); the private key is kept in the resource's data only with save_private_key, as Heat
 * does. Keypairs belong to the stack owner; `user` may only name them.
 */

const properties: Record<string, PropertySpec> = {
  name: { type: 'string', required: true },
  public_key: { type: 'string' },
  save_private_key: { type: 'boolean', default: false },
  type: { type: 'string', default: 'ssh' },
  user: { type: 'string' },
};

/** `partial` (validate): a name left out may still come from another resource. */
function check(ctx: ResourceContext, props: Props, partial = false): void {
  oneOf(ctx, props, 'type', ['ssh'] as const, 'ssh');
  const user = optString(ctx, props, 'user');
  if (user && user !== ctx.svc.auth?.userId) {
    throw badProperty(ctx, 'user', 'a stack makes keypairs for its owner only');
  }
  if (!partial && !optString(ctx, props, 'name')) throw badProperty(ctx, 'name', 'is required');
}

async function row(ctx: ResourceContext, state: ResourceState): Promise<KeypairRow | null> {
  return state.physicalId ? (await loadKeypairs(ctx.svc, [state.physicalId]))[0] : null;
}

export const keypairPlugin: ResourcePlugin = {
  type: 'OS::Nova::KeyPair',
  properties,
  attributes: ['public_key', 'private_key'],
  physicalType: 'Keypair',
  async validate(ctx, props) {
    check(ctx, props, true);
  },
  async create(ctx, props) {
    check(ctx, props);
    const name = optString(ctx, props, 'name')!;
    const publicKey = optString(ctx, props, 'public_key');
    const fields = { name: 'name', publicKey: 'public_key' };
    if (publicKey) {
      const imported = await asProperties(ctx, fields, () =>
        importKeypair(ctx.svc, { name, publicKey }),
      );
      return { physicalId: imported.id };
    }
    const made = await asProperties(ctx, fields, () => generateKeypair(ctx.svc, { name }));
    const save = optBool(ctx, props, 'save_private_key') ?? false;
    return {
      physicalId: made.keypair.id,
      data: save ? { privateKey: made.privateKey } : {},
    };
  },
  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteKeypair(ctx.svc, state.physicalId).catch((error: unknown) => {
      if (!(error instanceof NotFoundError)) throw error;
    });
  },
  async attribute(ctx, state, name) {
    if (name === 'private_key') {
      return typeof state.data.privateKey === 'string' ? state.data.privateKey : '';
    }
    const keypair = await row(ctx, state);
    if (!keypair) return null;
    if (name === 'public_key') return keypair.publicKey;
    if (name !== 'show') return null;
    return {
      id: keypair.id,
      name: keypair.name,
      public_key: keypair.publicKey,
      fingerprint: keypair.fingerprint,
      type: 'ssh',
      user_id: keypair.userId,
    };
  },
};
