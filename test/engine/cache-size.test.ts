/**
 * SNAPSHOT_CACHE_SIZE: explicit, or sized from the heap limit so that one process serving
 * 100,000 connections keeps every snapshot (a miss is one HMGET per heartbeat).
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  SNAPSHOT_CACHE_ENTRY_BYTES,
  defaultSnapshotCacheSize,
  loadConfig,
} from '../../src/config.ts';

const GB = 1024 ** 3;

describe('SNAPSHOT_CACHE_SIZE', () => {
  it('defaults to what a quarter of the heap limit holds, between 10,000 and 250,000', () => {
    expect(defaultSnapshotCacheSize(4 * GB)).toBe(250_000);
    expect(defaultSnapshotCacheSize(2 * GB)).toBe(250_000);
    expect(defaultSnapshotCacheSize(GB)).toBe(Math.floor(GB / 4 / SNAPSHOT_CACHE_ENTRY_BYTES));
    expect(defaultSnapshotCacheSize(GB)).toBeGreaterThan(100_000);
    expect(defaultSnapshotCacheSize(32 * 1024 ** 2)).toBe(10_000);
    expect(loadConfig({}).snapshotCacheSize).toBe(defaultSnapshotCacheSize());
  });

  it('SNAPSHOT_FORMAT is compact unless json, and a bad one is refused naming it', () => {
    expect(loadConfig({}).snapshotFormat).toBe('compact');
    expect(loadConfig({ SNAPSHOT_FORMAT: 'json' }).snapshotFormat).toBe('json');
    expect(() => loadConfig({ SNAPSHOT_FORMAT: 'xml' })).toThrow(/SNAPSHOT_FORMAT/);
  });

  it('takes an explicit size, 0 included (nothing cached), and refuses a bad one naming it', () => {
    expect(loadConfig({ SNAPSHOT_CACHE_SIZE: '5000' }).snapshotCacheSize).toBe(5000);
    expect(loadConfig({ SNAPSHOT_CACHE_SIZE: '0' }).snapshotCacheSize).toBe(0);
    expect(() => loadConfig({ SNAPSHOT_CACHE_SIZE: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ SNAPSHOT_CACHE_SIZE: 'lots' })).toThrow(/SNAPSHOT_CACHE_SIZE/);
  });
});
