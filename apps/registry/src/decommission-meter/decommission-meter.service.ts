import { Inject, Injectable } from '@nestjs/common';
import type { FleetMeterRecord } from '@meterlink/contracts';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { MetersRepository } from '../meters/meters.repository';
import { FleetPublisherService } from '../fleet-publisher/fleet-publisher.service';
import { BrokerCredentialsService } from '../broker/broker-credentials.service';
import { PasswordFileService } from '../broker/password-file.service';
import { DeviceCertificatesService } from '../device-certificates/device-certificates.service';
import { AuditLogRepository } from '../audit/audit-log.repository';

/**
 * Decommission: the meter is marked decommissioned (with its audit entry, in one transaction),
 * every service's view says so, its broker credential goes (password file line and dynsec
 * client, which disconnects it) and its certificates are revoked. Repeating it finishes what an
 * interrupted call left undone; only the first call is audited.
 */
@Injectable()
export class DecommissionMeterService {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly meters: MetersRepository,
    private readonly audit: AuditLogRepository,
    private readonly publisher: FleetPublisherService,
    private readonly broker: BrokerCredentialsService,
    private readonly passwordFile: PasswordFileService,
    private readonly certificates: DeviceCertificatesService,
  ) {}

  /** Undefined for an unknown meter. */
  async decommission(meterId: string, actor: string): Promise<FleetMeterRecord | undefined> {
    await withTransaction(this.pool, async (client) => {
      if (await this.meters.decommission(meterId, client))
        await this.audit.append(actor, 'meter.decommission', meterId, {}, client);
    });
    const meter = await this.meters.get(meterId);
    if (!meter) return undefined;
    if (meter.record.status !== 'decommissioned') return meter.record;
    await this.publisher.publishMeters([meter.record]);
    // The line leaves the password file: the broker's reload disconnects password sessions.
    await this.passwordFile.render();
    await this.broker.revoke(meterId);
    await this.certificates.revokeAll(meterId, 'cessationOfOperation', actor);
    return meter.record;
  }
}
