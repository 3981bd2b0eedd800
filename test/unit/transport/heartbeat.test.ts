import { describe, expect, it } from 'vitest';
import { Heartbeat } from '../../../src/transport/heartbeat.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

function setup(intervalMs = 1000, timeoutMs = 3000) {
  const clock = new FakeClock();
  const log: string[] = [];
  const hb = new Heartbeat({
    clock,
    intervalMs,
    timeoutMs,
    sendPing: () => {
      log.push(`ping@${clock.now() - start}`);
      hb.sent();
    },
    onTimeout: (silent) => log.push(`timeout@${clock.now() - start} silent ${silent}`),
  });
  const start = clock.now();
  return { clock, hb, log };
}

/** A 100 ms heartbeat (300 ms timeout) that pings itself and records each tick: [ms, late]. */
function ticking() {
  const clock = new FakeClock();
  const ticks: Array<[number, boolean]> = [];
  const start = clock.now();
  const hb = new Heartbeat({
    clock,
    intervalMs: 100,
    timeoutMs: 300,
    sendPing: () => hb.sent(),
    onTimeout: () => {},
    onTick: (now, late) => void ticks.push([now - start, late]),
  });
  return { clock, hb, ticks };
}

describe('heartbeat', () => {
  it('heartbeat - pings when idle, times out when the peer is silent', () => {
    const { clock, hb, log } = setup();
    hb.start();
    clock.advance(2999);
    expect(log).toEqual(['ping@1000', 'ping@2000']);
    clock.advance(1);
    expect(log).toEqual(['ping@1000', 'ping@2000', 'timeout@3000 silent 3000']);
    clock.advance(10_000);
    expect(log).toHaveLength(3); // stopped for good
    expect(clock.pending).toBe(0);
  });

  it('heartbeat - onTick runs at least once per interval, on a busy link too, and not after a stop', () => {
    const { clock, hb, ticks } = ticking();
    const times = () => ticks.map((t) => t[0]);
    hb.start();
    for (let i = 0; i < 50; i++) {
      clock.advance(10);
      hb.sent(); // busy: no ping is due, yet the ticks go on
      hb.received();
    }
    // Re-armed from the last send: never more than an interval apart.
    expect(times()).toEqual([100, 190, 280, 370, 460]);
    hb.stop();
    clock.advance(1000);
    expect(ticks).toHaveLength(5);
  });

  it('heartbeat - a tick that fires late (own loop blocked) waits one poll before a timeout', () => {
    const { clock, hb, log } = setup();
    hb.start();
    clock.advance(500);
    // The loop is blocked for 5 s: the timer is overdue when it finally fires.
    clock.jump(5000);
    clock.advance(0);
    const timeouts = () => log.filter((l) => l.startsWith('timeout'));
    expect(timeouts()).toEqual([]); // not judged yet: the peer's frames may be unread
    hb.received(); // the poll reads them
    clock.advance(1);
    expect(timeouts()).toEqual([]);
    // Late again, and this time nothing was read: the recheck times out.
    clock.jump(5000);
    clock.advance(0);
    expect(timeouts()).toEqual([]);
    clock.advance(1);
    expect(timeouts()).toHaveLength(1);
  });

  it('heartbeat - onTick says late after a blocked loop, on the recheck too, and on time after', () => {
    const { clock, hb, ticks } = ticking();
    hb.start();
    clock.advance(100);
    hb.received();
    clock.jump(200); // blocked: the next tick fires 100 ms late, the peer not yet overdue
    clock.advance(0);
    expect(ticks).toEqual([
      [100, false],
      [300, true],
    ]);
    clock.jump(1000); // blocked longer: the peer looks overdue, so a recheck comes first
    clock.advance(0);
    hb.received();
    clock.advance(1);
    clock.advance(100);
    expect(ticks.slice(2)).toEqual([
      [1301, true],
      [1401, false],
    ]);
    hb.stop();
  });

  it('heartbeat - no ping while sending, no timeout while receiving', () => {
    const { clock, hb, log } = setup();
    hb.start();
    for (let i = 0; i < 5000; i++) {
      clock.advance(10);
      hb.sent();
      hb.received();
    }
    expect(log).toEqual([]);
    // 5000 messages over 50 s: a timer callback per interval or so, not one per message.
    expect(clock.armed).toBeLessThanOrEqual(101);
  });

  it('heartbeat - receiving postpones the timeout', () => {
    const { clock, hb, log } = setup(1000, 3000);
    hb.start();
    clock.advance(2500);
    hb.received();
    clock.advance(2900);
    expect(log.some((l) => l.startsWith('timeout'))).toBe(false);
    clock.advance(100);
    expect(log.at(-1)).toBe('timeout@5500 silent 3000');
  });

  it('heartbeat - stop clears the timer', () => {
    const { clock, hb, log } = setup();
    hb.start();
    hb.stop();
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    expect(log).toEqual([]);
  });

  it('heartbeat - a timer that fires early does not spin', () => {
    const { clock, hb, log } = setup();
    hb.start();
    clock.jump(-5); // wall clock stepped back: the timer fires "early"
    clock.advance(1000);
    expect(clock.armed).toBeLessThan(5);
    expect(log).toEqual([]);
  });
});
