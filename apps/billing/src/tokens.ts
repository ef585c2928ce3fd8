export const BILLING_CONFIG = Symbol('BILLING_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
