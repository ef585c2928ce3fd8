import {
  DEFAULT_CAMPAIGN_POLICY,
  applyCommand,
  emergencyStopPlan,
  initialState,
  nextStep,
  requiresApproval,
  type CampaignCommand,
  type CampaignCommandTarget,
  type CampaignSnapshot,
  type CampaignState,
  type CampaignStep,
} from './campaign';
import { waveCounts, type WaveCounts } from './gate';
import { seeded } from '@meterlink/testing';

const wave = waveCounts;

const snapshot = (over: Partial<CampaignSnapshot> = {}): CampaignSnapshot => ({
  state: 'running',
  meterCount: 100,
  waves: [],
  acknowledgedThroughWave: null,
  ...over,
});

const step = (s: CampaignStep): string => {
  switch (s.action) {
    case 'start-wave':
      return `start-wave:${s.index}:${s.size}`;
    case 'wait':
      return `wait:${s.reason}:${s.waveIndex}`;
    case 'pause':
      return `pause:${s.reason}:${s.waveIndex}`;
    case 'complete':
      return 'complete';
    case 'none':
      return `none:${s.state}`;
  }
};

const STATES: CampaignState[] = ['pending-approval', 'running', 'paused', 'completed', 'stopped'];

describe('campaign next step', () => {
  it.each(STATES.filter((s) => s !== 'running'))('a %s campaign plans nothing', (state) => {
    expect(step(nextStep(snapshot({ state, waves: [wave(10, { completed: 10 })] })))).toBe(
      `none:${state}`,
    );
  });

  it.each<[string, Partial<CampaignSnapshot>, string]>([
    ['starts with the canary', {}, 'start-wave:0:10'],
    [
      'a good canary: the next wave, twice as large',
      { waves: [wave(10, { completed: 10 })] },
      'start-wave:1:20',
    ],
    ['waits for the canary', { waves: [wave(10, { completed: 5 })] }, 'wait:wave_in_progress:0'],
    [
      'a canary over the error threshold pauses',
      { waves: [wave(10, { completed: 7, rolledBack: 3 })] },
      'pause:error_threshold:0',
    ],
    [
      'a canary under the success gate pauses',
      { waves: [wave(10, { completed: 8, failed: 2 })] },
      'pause:success_rate_gate:0',
    ],
    [
      'late failures in an earlier wave pause the campaign',
      { waves: [wave(10, { completed: 7, rolledBack: 3 }), wave(20, { completed: 20 })] },
      'pause:error_threshold:0',
    ],
    [
      'after a resume, the accepted verdict does not pause again',
      {
        waves: [wave(10, { completed: 7, rolledBack: 3 }), wave(20, { completed: 20 })],
        acknowledgedThroughWave: 0,
      },
      'start-wave:2:40',
    ],
    [
      'after a resume, a later wave is still judged',
      {
        waves: [wave(10, { completed: 7, rolledBack: 3 }), wave(20, { completed: 10, failed: 5 })],
        acknowledgedThroughWave: 0,
      },
      'pause:error_threshold:1',
    ],
    [
      'the last wave takes what is left',
      { meterCount: 25, waves: [wave(10, { completed: 10 })] },
      'start-wave:1:15',
    ],
    [
      'every meter in a wave and settled: complete',
      {
        meterCount: 30,
        waves: [wave(10, { completed: 10 }), wave(20, { completed: 19, expired: 1 })],
      },
      'complete',
    ],
    [
      'every meter in a wave, some still open: wait for them',
      { meterCount: 30, waves: [wave(10, { completed: 10 }), wave(20, { completed: 18 })] },
      'wait:waves_in_progress:1',
    ],
    [
      'the last wave under the gate pauses instead of completing',
      {
        meterCount: 30,
        waves: [wave(10, { completed: 10 }), wave(20, { completed: 17, rolledBack: 3 })],
      },
      'pause:success_rate_gate:1',
    ],
    [
      'the last wave’s verdict accepted: complete',
      {
        meterCount: 30,
        waves: [wave(10, { completed: 10 }), wave(20, { completed: 17, rolledBack: 3 })],
        acknowledgedThroughWave: 1,
      },
      'complete',
    ],
    ['no meters: complete at once', { meterCount: 0 }, 'complete'],
  ])('%s', (_name, over, expected) => {
    expect(step(nextStep(snapshot(over)))).toBe(expected);
  });

  it('refuses a bad meter count', () => {
    expect(() => nextStep(snapshot({ meterCount: -3 }))).toThrow('invalid_meter_count');
  });

  it('simulated campaigns: waves sum to N, never exceed the maximum, and paused ones plan nothing', () => {
    const violations: string[] = [];
    const settled = (w: WaveCounts): number =>
      w.completed + w.rolledBack + w.failed + w.expired + w.cancelled;
    for (let seed = 1; seed <= 300; seed++) {
      const r = seeded(seed);
      const config = {
        waves: {
          canarySize: r.int(1, 30),
          growthFactor: r.pick([1, 1.5, 2, 4]),
          maxWaveSize: r.int(1, 300),
        },
        gate: { ...DEFAULT_CAMPAIGN_POLICY.gate, minSettled: r.int(1, 20) },
      };
      const pSuccess = r.pick([1, 0.97, 0.9, 0.5]);
      const bad = (what: string): number => violations.push(`seed ${seed}: ${what}`);
      let campaign: CampaignSnapshot = snapshot({ meterCount: r.int(0, 2000) });
      let done = false;
      for (let turn = 0; turn < 20_000 && !done; turn++) {
        const next = nextStep(campaign, config);
        switch (next.action) {
          case 'start-wave': {
            if (next.size < 1 || next.size > config.waves.maxWaveSize) bad(`wave of ${next.size}`);
            campaign = { ...campaign, waves: [...campaign.waves, wave(next.size)] };
            const total = campaign.waves.reduce((n, w) => n + w.size, 0);
            if (total > campaign.meterCount) bad(`${total} meters in waves`);
            break;
          }
          case 'wait': {
            // Some outcomes come in for an open wave.
            const waves = campaign.waves.map((w) => ({ ...w }));
            const open = waves.filter((w) => w.size > settled(w));
            if (open.length === 0) {
              bad('waits with no wave open');
              done = true;
              break;
            }
            const w = r.pick(open);
            for (let k = r.int(1, Math.min(50, w.size - settled(w))); k > 0; k--) {
              const x = r.next();
              if (x < pSuccess) w.completed++;
              else if (x < pSuccess + (1 - pSuccess) / 2) w.rolledBack++;
              else w.expired++;
            }
            campaign = { ...campaign, waves };
            break;
          }
          case 'pause': {
            campaign = { ...campaign, state: 'paused' };
            if (nextStep(campaign, config).action !== 'none') bad('a paused campaign plans');
            const command: CampaignCommand = r.chance(0.8)
              ? { kind: 'resume', actor: 'ops' }
              : { kind: 'stop', actor: 'ops' };
            const result = applyCommand(
              {
                state: 'paused',
                createdBy: 'ops',
                pausedReason: next.reason,
                pausedWaveIndex: next.waveIndex,
                acknowledgedThroughWave: campaign.acknowledgedThroughWave,
              },
              command,
            );
            if (!result.ok) {
              bad(`${command.kind} refused`);
              done = true;
              break;
            }
            campaign = {
              ...campaign,
              state: result.state,
              acknowledgedThroughWave:
                result.acknowledgedThroughWave ?? campaign.acknowledgedThroughWave,
            };
            // Resuming accepts the verdict: the same wave never pauses the campaign twice.
            const again = nextStep(campaign, config);
            if (again.action === 'pause' && again.waveIndex <= next.waveIndex)
              bad(`wave ${next.waveIndex} paused again`);
            break;
          }
          case 'complete': {
            const total = campaign.waves.reduce((n, w) => n + w.size, 0);
            if (total !== campaign.meterCount)
              bad(`completed with ${total} of ${campaign.meterCount}`);
            if (campaign.waves.some((w) => settled(w) < w.size)) bad('completed with open swaps');
            done = true;
            break;
          }
          case 'none':
            if (campaign.state !== 'stopped') bad(`none while ${campaign.state}`);
            done = true;
            break;
        }
      }
      if (!done) bad('never finished');
    }
    expect(violations).toEqual([]);
  });

  it('a fleet whose swaps all succeed completes without a pause', () => {
    let campaign = snapshot({ meterCount: 10_000 });
    const seen: string[] = [];
    for (;;) {
      const next = nextStep(campaign);
      seen.push(next.action);
      if (next.action === 'complete') break;
      if (next.action !== 'start-wave') throw new Error(`unexpected ${step(next)}`);
      campaign = {
        ...campaign,
        waves: [...campaign.waves, wave(next.size, { completed: next.size })],
      };
    }
    expect(campaign.waves.map((w) => w.size)).toEqual([
      10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 730,
    ]);
    expect(seen.filter((a) => a === 'pause')).toEqual([]);
  });
});

describe('approval', () => {
  it.each<[number, number, boolean]>([
    [1000, 1000, false],
    [1001, 1000, true],
    [0, 1000, false],
    [1, 0, true],
  ])('%i meters with threshold %i: approval needed = %s', (meters, threshold, needed) => {
    expect(requiresApproval(meters, threshold)).toBe(needed);
    expect(initialState(meters, threshold)).toBe(needed ? 'pending-approval' : 'running');
  });
});

describe('operator commands', () => {
  const target = (
    state: CampaignState,
    over: Partial<CampaignCommandTarget> = {},
  ): CampaignCommandTarget => ({
    state,
    createdBy: 'alice',
    pausedReason: null,
    pausedWaveIndex: null,
    acknowledgedThroughWave: null,
    ...over,
  });
  const outcome = (state: CampaignState, command: CampaignCommand): string => {
    const r = applyCommand(target(state), command);
    return r.ok ? r.state : `refused:${r.code}`;
  };

  // Every state × every command.
  it.each<[CampaignState, CampaignCommand['kind'], string]>([
    ['pending-approval', 'approve', 'running'],
    ['pending-approval', 'pause', 'refused:invalid_transition'],
    ['pending-approval', 'resume', 'refused:invalid_transition'],
    ['pending-approval', 'stop', 'stopped'],
    ['running', 'approve', 'refused:invalid_transition'],
    ['running', 'pause', 'paused'],
    ['running', 'resume', 'refused:invalid_transition'],
    ['running', 'stop', 'stopped'],
    ['paused', 'approve', 'refused:invalid_transition'],
    ['paused', 'pause', 'refused:invalid_transition'],
    ['paused', 'resume', 'running'],
    ['paused', 'stop', 'stopped'],
    ['completed', 'approve', 'refused:invalid_transition'],
    ['completed', 'pause', 'refused:invalid_transition'],
    ['completed', 'resume', 'refused:invalid_transition'],
    ['completed', 'stop', 'refused:invalid_transition'],
    ['stopped', 'approve', 'refused:invalid_transition'],
    ['stopped', 'pause', 'refused:invalid_transition'],
    ['stopped', 'resume', 'refused:invalid_transition'],
    ['stopped', 'stop', 'refused:invalid_transition'],
  ])('%s + %s → %s', (state, kind, expected) => {
    expect(outcome(state, { kind, actor: 'bob' })).toBe(expected);
  });

  it('nobody approves their own campaign', () => {
    expect(outcome('pending-approval', { kind: 'approve', actor: 'alice' })).toBe(
      'refused:approver_is_creator',
    );
    expect(applyCommand(target('pending-approval'), { kind: 'approve', actor: 'bob' })).toEqual({
      ok: true,
      state: 'running',
      approvedBy: 'bob',
    });
  });

  it('an operator pause says so', () => {
    expect(applyCommand(target('running'), { kind: 'pause', actor: 'bob' })).toMatchObject({
      pausedReason: 'operator',
    });
  });

  it.each<[string, Partial<CampaignCommandTarget>, number | null]>([
    [
      'resuming after a gate’s pause accepts that wave',
      { pausedReason: 'error_threshold', pausedWaveIndex: 3 },
      3,
    ],
    [
      'and never forgets a later acceptance',
      { pausedReason: 'success_rate_gate', pausedWaveIndex: 2, acknowledgedThroughWave: 5 },
      5,
    ],
    [
      'resuming after an operator’s pause accepts nothing new',
      { pausedReason: 'operator', acknowledgedThroughWave: 1 },
      1,
    ],
    ['nor when nothing was accepted before', { pausedReason: 'operator' }, null],
  ])('%s', (_name, over, acknowledged) => {
    expect(applyCommand(target('paused', over), { kind: 'resume', actor: 'bob' })).toEqual({
      ok: true,
      state: 'running',
      acknowledgedThroughWave: acknowledged,
    });
  });
});

describe('emergency stop', () => {
  it('cancels what has not reached the meter (with its download order), leaves what has', () => {
    expect(
      emergencyStopPlan([
        { swapId: 'queued', settled: false, enableDelivered: false, downloadOrderOpen: false },
        { swapId: 'ordering', settled: false, enableDelivered: false, downloadOrderOpen: true },
        { swapId: 'on-meter', settled: false, enableDelivered: true, downloadOrderOpen: false },
        { swapId: 'done', settled: true, enableDelivered: true, downloadOrderOpen: false },
        { swapId: 'expired', settled: true, enableDelivered: false, downloadOrderOpen: true },
      ]),
    ).toEqual({
      cancel: [
        { swapId: 'queued', cancelDownloadOrder: false },
        { swapId: 'ordering', cancelDownloadOrder: true },
      ],
      leave: ['on-meter'],
    });
  });

  it('a stopped campaign plans nothing more', () => {
    const stopped = applyCommand(
      {
        state: 'running',
        createdBy: 'a',
        pausedReason: null,
        pausedWaveIndex: null,
        acknowledgedThroughWave: null,
      },
      { kind: 'stop', actor: 'b' },
    );
    expect(stopped).toEqual({ ok: true, state: 'stopped' });
    expect(
      nextStep(snapshot({ state: 'stopped', waves: [wave(10, { completed: 10 })] })).action,
    ).toBe('none');
  });

  it('nothing to do for an empty campaign', () => {
    expect(emergencyStopPlan([])).toEqual({ cancel: [], leave: [] });
  });
});
