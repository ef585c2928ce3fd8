import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type Logger } from 'pino';
import type { LoggerService } from '@nestjs/common';

interface LogContext {
  correlationId?: string;
}
const context = new AsyncLocalStorage<LogContext>();

/** Runs fn with a correlation id that every log line written inside it carries. */
export function withCorrelation<T>(correlationId: string | undefined, fn: () => T): T {
  return context.run({ ...(correlationId ? { correlationId } : {}) }, fn);
}
export function currentCorrelationId(): string | undefined {
  return context.getStore()?.correlationId;
}

/** Keys whose values never reach a log line, wherever they are nested (two levels). */
export const REDACTED_KEYS = [
  'password',
  'mqttPassword',
  'secret',
  'token',
  'authorization',
  'privateKey',
  'd',
  'apiKey',
];
const redactPaths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino({
    level: process.env.LOG_LEVEL ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths, censor: '[redacted]' },
    // Read per line: loggers are created at import time, before the service sets its name.
    mixin: () => {
      const correlationId = currentCorrelationId();
      const service = process.env.SERVICE_NAME ?? 'meterlink';
      return correlationId ? { service, correlationId } : { service };
    },
    formatters: { level: (label) => ({ level: label }) },
  });
  return root;
}

/** One logger per class (STYLE.md). */
export function createLogger(name: string): Logger {
  return rootLogger().child({ logger: name });
}

/** Routes NestJS's own logging through pino so every line is structured. */
export class NestPinoLogger implements LoggerService {
  private readonly logger = createLogger('nest');
  log(message: unknown, ...rest: unknown[]): void {
    this.logger.info({ context: rest.at(-1) }, String(message));
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.logger.error({ context: rest.at(-1), trace: rest[0] }, String(message));
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.logger.warn({ context: rest.at(-1) }, String(message));
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.logger.debug({ context: rest.at(-1) }, String(message));
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.logger.trace({ context: rest.at(-1) }, String(message));
  }
}

export type { Logger };
