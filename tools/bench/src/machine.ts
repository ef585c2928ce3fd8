import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cores: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}

function firstMatch(
  command: string,
  args: string[],
  pattern: RegExp,
  fallback = 'unknown',
): string {
  // Some of these print their version on stderr, some exit non-zero after printing it.
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  return pattern.exec(`${result.stdout ?? ''}${result.stderr ?? ''}`)?.[1] ?? fallback;
}

export interface StackVersions {
  kafka: string;
  java: string;
  mosquitto: string;
  redis: string;
  kcat: string;
  librdkafka: string;
  mosquittoSub: string;
}

export function stackVersions(repoRoot: string): StackVersions {
  const stackScript = readFileSync(join(repoRoot, 'tools', 'stack', 'stack.sh'), 'utf8');
  return {
    kafka: /^KAFKA_VERSION=(\S+)/m.exec(stackScript)?.[1] ?? 'unknown',
    java: firstMatch('java', ['-version'], /version "([^"]+)"/),
    mosquitto: firstMatch('mosquitto', ['-h'], /mosquitto version (\S+)/),
    redis: firstMatch('redis-server', ['--version'], /v=(\S+)/),
    kcat: firstMatch('kcat', ['-V'], /Version (\S+)/),
    librdkafka: firstMatch('kcat', ['-V'], /librdkafka (\S+)/),
    mosquittoSub: firstMatch('mosquitto_sub', ['--help'], /mosquitto_sub version (\S+)/),
  };
}
