import {
  addFlavorAccess,
  createFlavor,
  deleteFlavor,
  type FlavorRow,
  listFlavors,
  loadFlavorProjects,
  loadFlavors,
} from '../resolvers/compute/flavors';
import {
  deleteKeypair,
  generateKeypair,
  importKeypair,
  type KeypairRow,
  listKeypairs,
  loadKeypairs,
} from '../resolvers/compute/keypairs';
import {
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
} from '../resolvers/errors';
import { builder } from './builder';
import { Project, User } from './identity/types';
import { listConnection } from './pagination';

export const Flavor = builder.loadableNodeRef<FlavorRow, string>('Flavor', {
  id: { resolve: (f) => f.id },
  load: async (ids, ctx) => (await loadFlavors(ctx, ids)) as unknown as Array<FlavorRow | Error>,
});
Flavor.implement({
  description: 'The size of a server (Nova flavor)',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    vcpus: t.exposeInt('vcpus'),
    ramMib: t.exposeInt('ramMib'),
    rootDiskGib: t.exposeInt('rootDiskGib'),
    ephemeralGib: t.exposeInt('ephemeralGib'),
    swapMib: t.exposeInt('swapMib'),
    extraSpecs: t.field({ type: 'JSON', resolve: (f) => f.extraSpecs }),
    isPublic: t.exposeBoolean('isPublic'),
    projects: t.loadableList({
      type: Project,
      description: 'Projects that may use this private flavor (admins only)',
      authScopes: { policy: 'compute:manage_flavors' },
      nullable: true,
      load: async (ids: string[], ctx) => loadFlavorProjects(ctx, ids),
      resolve: (f) => f.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const Keypair = builder.loadableNodeRef<KeypairRow, string>('Keypair', {
  id: { resolve: (k) => k.id },
  load: async (ids, ctx) => (await loadKeypairs(ctx, ids)) as unknown as Array<KeypairRow | Error>,
});
Keypair.implement({
  description: 'An SSH public key of a user, injected into servers booted with it',
  fields: (t) => ({
    name: t.exposeString('name'),
    publicKey: t.exposeString('publicKey'),
    fingerprint: t.exposeString('fingerprint', {
      description: 'SHA256:… as `ssh-keygen -l` prints it',
    }),
    type: t.exposeString('keyType'),
    user: t.field({ type: User, nullable: true, resolve: (k) => k.userId }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const FlavorFilter = builder.inputType('FlavorFilter', {
  fields: (t) => ({ minVcpus: t.int(), minRamMib: t.int(), minDiskGib: t.int() }),
});

builder.queryFields((t) => ({
  flavors: t.connection({
    type: Flavor,
    description: 'Public flavors and the private ones your project may use, smallest RAM first',
    authScopes: { policy: 'compute:list_flavors' },
    nullable: true,
    args: { filter: t.arg({ type: FlavorFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listFlavors(ctx, args.filter ?? {}, page)),
  }),
  keypairs: t.connection({
    type: Keypair,
    description: 'Your keypairs (an admin may name a user)',
    authScopes: { policy: 'compute:manage_keypairs' },
    nullable: true,
    args: { userId: t.arg.globalID({ for: User }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listKeypairs(ctx, args.userId?.id ?? null, page)),
  }),
}));

const CreateFlavorInput = builder.inputType('CreateFlavorInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    vcpus: t.int({ required: true }),
    ramMib: t.int({ required: true }),
    rootDiskGib: t.int({ required: true }),
    ephemeralGib: t.int(),
    swapMib: t.int(),
    extraSpecs: t.field({ type: 'JSON' }),
    isPublic: t.boolean(),
    projectIds: t.globalIDList({
      for: Project,
      description: 'Projects that may use a private flavor',
    }),
  }),
});
const FlavorAccessInput = builder.inputType('FlavorAccessInput', {
  fields: (t) => ({
    flavorId: t.globalID({ for: Flavor, required: true }),
    projectIds: t.globalIDList({ for: Project, required: true }),
  }),
});
const ImportKeypairInput = builder.inputType('ImportKeypairInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    publicKey: t.string({ required: true, description: 'One OpenSSH public key line' }),
  }),
});
const GenerateKeypairInput = builder.inputType('GenerateKeypairInput', {
  fields: (t) => ({ name: t.string({ required: true }) }),
});
const GeneratedKeypair = builder
  .objectRef<{ keypair: KeypairRow; privateKey: string }>('GeneratedKeypair')
  .implement({
    fields: (t) => ({
      keypair: t.field({ type: Keypair, resolve: (g) => g.keypair }),
      privateKey: t.exposeString('privateKey', {
        description: 'OpenSSH private key, shown once; Stratus does not keep it',
      }),
    }),
  });

builder.mutationFields((t) => ({
  createFlavor: t.field({
    type: Flavor,
    authScopes: { policy: 'compute:manage_flavors' },
    args: { input: t.arg({ type: CreateFlavorInput, required: true }) },
    errors: {
      types: [InvalidInputError, NameTakenError, ForbiddenError],
      dataField: { name: 'flavor' },
    },
    resolve: (_root, { input }, ctx) =>
      createFlavor(ctx, {
        ...Object.fromEntries(Object.entries(input).filter(([, v]) => v != null)),
        projectIds: input.projectIds?.map((p) => p.id),
      }),
  }),
  addFlavorAccess: t.field({
    type: Flavor,
    authScopes: { policy: 'compute:manage_flavors' },
    args: { input: t.arg({ type: FlavorAccessInput, required: true }) },
    errors: {
      types: [InvalidInputError, NotFoundError, ForbiddenError],
      dataField: { name: 'flavor' },
    },
    resolve: (_root, { input }, ctx) =>
      addFlavorAccess(ctx, {
        flavorId: input.flavorId.id,
        projectIds: input.projectIds.map((p) => p.id),
      }),
  }),
  deleteFlavor: t.field({
    type: Flavor,
    description: 'Servers keep the values they copied from the flavor',
    authScopes: { policy: 'compute:manage_flavors' },
    args: { id: t.arg.globalID({ for: Flavor, required: true }) },
    errors: { types: [NotFoundError, ForbiddenError], dataField: { name: 'flavor' } },
    resolve: (_root, { id }, ctx) => deleteFlavor(ctx, id.id),
  }),
  importKeypair: t.field({
    type: Keypair,
    authScopes: { policy: 'compute:manage_keypairs' },
    args: { input: t.arg({ type: ImportKeypairInput, required: true }) },
    errors: {
      types: [InvalidInputError, NameTakenError, ForbiddenError],
      dataField: { name: 'keypair' },
    },
    resolve: (_root, { input }, ctx) => importKeypair(ctx, input),
  }),
  generateKeypair: t.field({
    type: GeneratedKeypair,
    authScopes: { policy: 'compute:manage_keypairs' },
    args: { input: t.arg({ type: GenerateKeypairInput, required: true }) },
    errors: {
      types: [InvalidInputError, NameTakenError, ForbiddenError],
      dataField: { name: 'generated' },
    },
    resolve: (_root, { input }, ctx) => generateKeypair(ctx, input),
  }),
  deleteKeypair: t.field({
    type: Keypair,
    authScopes: { policy: 'compute:manage_keypairs' },
    args: { id: t.arg.globalID({ for: Keypair, required: true }) },
    errors: { types: [NotFoundError, ForbiddenError], dataField: { name: 'keypair' } },
    resolve: (_root, { id }, ctx) => deleteKeypair(ctx, id.id),
  }),
}));
