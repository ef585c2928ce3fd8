import { readFile } from 'node:fs/promises';
import type { Logger } from '@meterlink/observability';

/**
 * Sends SIGHUP to the co-located broker named by a pid file, after checking that the pid is a
 * Mosquitto (a stale pid file may name another process by now). Mosquitto re-reads its CRL and
 * password file on SIGHUP. Resolves with whether a signal was sent; never throws.
 */
export async function reloadBroker(pidFile: string | undefined, log: Logger): Promise<boolean> {
  if (!pidFile) return false;
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).trim());
  } catch {
    log.warn({ pidFile }, 'broker pid file not readable; the broker was not told to reload');
    return false;
  }
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => undefined);
  if (!Number.isInteger(pid) || pid <= 1 || (comm !== undefined && comm.trim() !== 'mosquitto')) {
    log.warn({ pidFile, pid }, 'the pid file does not name a running mosquitto; not signalled');
    return false;
  }
  try {
    process.kill(pid, 'SIGHUP');
    return true;
  } catch (error) {
    log.warn({ err: error, pid }, 'could not signal the broker to reload');
    return false;
  }
}
