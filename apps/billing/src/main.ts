import { TOPICS } from '@meterlink/contracts';
import { KafkaBatchTransport, kafkaClient, kafkaClientsOnce } from '@meterlink/kafka';
import { main, runService } from '@meterlink/service-kit';
import { loadBillingConfig, type BillingConfig } from './config';
import { BillingModule } from './app.module';
import { readingColumnDecoder } from './record-readings/reading-decoder';
import { readingFastPath } from './record-readings/reading-fast-path';

const kafkaParts = kafkaClientsOnce(
  (config: BillingConfig) => ({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? 'billing',
  }),
  kafkaClient,
);

main(() =>
  runService<BillingConfig>({
    name: 'billing',
    loadConfig: loadBillingConfig,
    module: (config) =>
      BillingModule.register(config, kafkaParts(config).kafka, kafkaParts(config).producer),
    httpPort: (config) => config.HTTP_PORT,
    shutdownTimeoutMs: (config) => config.SHUTDOWN_TIMEOUT_MS,
    transport: (_app, config) =>
      new KafkaBatchTransport(kafkaParts(config).kafka, {
        groupId: 'billing',
        // A new deployment reads all retained input; the offsets stored with the ledger skip
        // what it already holds.
        fromBeginning: true,
        maxBytesPerPartition: config.BILLING_FETCH_BYTES_PER_PARTITION,
        deadLetterProducer: kafkaParts(config).producer,
        fastPaths: { [TOPICS.meterReadings.name]: readingFastPath },
        // Readings go straight into the ledger statement's columns (no record object each).
        columns: { [TOPICS.meterReadings.name]: readingColumnDecoder },
      }),
  }),
);
