export * from './bootstrap';
export * from './observability.module';
