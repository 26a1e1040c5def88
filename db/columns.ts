import { sql } from 'drizzle-orm';
import { timestamp, uuid } from 'drizzle-orm/pg-core';

/** Primary key every resource table shares: a random UUID made by PostgreSQL. */
export const idColumn = () => uuid('id').primaryKey().default(sql`gen_random_uuid()`);

/** created_at / updated_at, both set by the database. */
export const lifecycleDates = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true })
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date()),
};
