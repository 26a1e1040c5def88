import { type Catalog, describeCatalog } from '../resolvers/catalog';
import { builder } from './builder';

const DriverStatusType = builder.objectRef<Catalog['drivers'][number]>('DriverStatus').implement({
  fields: (t) => ({
    kind: t.exposeString('kind'),
    implementation: t.exposeString('implementation', { nullable: true }),
    healthy: t.exposeBoolean('healthy'),
    detail: t.exposeString('detail'),
  }),
});

const CatalogType = builder.objectRef<Catalog>('Catalog').implement({
  description:
    'What this Stratus offers: version, domains of the API, and the driver behind each kind',
  fields: (t) => ({
    version: t.exposeString('version'),
    domains: t.exposeStringList('domains', { description: 'API domains enabled on this Stratus' }),
    drivers: t.field({ type: [DriverStatusType], resolve: (c) => c.drivers }),
  }),
});

builder.queryField('catalog', (t) =>
  t.field({
    type: CatalogType,
    nullable: true,
    authScopes: { policy: 'catalog:get' },
    resolve: (_root, _args, ctx) => describeCatalog(ctx),
  }),
);
