import { describe, expect, it } from 'vitest';
import type { Message } from '../../../src/protocol/messages.ts';
import type { DistributorLink } from '../../../src/node/links/distributor-link.ts';
import { CreditGate } from '../../../src/node/links/credit-gate.ts';
import { LinkBatcher } from '../../../src/node/links/link-batcher.ts';
import { flush } from './runner-helpers.ts';

/** A ready link that records what it is sent. */
function recordingLink(): DistributorLink & { sent: Message[] } {
  const sent: Message[] = [];
  return {
    sent,
    ready: true,
    send(m: Message) {
      sent.push(m);
      return true;
    },
  } as unknown as DistributorLink & { sent: Message[] };
}

describe('credit gate', () => {
  it('credit gate - credits flow at once, batched per turn', async () => {
    const link = recordingLink();
    const gate = new CreditGate(new LinkBatcher());
    gate.give(link);
    gate.give(link);
    await flush();
    expect(link.sent).toEqual([{ t: 'credit', n: 2 }]);
  });

  it('credit gate - a closed link gets nothing until it is opened, then all it was owed', async () => {
    const held = recordingLink();
    const other = recordingLink();
    const gate = new CreditGate(new LinkBatcher());
    gate.close(held);
    gate.give(held);
    gate.give(held);
    gate.give(other);
    gate.give(held);
    await flush();
    expect(held.sent).toEqual([]);
    expect(other.sent).toEqual([{ t: 'credit', n: 1 }]);
    gate.open(held);
    await flush();
    expect(held.sent).toEqual([{ t: 'credit', n: 3 }]);
    gate.give(held);
    await flush();
    expect(held.sent).toEqual([
      { t: 'credit', n: 3 },
      { t: 'credit', n: 1 },
    ]);
  });

  it('credit gate - a link that went down forgets what it was owed (its next session starts full)', async () => {
    const link = recordingLink();
    const gate = new CreditGate(new LinkBatcher());
    gate.close(link);
    gate.give(link);
    gate.forget(link);
    gate.open(link);
    await flush();
    expect(link.sent).toEqual([]);
  });
});
