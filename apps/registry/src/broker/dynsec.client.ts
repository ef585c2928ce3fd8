import { connectMqtt, type MqttClient } from '@meterlink/mqtt';
import { createLogger } from '@meterlink/observability';
import { TransientError } from '@meterlink/kafka';

const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;
const MAX_BATCH_BYTES = 16 * 1024;
const MAX_BATCH_COMMANDS = 100;

export type DynsecCommand = Record<string, unknown> & { command: string };
export interface DynsecResponse {
  command: string;
  error?: string;
}

/**
 * Mosquitto's dynamic security plugin, driven over MQTT as its admin client: the broker keeps the
 * only password verifier (PBKDF2), so the platform never stores a meter's clear-text password.
 * Commands go in batches; the broker answers a batch with one message, in order.
 */
export class DynsecClient {
  private client: MqttClient | undefined;
  private waiting: ((responses: DynsecResponse[]) => void) | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log = createLogger('DynsecClient');

  constructor(
    private readonly options: { url: string; username: string; password: string; clientId: string },
  ) {}

  async connect(): Promise<void> {
    this.client = await connectMqtt({ ...this.options, clean: true });
    this.client.on('message', (topic, payload) => {
      if (topic !== RESPONSE_TOPIC) return;
      const waiter = this.waiting;
      this.waiting = undefined;
      try {
        const parsed = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
        waiter?.(parsed.responses ?? []);
      } catch (error) {
        this.log.error({ err: error }, 'unreadable dynsec response');
        waiter?.([]);
      }
    });
    await this.client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 });
  }

  isConnected(): boolean {
    return this.client?.connected ?? false;
  }

  /**
   * Sends commands in batches that stay well under the broker's message size limit (32 KiB in
   * the project's config: a larger control message is refused), one round trip per batch, and
   * returns one response per command.
   */
  async execute(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const responses: DynsecResponse[] = [];
    let batch: DynsecCommand[] = [];
    let bytes = 0;
    for (const command of commands) {
      const size = Buffer.byteLength(JSON.stringify(command));
      if (
        batch.length > 0 &&
        (bytes + size > MAX_BATCH_BYTES || batch.length >= MAX_BATCH_COMMANDS)
      ) {
        responses.push(...(await this.send(batch)));
        batch = [];
        bytes = 0;
      }
      batch.push(command);
      bytes += size;
    }
    if (batch.length > 0) responses.push(...(await this.send(batch)));
    return responses;
  }

  private send(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const run = async (): Promise<DynsecResponse[]> => {
      const client = this.client;
      if (!client?.connected) throw new TransientError('broker admin connection is down');
      const answer = new Promise<DynsecResponse[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting = undefined;
          reject(new TransientError('dynsec did not answer within 10 s'));
        }, 10_000);
        this.waiting = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
      });
      // Handled here too, so a publish failure can't leave the timeout's rejection unhandled.
      answer.catch(() => undefined);
      try {
        await client.publishAsync(CONTROL_TOPIC, JSON.stringify({ commands }), { qos: 1 });
      } catch (error) {
        this.waiting = undefined;
        throw new TransientError('broker refused the control message', { cause: error });
      }
      return answer;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
  }
}
