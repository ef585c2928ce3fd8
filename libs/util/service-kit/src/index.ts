export * from './bootstrap';
export * from './observability.module';
export * from './operator-auth';
