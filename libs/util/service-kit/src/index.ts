export * from './bootstrap';
export * from './observability.module';
export * from './operator-auth';
export * from './openapi';
