import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BASELINE_TOPIC = 'bench.baseline';
export const BASELINE_FILTER = 'bench/#';
const BASELINE_PREFIX = 'bench/v1/';
const BASELINE_SUFFIX = '/up/telemetry';

export const baselineTopic = (meterId: string): string =>
  `${BASELINE_PREFIX}${meterId}${BASELINE_SUFFIX}`;

/** The meterId inside a baseline MQTT topic (the bridge's record key), or undefined. */
export function meterIdOfBaselineTopic(topic: string): string | undefined {
  if (!topic.startsWith(BASELINE_PREFIX) || !topic.endsWith(BASELINE_SUFFIX)) return undefined;
  return topic.slice(BASELINE_PREFIX.length, topic.length - BASELINE_SUFFIX.length);
}

/**
 * The baseline bridge: `mosquitto_sub -v` (QoS 1, one line per message: `topic payload`) piped
 * into `kcat -P -K ' '` (key = MQTT topic, value = payload), two C programs from Debian packages.
 * The pipe is a real OS pipe between the two processes; none of the data passes through Node.
 * kcat runs with librdkafka's defaults (acks=all, linger 5 ms, no compression).
 */
export class BaselineBridge {
  private constructor(
    private readonly sub: ChildProcess,
    private readonly kcat: ChildProcess,
    private readonly exits: Promise<[number | null, number | null]>,
    readonly logFile: string,
  ) {}

  static start(options: {
    host: string;
    port: number;
    username: string;
    password: string;
    brokers: string;
    configDir: string;
    logFile: string;
  }): BaselineBridge {
    // mosquitto_sub reads options from $XDG_CONFIG_HOME/mosquitto_sub: the password never
    // appears on a command line (visible to everyone in ps).
    mkdirSync(options.configDir, { recursive: true, mode: 0o700 });
    writeFileSync(
      join(options.configDir, 'mosquitto_sub'),
      `-h ${options.host}\n-p ${options.port}\n-u ${options.username}\n-P ${options.password}\n`,
      { mode: 0o600 },
    );
    const log = openSync(options.logFile, 'a');
    const kcat = spawn(
      'kcat',
      ['-P', '-b', options.brokers, '-t', BASELINE_TOPIC, '-K', ' ', '-D', '\n'],
      { stdio: ['pipe', log, log] },
    );
    const sub = spawn(
      'mosquitto_sub',
      ['-q', '1', '-t', BASELINE_FILTER, '-v', '-i', 'bench-baseline', '--nodelay'],
      {
        stdio: ['ignore', kcat.stdin!, log],
        env: { ...process.env, XDG_CONFIG_HOME: options.configDir },
      },
    );
    // Our copy of the pipe's write end: closed, so kcat sees EOF once mosquitto_sub exits.
    kcat.stdin!.destroy();
    closeSync(log);
    const exitOf = (child: ChildProcess): Promise<number | null> =>
      new Promise((resolve) => {
        if (child.exitCode !== null) resolve(child.exitCode);
        else child.once('exit', (code) => resolve(code));
      });
    return new BaselineBridge(sub, kcat, Promise.all([exitOf(sub), exitOf(kcat)]), options.logFile);
  }

  get pids(): { mosquittoSub: number | undefined; kcat: number | undefined } {
    return { mosquittoSub: this.sub.pid, kcat: this.kcat.pid };
  }

  get running(): boolean {
    return this.sub.exitCode === null && this.kcat.exitCode === null;
  }

  /** Stops mosquitto_sub; kcat then reads EOF, flushes what it holds to Kafka and exits. */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.sub.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.sub.kill('SIGKILL');
      this.kcat.kill('SIGKILL');
    }, timeoutMs);
    await this.exits;
    clearTimeout(timer);
  }
}
