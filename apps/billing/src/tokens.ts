export const BILLING_CONFIG = Symbol('BILLING_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
export const PRODUCER = Symbol('PRODUCER');
export const CONSUMPTION_TARIFFS = Symbol('CONSUMPTION_TARIFFS');
