import { Injectable } from '@nestjs/common';
import { createLogger } from '@meterlink/observability';
import { DynsecClient } from './dynsec.client';

export interface MeterCredential {
  meterId: string;
  password: string;
}

const ALREADY_EXISTS = /already exists/i;

/**
 * Mosquitto 2.0's dynamic security plugin does not substitute %u/%c in ACL topics (verified
 * against 2.0.11: a `mtr/v1/%u/up/#` grant refuses the meter's own topic), so each meter gets a
 * role of its own with literal topics: publish under its `up/`, subscribe to and receive its `down/`.
 */
export const meterRole = (meterId: string): string => `meter:${meterId}`;
export function meterAcls(meterId: string): Record<string, unknown>[] {
  const grant = (acltype: string, topic: string): Record<string, unknown> => ({
    acltype,
    topic,
    priority: 0,
    allow: true,
  });
  return [
    grant('publishClientSend', `mtr/v1/${meterId}/up/#`),
    grant('subscribePattern', `mtr/v1/${meterId}/down/#`),
    grant('unsubscribePattern', `mtr/v1/${meterId}/down/#`),
    grant('publishClientReceive', `mtr/v1/${meterId}/down/#`),
  ];
}

/** Provisions and revokes each meter's own broker credential and its ACL role. */
@Injectable()
export class BrokerCredentialsService {
  private readonly log = createLogger('BrokerCredentialsService');
  constructor(private readonly dynsec: DynsecClient) {}

  /** Returns the meterIds that now have a credential (created now or earlier). */
  async provision(credentials: MeterCredential[]): Promise<Set<string>> {
    // Two commands per meter: its role, then its client bound to client id = meterId.
    const responses = await this.dynsec.execute(
      credentials.flatMap((c) => [
        {
          command: 'createRole',
          rolename: meterRole(c.meterId),
          textname: 'one meter: its own topics only',
          acls: meterAcls(c.meterId),
        },
        {
          command: 'createClient',
          username: c.meterId,
          clientid: c.meterId,
          password: c.password,
          roles: [{ rolename: meterRole(c.meterId) }],
        },
      ]),
    );
    const ok = new Set<string>();
    credentials.forEach(({ meterId }, i) => {
      const failures = [responses[2 * i], responses[2 * i + 1]].filter(
        (r) => r?.error && !ALREADY_EXISTS.test(r.error),
      );
      if (failures.length === 0 && responses[2 * i + 1] !== undefined) ok.add(meterId);
      else
        this.log.error(
          { meterId, errors: failures.map((f) => f?.error) },
          'broker refused to provision meter',
        );
    });
    return ok;
  }

  /**
   * Closes the meter's open connections (password or certificate login) and lets it log in again.
   * dynsec has no kick command: disableClient disconnects the client's sessions at once, and the
   * enableClient right behind it in the same message restores password logins. (A certificate
   * login is not checked against the disabled flag at all, so only the CRL keeps it out.)
   */
  async disconnect(meterId: string): Promise<void> {
    const responses = await this.dynsec.execute([
      { command: 'disableClient', username: meterId },
      { command: 'enableClient', username: meterId },
    ]);
    const failure = responses.find((r) => r.error && !/not found/i.test(r.error));
    if (failure) throw new Error(`broker refused to disconnect ${meterId}: ${failure.error ?? ''}`);
  }

  /** Deletes the credential: the meter can no longer connect. */
  async revoke(meterId: string): Promise<void> {
    // Deleting the client also disconnects a meter that is connected now.
    const responses = await this.dynsec.execute([
      { command: 'deleteClient', username: meterId },
      { command: 'deleteRole', rolename: meterRole(meterId) },
    ]);
    const failure = responses.find((r) => r.error && !/not found/i.test(r.error));
    if (failure) throw new Error(`broker refused to revoke ${meterId}: ${failure.error ?? ''}`);
  }
}
