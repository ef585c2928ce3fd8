import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Self time per function (where the CPU actually was), highest first. */
  functions: ProfileEntry[];
  /** The same grouped by package or source file, to name the bottleneck at a glance. */
  modules: ProfileEntry[];
}

/** Groups a script URL: a package name under node_modules, a repo path, or node's own code. */
function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName || '(native)';
  if (url.startsWith('node:')) return 'node (internals)';
  const nodeModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nodeModules) return nodeModules[1]!;
  const repo = /\/dist\/(.+)$/.exec(url);
  return repo ? repo[1]!.replace(/\.js$/, '') : url;
}

/**
 * Reads the V8 CPU profile `node --cpu-prof` wrote and sums self time per function: each
 * sample's time delta is charged to the node that was on top of the stack.
 */
export function summariseProfile(dir: string, top = 20): ProfileSummary | undefined {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .pop();
  if (!file) return undefined;
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const perFunction = new Map<string, number>();
  const perModule = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, k) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[k] ?? 0;
    if (!node || us <= 0) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') return;
    totalUs += us;
    const where = url
      ? ` ${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}`
      : '';
    const fn = `${functionName || '(anonymous)'}${where}`;
    perFunction.set(fn, (perFunction.get(fn) ?? 0) + us);
    const mod = moduleOf(url, functionName);
    perModule.set(mod, (perModule.get(mod) ?? 0) + us);
  });
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        selfMs: Math.round(us / 1000),
        percent: Math.round((us / Math.max(1, totalUs)) * 1000) / 10,
      }));
  return {
    file: join(dir, file),
    totalMs: Math.round(totalUs / 1000),
    functions: rank(perFunction),
    modules: rank(perModule),
  };
}
