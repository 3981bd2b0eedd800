import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleWaiter } from '../../../src/node/idle-waiter.ts';

// The waiter runs on real time (Date.now, setTimeout) by design, not on the node's Clock:
// vitest's fake timers stand in for it here.
describe('idle waiter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('idle waiter - a condition that holds already: resolves without waiting', async () => {
    const waiter = new IdleWaiter();
    let settled = false;
    void waiter.until(() => true, Date.now() + 1000).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
  });

  it('idle waiter - re-checks every 10 ms until the condition holds', async () => {
    const waiter = new IdleWaiter();
    const done = vi.fn(() => false);
    let settled = false;
    void waiter.until(done, Date.now() + 1000).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(25);
    expect(done).toHaveBeenCalledTimes(3); // at 0, 10 and 20 ms
    expect(settled).toBe(false);
    done.mockReturnValue(true);
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).toBe(true);
  });

  it('idle waiter - gives up at the deadline', async () => {
    const waiter = new IdleWaiter();
    let settled = false;
    void waiter.until(() => false, Date.now() + 50).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(40);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).toBe(true);
  });

  it('idle waiter - wake re-checks at once, without waiting for the poll', async () => {
    const waiter = new IdleWaiter();
    let idle = false;
    let settled = false;
    void waiter.until(() => idle, Date.now() + 1000).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    idle = true;
    waiter.wake();
    await vi.advanceTimersByTimeAsync(0); // promise reactions only: no time passes
    expect(settled).toBe(true);
    expect(vi.getTimerCount()).toBe(0); // the poll timer was cleared
  });

  it('idle waiter - wake with nobody waiting does nothing', () => {
    expect(() => new IdleWaiter().wake()).not.toThrow();
  });
});
