import { describe, expect, it, vi } from 'vitest';
import { PreciseTimer, systemClock } from '../../../src/model/clock.ts';
import { sleep } from '../../helpers/wait.ts';

describe('clock', () => {
  it('clock - a precise timer never fires before its target (Date.now()), and fires once', async () => {
    const runs: { target: number; firedAt: number[] }[] = [];
    for (let i = 0; i < 20; i++) {
      const ms = i % 4; // 0..3 ms: the range where Node's timers are coarsest
      const run = { target: Date.now() + ms, firedAt: [] as number[] };
      runs.push(run);
      systemClock.setPreciseTimer!(() => run.firedAt.push(Date.now()), ms);
    }
    await sleep(50);
    for (const run of runs) {
      expect(run.firedAt).toHaveLength(1);
      expect(run.firedAt[0]!).toBeGreaterThanOrEqual(run.target);
    }
  });

  it('clock - clearTimer stops a precise timer before its timeout and during its last millisecond', async () => {
    let fired = 0;
    const early = systemClock.setPreciseTimer!(() => fired++, 20);
    systemClock.clearTimer(early);
    const now = systemClock.setPreciseTimer!(() => fired++, 0);
    systemClock.clearTimer(now);
    // Cleared during its last millisecond: Date.now() held 1 ms short of the target, so
    // once its timeout has fired it re-checks with setImmediate until cleared.
    const base = Date.now();
    const held = vi.spyOn(Date, 'now').mockReturnValue(base);
    const late = new PreciseTimer(() => fired++, 1);
    await sleep(10);
    late.clear();
    held.mockRestore();
    const plain = systemClock.setTimer(() => fired++, 5);
    systemClock.clearTimer(plain);
    await sleep(40);
    expect(fired).toBe(0);
  });

  it('clock - an unref’d precise timer still fires while the process is alive', async () => {
    let fired = false;
    const t = systemClock.setPreciseTimer!(() => (fired = true), 2);
    t.unref?.();
    await sleep(30);
    expect(fired).toBe(true);
  });
});
