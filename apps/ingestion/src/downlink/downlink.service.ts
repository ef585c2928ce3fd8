import { Injectable } from '@nestjs/common';
import { downlinkEsipaTopic, type EsipaOutboundRecord } from '@meterlink/contracts';
import { counter, createLogger } from '@meterlink/observability';
import { UplinkConsumer } from '../uplink/uplink.consumer';

const delivered = counter(
  'downlink_delivered_total',
  'ESipa messages handed to the broker for a meter',
  ['type'],
);
const expired = counter(
  'downlink_expired_total',
  'ESipa messages not delivered because they expired',
);

/** Hands the eIM's messages to the broker (QoS 1; a sleeping meter gets them from its session). */
@Injectable()
export class DownlinkService {
  private readonly log = createLogger('DownlinkService');
  constructor(private readonly mqtt: UplinkConsumer) {}

  async deliver(record: EsipaOutboundRecord): Promise<void> {
    if (record.expiresAt && Date.parse(record.expiresAt) < Date.now()) {
      expired.inc();
      this.log.info(
        { meterId: record.meterId, type: record.message.type },
        'downlink expired before delivery',
      );
      return;
    }
    await this.mqtt.publish(downlinkEsipaTopic(record.meterId), JSON.stringify(record.message));
    delivered.inc({ type: record.message.type });
  }
}
