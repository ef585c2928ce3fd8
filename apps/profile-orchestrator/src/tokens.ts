export const ORCHESTRATOR_CONFIG = Symbol('ORCHESTRATOR_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
export const PRODUCER = Symbol('PRODUCER');
export const FLEET_VIEW = Symbol('FLEET_VIEW');
export const COVERAGE_STATS = Symbol('COVERAGE_STATS');
export const SMDP_CLIENT = Symbol('SMDP_CLIENT');
