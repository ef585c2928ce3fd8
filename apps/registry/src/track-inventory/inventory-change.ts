import type { DeviceNotification, ManifestProfile } from '@meterlink/contracts';

/** What the platform learned about a meter's eUICC, with the time it happened. */
export type InventoryChange =
  /** The profile is now the enabled one (a completed swap, an enable, fallback or rollback). */
  | { kind: 'enabled'; iccid: string }
  | { kind: 'disabled'; iccid: string }
  | { kind: 'deleted'; iccid: string }
  /** A profile the eUICC installed (downloads are installed disabled). */
  | { kind: 'installed'; iccid: string }
  /** The meter's own full list, from its boot event. */
  | {
      kind: 'reported';
      profiles: { iccid: string; state: 'enabled' | 'disabled'; fallback: boolean }[];
    };

export interface InventoryOutcome {
  profiles: ManifestProfile[];
  changed: boolean;
  /** ICCIDs the device named that the registry does not know: their carrier is unknown. */
  unknown: string[];
}

const sameProfile = (a: ManifestProfile, b: ManifestProfile): boolean =>
  a.state === b.state && a.fallback === b.fallback;

/**
 * The inventory after a change, pure. Exactly one enabled profile after an enable; a disable or
 * delete may leave none (the eUICC said so). A profile the registry does not know is reported,
 * not invented: nothing says which carrier issued it (downloads, which would, are not built).
 * A boot report sets state and fallback of every profile it names; when it names an enabled one,
 * profiles it leaves out are disabled; none are deleted on its word alone.
 */
export function applyInventoryChange(
  current: readonly ManifestProfile[],
  change: InventoryChange,
): InventoryOutcome {
  const known = new Map(current.map((p) => [p.iccid, p]));
  let next: ManifestProfile[];
  const unknown: string[] = [];
  switch (change.kind) {
    case 'enabled':
      if (!known.has(change.iccid))
        return { profiles: [...current], changed: false, unknown: [change.iccid] };
      next = current.map((p) => ({
        ...p,
        state: p.iccid === change.iccid ? 'enabled' : 'disabled',
      }));
      break;
    case 'disabled':
      if (!known.has(change.iccid))
        return { profiles: [...current], changed: false, unknown: [change.iccid] };
      next = current.map((p) => (p.iccid === change.iccid ? { ...p, state: 'disabled' } : p));
      break;
    case 'deleted':
      next = current.filter((p) => p.iccid !== change.iccid);
      break;
    case 'installed':
      if (!known.has(change.iccid)) unknown.push(change.iccid);
      next = [...current];
      break;
    case 'reported': {
      const reported = new Map(change.profiles.map((p) => [p.iccid, p]));
      const anyEnabled = change.profiles.some((p) => p.state === 'enabled' && known.has(p.iccid));
      for (const p of change.profiles) if (!known.has(p.iccid)) unknown.push(p.iccid);
      next = current.map((p) => {
        const r = reported.get(p.iccid);
        if (r) return { ...p, state: r.state, fallback: r.fallback };
        return anyEnabled ? { ...p, state: 'disabled' } : p;
      });
      break;
    }
  }
  const changed =
    next.length !== current.length ||
    next.some((p) => {
      const before = known.get(p.iccid);
      return !before || !sameProfile(before, p);
    });
  return { profiles: next, changed, unknown };
}

/** What an eUICC notification says about its inventory (device-interface §4.2). */
export function notifiedChange(notification: DeviceNotification): InventoryChange {
  const iccid = notification.iccid;
  switch (notification.event) {
    case 'install':
      return { kind: 'installed', iccid };
    case 'enable':
    case 'fallback':
    case 'rollback':
      return { kind: 'enabled', iccid };
    case 'disable':
      return { kind: 'disabled', iccid };
    case 'delete':
      return { kind: 'deleted', iccid };
  }
}
