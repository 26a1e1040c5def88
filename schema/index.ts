import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder';
import './errors';
import './identity/types';
import './identity/queries';
import './identity/mutations';
import './quotas';
import './catalog';
import './operations';
import './events';
import './objects';
import './compute';
import './images';
import './networks/types';
import './networks/queries';
import './networks/mutations';
import './networks/subscriptions';
import './servers/types';
import './servers/addresses';
import './servers/queries';
import './servers/mutations';
import './servers/subscriptions';
import './volumes/types';
import './volumes/queries';
import './volumes/mutations';
import './volumes/subscriptions';

/** The whole Stratus schema, assembled from one file per domain. */
export const schema = lexicographicSortSchema(builder.toSchema());
