import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication, Type } from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { ConfigError } from '@meterlink/config';
import {
  HealthRegistry,
  NestPinoLogger,
  collectProcessMetrics,
  createLogger,
} from '@meterlink/observability';
import { RethrowRpcErrorsFilter } from './rethrow-rpc.filter';

/** A transport that can tell readiness whether its consumer runs. */
export type ObservableTransport = CustomTransportStrategy & { isRunning?: () => boolean };

export interface ServiceBootstrap<C> {
  name: string;
  loadConfig: () => C;
  module: (config: C) => Type<unknown> | import('@nestjs/common').DynamicModule;
  httpPort: (config: C) => number;
  shutdownTimeoutMs: (config: C) => number;
  /** The Kafka transport for `@EventPattern` handlers, if the service consumes topics. */
  transport?: (app: INestApplication, config: C) => ObservableTransport | undefined;
}

/**
 * Boots one NestJS service: validated config (a bad variable stops it, naming the variable),
 * structured logs, health and metrics, and a SIGTERM shutdown bounded by a deadline.
 */
export async function runService<C>(definition: ServiceBootstrap<C>): Promise<INestApplication> {
  process.env.SERVICE_NAME ??= definition.name;
  const log = createLogger('bootstrap');
  let config: C;
  try {
    config = definition.loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      log.fatal(
        { problems: error.problems },
        `${definition.name} refuses to start: ${error.message}`,
      );
      process.stderr.write(`${definition.name}: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  collectProcessMetrics(definition.name);
  const app = await NestFactory.create(definition.module(config), {
    logger: new NestPinoLogger(),
    bufferLogs: false,
  });
  // Our own signal handling instead of enableShutdownHooks: Nest re-raises the signal after its
  // hooks, so the process would end by signal, not with an exit code that says it went well.
  const timeoutMs = definition.shutdownTimeoutMs(config);
  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      log.info({ signal }, 'shutting down');
      setTimeout(() => {
        log.error({ timeoutMs }, 'shutdown deadline passed; exiting');
        process.exit(1);
      }, timeoutMs).unref();
      app.close().then(
        () => {
          log.info('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
  const strategy = definition.transport?.(app, config);
  if (strategy)
    app
      .connectMicroservice({ strategy }, { inheritAppConfig: true })
      .useGlobalFilters(new RethrowRpcErrorsFilter());
  // Bootstrap hooks (migrations, fleet view replay, connections) finish before any Kafka handler
  // runs: a hybrid app's transports would otherwise start consuming first.
  // Readiness includes the Kafka consumer of the transport, when it can say whether it runs.
  if (strategy?.isRunning) {
    const isRunning = strategy.isRunning.bind(strategy);
    app
      .get(HealthRegistry)
      .register('kafka-consumer', () =>
        isRunning() ? { ok: true } : { ok: false, detail: 'consumer not running' },
      );
  }
  await app.init();
  if (strategy) await app.startAllMicroservices();
  await app.listen(definition.httpPort(config), '0.0.0.0');
  log.info({ port: definition.httpPort(config) }, `${definition.name} started`);
  return app;
}

export function main(start: () => Promise<unknown>): void {
  start().catch((error: unknown) => {
    createLogger('bootstrap').fatal({ err: error }, 'failed to start');
    process.exit(1);
  });
}
