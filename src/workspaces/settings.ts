import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  DEFAULT_WORKSPACE_POLICY,
  type WorkspacePolicy,
} from '../../machines/shared/workspace-policy.ts';
import type { Clock } from '../clock.ts';
import { ContentionError, invalidFields } from '../errors.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { auditMember } from '../store/keys.ts';
import { toKebab, wireEnum } from '../wire.ts';

const MINUTE = 60_000;
/** Reads and compare-and-set writes of one settings change before it answers `contention`. */
const SETTINGS_UPDATE_ATTEMPTS = 10;

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
 * when in the installation's `settings` audit stream, in the same script as the change.
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
   * The settings as they are in Redis. Not cached: they are read when a workspace is created,
   * commanded or shown and when a change is pushed to the charts, never per heartbeat, and any
   * process must answer with a change another process made a moment ago (a workspace created
   * through this process just after it must start with the new policy).
   */
  async get(installationId: string): Promise<WorkspacePolicy> {
    return this.#policyOf(await this.store.loadSettings(installationId));
  }

  #policyOf(json: string | null): WorkspacePolicy {
    return json
      ? { ...this.defaults, ...(JSON.parse(json) as Partial<WorkspacePolicy>) }
      : this.defaults;
  }

  /** The audited changes, newest first. */
  async changes(
    installationId: string,
    q: { from?: number; to?: number; cursor?: string; limit: number },
  ) {
    // A cursor names the record a page ended on: one that names none is no cursor a page gave.
    if (
      q.cursor !== undefined &&
      !(await this.store.auditHas(installationId, 'settings', q.cursor))
    )
      throw invalidFields('query', [
        { field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' },
      ]);
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

  /**
   * Applies `patch` to the settings as they are in Redis (a change made through another process
   * a moment ago is kept) and audits what it changed, in one step that fails if the settings
   * changed in between; then it reads them again and retries. A patch that changes nothing
   * writes and audits nothing (`change: null`).
   */
  async update(installationId: string, patch: SettingsPatch, changedBy: string) {
    await this.store.registerInstallation(installationId);
    for (let attempt = 1; attempt <= SETTINGS_UPDATE_ATTEMPTS; attempt++) {
      const stored = await this.store.loadSettings(installationId);
      const before = this.#policyOf(stored);
      const after = applySettings(before, patch);
      const changes = diff(before, after);
      if (Object.keys(changes).length === 0) {
        return { policy: before, change: null };
      }
      const at = this.clock.now();
      const changeId = randomUUID();
      const record = {
        changeId,
        installationId,
        changedBy,
        changedAt: new Date(at).toISOString(),
        changes,
      };
      const saved = await this.store.saveSettings(installationId, stored, JSON.stringify(after), {
        member: auditMember(at, changeId),
        json: JSON.stringify(record),
      });
      if (saved) return { policy: after, change: record };
    }
    throw new ContentionError(
      `the settings of ${installationId} kept changing while this change was applied; retry`,
    );
  }
}
