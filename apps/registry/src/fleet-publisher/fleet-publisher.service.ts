import { Inject, Injectable } from '@nestjs/common';
import {
  TOPICS,
  type Carrier,
  type FleetMeterRecord,
  type RegionContract,
} from '@meterlink/contracts';
import { jsonRecord, newEventId, type BatchingProducer } from '@meterlink/kafka';
import { PRODUCER } from '../tokens';

/** Publishes the registry's records on the compacted fleet topics that every service reads. */
@Injectable()
export class FleetPublisherService {
  constructor(@Inject(PRODUCER) private readonly producer: BatchingProducer) {}

  async publishMeters(meters: FleetMeterRecord[]): Promise<void> {
    await this.producer.send(meters.map((m) => jsonRecord(TOPICS.fleetMeters, m.meterId, m)));
  }

  async publishCatalogue(carriers: Carrier[], regions: RegionContract[]): Promise<void> {
    const at = new Date().toISOString();
    await this.producer.send([
      ...carriers.map((c) =>
        jsonRecord(TOPICS.fleetCarriers, c.carrierId, {
          eventId: newEventId(),
          type: 'fleet.carrier' as const,
          at,
          ...c,
        }),
      ),
      ...regions.map((r) =>
        jsonRecord(TOPICS.fleetRegions, r.region, {
          eventId: newEventId(),
          type: 'fleet.region' as const,
          at,
          ...r,
        }),
      ),
    ]);
  }
}
