import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  DEFAULT_WORKSPACE_POLICY,
  type WorkspacePolicy,
} from '../../machines/shared/workspace-policy.ts';
import type { Clock } from '../clock.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { auditMember } from '../store/keys.ts';
import { toKebab, wireEnum } from '../wire.ts';

const MINUTE = 60_000;
const SETTINGS_CACHE_MS = 1000;

/** Installation settings on the wire: kebab-case enums, durations in minutes/hours. */
export const settingsBody = z.strictObject({
  defaultProtocol: z.enum(['http', 'acp']).optional(),
  migrationEnabled: z.boolean().optional(),
  rolloutMode: wireEnum(['optIn', 'scheduled', 'automatic']).optional(),
  autoRollout: z.boolean().optional(),
  thresholds: z
    .strictObject({
      minSuccessRate: z.number().min(0).max(1).optional(),
      windowMinutes: z.number().int().min(1).max(60).optional(),
      minSamples: z.number().int().min(1).max(10_000_000).optional(),
      cooldownMinutes: z
        .number()
        .int()
        .min(0)
        .max(7 * 24 * 60)
        .optional(),
      flapLimit: z.number().int().min(1).max(100).optional(),
      flapWindowHours: z
        .number()
        .int()
        .min(1)
        .max(24 * 30)
        .optional(),
      autoMigrateAfterMinutes: z
        .number()
        .int()
        .min(1)
        .max(7 * 24 * 60)
        .optional(),
      migrationTimeoutMinutes: z
        .number()
        .int()
        .min(1)
        .max(24 * 60)
        .optional(),
    })
    .optional(),
});
export type SettingsPatch = z.output<typeof settingsBody>;

/** The wire shape of a policy. */
export function toWire(p: WorkspacePolicy) {
  return {
    defaultProtocol: p.defaultProtocol,
    migrationEnabled: p.migrationEnabled,
    rolloutMode: toKebab(p.rolloutMode),
    autoRollout: p.autoRollout,
    thresholds: {
      minSuccessRate: p.minSuccessRate,
      windowMinutes: p.windowMinutes,
      minSamples: p.minSamples,
      cooldownMinutes: p.cooldownMs / MINUTE,
      flapLimit: p.flapLimit,
      flapWindowHours: p.flapWindowMs / (60 * MINUTE),
      autoMigrateAfterMinutes: p.autoMigrateAfterMs / MINUTE,
      migrationTimeoutMinutes: p.migrationTimeoutMs / MINUTE,
    },
  };
}

/** The policy once a settings patch is applied (the settings route and what-if share it). */
export function applySettings(p: WorkspacePolicy, patch: SettingsPatch): WorkspacePolicy {
  const t = patch.thresholds ?? {};
  return {
    defaultProtocol: patch.defaultProtocol ?? p.defaultProtocol,
    migrationEnabled: patch.migrationEnabled ?? p.migrationEnabled,
    rolloutMode: patch.rolloutMode ?? p.rolloutMode,
    autoRollout: patch.autoRollout ?? p.autoRollout,
    minSuccessRate: t.minSuccessRate ?? p.minSuccessRate,
    windowMinutes: t.windowMinutes ?? p.windowMinutes,
    minSamples: t.minSamples ?? p.minSamples,
    cooldownMs: t.cooldownMinutes !== undefined ? t.cooldownMinutes * MINUTE : p.cooldownMs,
    flapLimit: t.flapLimit ?? p.flapLimit,
    flapWindowMs:
      t.flapWindowHours !== undefined ? t.flapWindowHours * 60 * MINUTE : p.flapWindowMs,
    autoMigrateAfterMs:
      t.autoMigrateAfterMinutes !== undefined
        ? t.autoMigrateAfterMinutes * MINUTE
        : p.autoMigrateAfterMs,
    migrationTimeoutMs:
      t.migrationTimeoutMinutes !== undefined
        ? t.migrationTimeoutMinutes * MINUTE
        : p.migrationTimeoutMs,
  };
}

/** Field-by-field differences in wire form, for the audit record. */
function diff(before: WorkspacePolicy, after: WorkspacePolicy) {
  const a = toWire(before);
  const b = toWire(after);
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of ['defaultProtocol', 'migrationEnabled', 'rolloutMode', 'autoRollout'] as const) {
    if (a[k] !== b[k]) changes[k] = { from: a[k], to: b[k] };
  }
  for (const k of Object.keys(a.thresholds) as (keyof typeof a.thresholds)[]) {
    if (a.thresholds[k] !== b.thresholds[k])
      changes[`thresholds.${k}`] = { from: a.thresholds[k], to: b.thresholds[k] };
  }
  return changes;
}

/**
 * Per-installation admin controls, stored in Redis; every change is audited with who, what and
 * when in the installation's `settings` audit stream, in the same MULTI as the change.
 *
 * @example
 * await settings.update('inst-1', { thresholds: { minSuccessRate: 0.98 } }, 'operator-1');
 */
export class SettingsService {
  constructor(
    readonly store: RedisStore,
    readonly clock: Clock,
    readonly defaults: WorkspacePolicy = DEFAULT_WORKSPACE_POLICY,
  ) {}

  /**
   * Settings are read on every workspace evaluation (after heartbeats), so each process keeps
   * them for up to SETTINGS_CACHE_MS; a change made through this process is visible at once,
   * one made through another process within that time. Wall-clock time, not the engine clock:
   * this is a cache, not a business rule.
   */
  readonly #cache = new Map<string, { policy: WorkspacePolicy; until: number }>();

  async get(installationId: string): Promise<WorkspacePolicy> {
    const hit = this.#cache.get(installationId);
    if (hit && hit.until > Date.now()) return hit.policy;
    const json = await this.store.loadSettings(installationId);
    const policy = json
      ? { ...this.defaults, ...(JSON.parse(json) as Partial<WorkspacePolicy>) }
      : this.defaults;
    this.#cache.set(installationId, { policy, until: Date.now() + SETTINGS_CACHE_MS });
    return policy;
  }

  /** The audited changes, newest first. */
  async changes(
    installationId: string,
    q: { from?: number; to?: number; cursor?: string; limit: number },
  ) {
    const page = await this.store.auditPage(installationId, 'settings', {
      from: q.from,
      to: q.to,
      before: q.cursor,
      limit: q.limit,
    });
    return {
      items: page.map((p) => JSON.parse(p.json) as Record<string, unknown>),
      nextCursor: page.length === q.limit ? page[page.length - 1]!.member : null,
    };
  }

  async update(installationId: string, patch: SettingsPatch, changedBy: string) {
    const before = await this.get(installationId);
    const after = applySettings(before, patch);
    const changes = diff(before, after);
    const at = this.clock.now();
    const changeId = randomUUID();
    const record = {
      changeId,
      installationId,
      changedBy,
      changedAt: new Date(at).toISOString(),
      changes,
    };
    await this.store.registerInstallation(installationId);
    await this.store.saveSettings(installationId, JSON.stringify(after), {
      member: auditMember(at, changeId),
      json: JSON.stringify(record),
    });
    this.#cache.delete(installationId);
    return { policy: after, change: record };
  }
}
