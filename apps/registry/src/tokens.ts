export const REGISTRY_CONFIG = Symbol('REGISTRY_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
export const PRODUCER = Symbol('PRODUCER');
export const KAFKA = Symbol('KAFKA');
