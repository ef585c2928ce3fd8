import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time per process of the run (from /proc), so a report can say where the box's cores went:
 * the system under test, the infrastructure, the generator, and whatever else was running on the
 * machine at the time ("other", which on a shared box is the first thing to look at).
 */
const CLOCK_TICKS_PER_S = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in clock ticks; undefined once it is gone. */
function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .split(/\s+/)
    .slice(1, 9)
    .map(Number) as [number, number, number, number, number, number, number, number];
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

export type CpuReport = Record<string, number>;

export class CpuMeter {
  private readonly startTicks = new Map<string, number>();
  private machineStart = machineTicks();
  private startedAt = 0;

  constructor(private readonly pids: Record<string, number | undefined>) {}

  start(): void {
    this.startedAt = Date.now();
    this.machineStart = machineTicks();
    for (const [name, pid] of Object.entries(this.pids)) {
      const ticks = pid === undefined ? undefined : processTicks(pid);
      if (ticks !== undefined) this.startTicks.set(name, ticks);
    }
  }

  /** CPU seconds used per process since start(), without stopping (a process gone is left out). */
  secondsSoFar(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const before = this.startTicks.get(name);
      const after = pid === undefined ? undefined : processTicks(pid);
      if (before !== undefined && after !== undefined)
        out[name] = (after - before) / CLOCK_TICKS_PER_S;
    }
    return out;
  }

  /** Cores used per process since start() (1.0 = one core busy all the time), plus "other". */
  stop(): CpuReport {
    const seconds = Math.max(0.001, (Date.now() - this.startedAt) / 1000);
    const cores = (ticks: number): number => ticks / CLOCK_TICKS_PER_S / seconds;
    const report: CpuReport = {};
    let ours = 0;
    for (const [name, pid] of Object.entries(this.pids)) {
      const before = this.startTicks.get(name);
      const after = pid === undefined ? undefined : processTicks(pid);
      if (before === undefined || after === undefined) continue;
      report[name] = round2(cores(after - before));
      ours += after - before;
    }
    const machine = machineTicks();
    report.other = round2(Math.max(0, cores(machine.busy - this.machineStart.busy - ours)));
    report.machineBusy = round2(cores(machine.busy - this.machineStart.busy));
    return report;
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
