export type { Pool, PoolClient } from 'pg';
export { withTransaction } from './transaction';
export { createPool, pingPostgres } from './pool';
export { migrate } from './migrate';
export * from './schema-owner';
export * from './outbox';
