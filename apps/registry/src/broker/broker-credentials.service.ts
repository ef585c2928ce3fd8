import { Inject, Injectable } from '@nestjs/common';
import { createLogger } from '@meterlink/observability';
import { REGISTRY_CONFIG } from '../tokens';
import type { RegistryConfig } from '../config';
import { DynsecClient, type DynsecCommand, type DynsecResponse } from './dynsec.client';

export interface MeterCredential {
  meterId: string;
  password: string;
}

const ALREADY_EXISTS = /already exists/i;
const NOT_FOUND = /not found/i;

/**
 * Mosquitto 2.0's dynamic security plugin does not substitute %u/%c in ACL topics (verified
 * against 2.0.11: a `mtr/v1/%u/up/#` grant refuses the meter's own topic), so in dynsec mode each
 * meter gets a role of its own with literal topics: publish under its `up/`, subscribe to and
 * receive its `down/`.
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

function failure(responses: DynsecResponse[]): DynsecResponse | undefined {
  return responses.find((r) => r.error && !NOT_FOUND.test(r.error));
}

/**
 * Each meter's broker credential through the dynamic-security plugin, and what both credential
 * modes need from it: closing a meter's connections and removing what dynsec holds for it.
 * (In password-file mode the credential itself is PasswordFileService's.)
 */
@Injectable()
export class BrokerCredentialsService {
  private readonly log = createLogger('BrokerCredentialsService');
  constructor(
    private readonly dynsec: DynsecClient,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {}

  get mode(): RegistryConfig['BROKER_CREDENTIALS'] {
    return this.config.BROKER_CREDENTIALS;
  }

  /** dynsec mode: returns the meterIds that now have a credential (created now or earlier). */
  async provision(credentials: MeterCredential[]): Promise<Set<string>> {
    // Two commands per meter: its role, then its client bound to client id = meterId.
    const responses = await this.dynsec.execute(
      credentials.flatMap((c) => [
        {
          command: 'createRole',
          rolename: meterRole(c.meterId),
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
   * login is not checked against the disabled flag at all, so only the CRL keeps it out.) A meter
   * dynsec does not know (password-file mode) is kicked by creating a client of that name and
   * deleting it again: deleteClient disconnects every session with that username.
   */
  async disconnect(meterId: string): Promise<void> {
    const responses = await this.dynsec.execute([
      { command: 'disableClient', username: meterId },
      { command: 'enableClient', username: meterId },
    ]);
    if (responses.some((r) => r.error && NOT_FOUND.test(r.error))) await this.kick(meterId);
    const refused = failure(responses);
    if (refused) throw new Error(`broker refused to disconnect ${meterId}: ${refused.error ?? ''}`);
  }

  /**
   * Removes what dynsec holds for the meter and disconnects it: it can no longer connect by
   * password (in password-file mode its line leaves the file as well).
   */
  async revoke(meterId: string): Promise<void> {
    // Deleting the client also disconnects a meter that is connected now.
    const commands: DynsecCommand[] = [
      { command: 'deleteClient', username: meterId },
      { command: 'deleteRole', rolename: meterRole(meterId) },
    ];
    const responses = await this.dynsec.execute(commands);
    const refused = failure(responses);
    if (refused) throw new Error(`broker refused to revoke ${meterId}: ${refused.error ?? ''}`);
    if (this.mode === 'password-file') await this.kick(meterId);
  }

  /**
   * Whether the dynsec plugin knows this name as another identity than the meter's own client
   * (in dynsec mode: a client with exactly the role `meter:<meterId>`): a service, such as the
   * ingestion client. The broker authorises a certificate login by its CN through dynsec first,
   * so a meter certificate with that CN would carry the service's rights.
   */
  async isOtherIdentity(meterId: string): Promise<boolean> {
    const [answer] = await this.dynsec.execute([{ command: 'getClient', username: meterId }]);
    if (!answer || (answer.error && NOT_FOUND.test(answer.error))) return false;
    if (answer.error) throw new Error(`broker refused getClient ${meterId}: ${answer.error}`);
    const roles =
      (answer.data as { client?: { roles?: { rolename?: string }[] } } | undefined)?.client
        ?.roles ?? [];
    return !(roles.length === 1 && roles[0]?.rolename === meterRole(meterId));
  }

  private async kick(meterId: string): Promise<void> {
    const responses = await this.dynsec.execute([
      // No password and no role: for the instant it exists it lets nobody in.
      { command: 'createClient', username: meterId },
      { command: 'deleteClient', username: meterId },
    ]);
    const refused = responses.find((r) => r.error && !ALREADY_EXISTS.test(r.error));
    if (refused) throw new Error(`broker refused to disconnect ${meterId}: ${refused.error ?? ''}`);
  }
}
