import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import { createLogger } from '@meterlink/observability';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
}

const log = createLogger('kafkajs');

/** kafkajs behind the project's own interface (ARCHITECTURE.md pitfalls): logs go through pino. */
export function createKafka(options: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error(rest, message);
        else if (level === logLevel.WARN) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}

/** Errors worth retrying without limit: the dependency is away, not the message bad. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  // PostgreSQL: connection failures, admin shutdown, serialization and deadlock (safe to retry).
  '08000',
  '08001',
  '08003',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '40001',
  '40P01',
  '53300',
]);

export function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const { code, name, retriable } = error as {
    code?: unknown;
    name?: unknown;
    retriable?: unknown;
  };
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  if (retriable === true) return true;
  if (
    typeof name === 'string' &&
    /KafkaJS(Connection|RequestTimeout|NumberOfRetriesExceeded|Broker)/.test(name)
  )
    return true;
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /(Connection terminated|connect ECONNREFUSED|Connection is closed|MaxRetriesPerRequest)/i.test(
      message,
    )
  );
}

export const kafkaClient = (brokers: string[], clientId: string): Kafka =>
  createKafka({ brokers, clientId });
