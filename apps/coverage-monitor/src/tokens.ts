export const COVERAGE_CONFIG = Symbol('COVERAGE_CONFIG');
export const PRODUCER = Symbol('PRODUCER');
export const KAFKA = Symbol('KAFKA');
export const METER_DIRECTORY = Symbol('METER_DIRECTORY');
export const REDIS = Symbol('REDIS');
export const STATE_LAYOUT = Symbol('STATE_LAYOUT');
