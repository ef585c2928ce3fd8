import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { lastValueFrom, isObservable } from 'rxjs';
import type { Kafka } from 'kafkajs';
import { BatchConsumer, type BatchConsumerOptions, type ConsumedBatch } from './consumer';
import type { BatchingProducer } from './producer';

/**
 * NestJS transport over the project's BatchConsumer: `@EventPattern('<topic>')` handlers receive
 * a whole decoded batch of one partition, and offsets are committed only after the handler's
 * promise resolves. Replaces @nestjs/microservices' Kafka transport, which handles one message at
 * a time and commits unmatched events (nestjs/nest#12703, #3082).
 */
export class KafkaBatchTransport extends Server implements CustomTransportStrategy {
  private consumer: BatchConsumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: Omit<BatchConsumerOptions, 'topics' | 'handler'> & {
      deadLetterProducer: BatchingProducer;
    },
  ) {
    super();
  }

  listen(callback: (error?: unknown) => void): void {
    const topics = [...this.messageHandlers.keys()];
    if (topics.length === 0) {
      callback();
      return;
    }
    this.consumer = new BatchConsumer(this.kafka, {
      ...this.options,
      topics,
      handler: async (batch: ConsumedBatch) => {
        const handler = this.getHandlerByPattern(batch.topic);
        if (!handler) throw new Error(`no handler for ${batch.topic}`);
        const result: unknown = await handler(batch);
        if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
      },
    });
    this.consumer.start().then(
      () => callback(),
      (error: unknown) => callback(error),
    );
  }

  isRunning(): boolean {
    return this.consumer?.isRunning() ?? true;
  }

  async close(): Promise<void> {
    await this.consumer?.stop();
  }

  on(): void {
    // Status events are reported through the health registry instead.
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }
}
