import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/errors.ts';
import type { NodeSession } from '../../../src/distributor/node-session.ts';
import { StartPermits } from '../../../src/distributor/start-permits.ts';
import type { Message } from '../../../src/protocol/messages.ts';
import { PERMIT_ASKS_IN_FLIGHT } from '../../../src/protocol/messages.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

/** A session as StartPermits sees it: a name, whether it closed, and what it was sent. */
function session(name: string) {
  const sent: Message[] = [];
  const s = { name, closed: false, maxFrameSize: 1 << 20, send: (m: Message) => void sent.push(m) };
  return { s: s as unknown as NodeSession, sent, raw: s };
}

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `j${from + i}`);
const granted = (sent: Message[]) => sent.flatMap((m) => (m.t === 'granted' ? m.ids : []));
const turn = () => new Promise<void>((r) => queueMicrotask(r));

describe('start permits', () => {
  it('start permits - requests count from the ask to the grant; over the bound: ProtocolError, nothing queued', async () => {
    const clock = new FakeClock(0);
    const permits = new StartPermits({ mail: { max: 1, duration: 1000 } }, clock);
    const a = session('a');
    const b = session('b');
    const n = PERMIT_ASKS_IN_FLIGHT;
    expect(
      permits.request(
        a.s,
        ids(n),
        ids(n).map(() => 'mail'),
      ),
    ).toBeUndefined();
    await turn();
    expect(granted(a.sent)).toEqual(['j0']); // one per second
    expect(permits.askedBy(a.s)).toBe(n - 1);
    // Two more would be n + 1 out: refused whole, the count unchanged.
    const refused = permits.request(a.s, ids(2, n), ['mail', 'mail']);
    expect(refused).toBeInstanceOf(ProtocolError);
    expect(refused?.message).toMatch(`asked for ${n + 1} start permits at once`);
    expect(permits.askedBy(a.s)).toBe(n - 1);
    // Another session has its own count.
    expect(permits.request(b.s, ['x'], ['mail'])).toBeUndefined();
    expect(permits.askedBy(b.s)).toBe(1);
    // A grant answers one ask: one more fits.
    clock.advance(1000);
    await turn();
    expect(granted(a.sent)).toEqual(['j0', 'j1']);
    expect(permits.askedBy(a.s)).toBe(n - 2);
    expect(permits.request(a.s, ids(2, n), ['mail', 'mail'])).toBeUndefined();
    expect(permits.askedBy(a.s)).toBe(n);
    // A session that closes takes its count with it.
    permits.closed(a.s);
    expect(permits.askedBy(a.s)).toBe(0);
    permits.close();
  });

  it('start permits - a name that is not limited is granted at once and leaves no count', async () => {
    const permits = new StartPermits({ mail: { max: 1, duration: 1000 } }, new FakeClock(0));
    const a = session('a');
    expect(permits.request(a.s, ['x', 'y'], ['other', 'other'])).toBeUndefined();
    await turn();
    expect(granted(a.sent)).toEqual(['x', 'y']);
    expect(permits.askedBy(a.s)).toBe(0);
    permits.close();
  });
});
