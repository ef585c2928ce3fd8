export * from './client';
export * from './producer';
export * from './consumer';
export * from './admin';
export * from './batch-transport';
export * from './sender';
