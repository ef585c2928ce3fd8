export const INGESTION_CONFIG = Symbol('INGESTION_CONFIG');
export const KAFKA = Symbol('KAFKA');
export const PRODUCER = Symbol('PRODUCER');
export const FLEET_VIEW = Symbol('FLEET_VIEW');
export const REDIS = Symbol('REDIS');
