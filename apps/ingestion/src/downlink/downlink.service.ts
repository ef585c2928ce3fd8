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
    const expiresAt = record.expiresAt ? Date.parse(record.expiresAt) : undefined;
    if (expiresAt !== undefined && expiresAt < Date.now()) {
      expired.inc();
      this.log.info(
        { meterId: record.meterId, type: record.message.type },
        'downlink expired before delivery',
      );
      return;
    }
    // The broker drops the copy it keeps for a sleeping meter once the eIM has given up on it
    // (MQTT 5 Message Expiry), so the meter does not run a package whose swap already expired.
    await this.mqtt.publish(
      downlinkEsipaTopic(record.meterId),
      JSON.stringify(record.message),
      expiresAt !== undefined ? { expiryIntervalS: (expiresAt - Date.now()) / 1000 } : {},
    );
    delivered.inc({ type: record.message.type });
  }
}
