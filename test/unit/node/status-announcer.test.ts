import { describe, expect, it } from 'vitest';
import type { Message } from '../../../src/protocol/messages.ts';
import type { DistributorLink } from '../../../src/node/links/distributor-link.ts';
import { StatusAnnouncer } from '../../../src/node/links/status-announcer.ts';
import { flush } from './runner-helpers.ts';

/** A link that records what it is sent. */
function fakeLink(): DistributorLink & { sent: Message[] } {
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

function setup(running = true) {
  const links = [fakeLink(), fakeLink()];
  const jobs = ['a'];
  const state = { running };
  const announcer = new StatusAnnouncer(links, { names: () => [...jobs] }, () => state.running);
  return { links, jobs, state, announcer };
}

describe('status announcer', () => {
  it('status announcer - a link that connects to an accepting node is told nothing', () => {
    const { links, announcer } = setup();
    announcer.linkReady(links[0]!);
    expect(links[0]!.sent).toEqual([]);
  });

  it('status announcer - a link that connects to a paused node is told so at once', () => {
    const { links, announcer } = setup();
    announcer.accepting = false;
    announcer.linkReady(links[0]!);
    expect(links[0]!.sent).toEqual([{ t: 'status', accepting: false, jobs: ['a'] }]);
    expect(links[1]!.sent).toEqual([]);
  });

  it('status announcer - broadcast tells every link', () => {
    const { links, announcer } = setup();
    announcer.accepting = false;
    announcer.broadcast();
    for (const link of links) {
      expect(link.sent).toEqual([{ t: 'status', accepting: false, jobs: ['a'] }]);
    }
  });

  it('status announcer - jobs defined while a link is still in its handshake: it is told once it is ready', async () => {
    const { links, jobs, announcer } = setup();
    const link = links[0]!;
    // Its hello (with job a) is out; the distributor's answer is not in yet.
    (link as { ready: boolean }).ready = false;
    link.send = (m: Message) => (link.ready ? (link.sent.push(m), true) : false);
    jobs.push('late');
    announcer.jobsChanged();
    await flush();
    expect(link.sent).toEqual([]);
    (link as { ready: boolean }).ready = true;
    announcer.linkReady(link);
    expect(link.sent).toEqual([{ t: 'status', accepting: true, jobs: ['a', 'late'] }]);
    announcer.linkReady(link); // told once
    expect(link.sent).toHaveLength(1);
  });

  it('status announcer - jobs defined in one turn: one status per link, with all of them', async () => {
    const { links, jobs, announcer } = setup();
    jobs.push('b');
    announcer.jobsChanged();
    jobs.push('c');
    announcer.jobsChanged();
    expect(links[0]!.sent).toEqual([]); // not before the turn ends
    await flush();
    for (const link of links) {
      expect(link.sent).toEqual([{ t: 'status', accepting: true, jobs: ['a', 'b', 'c'] }]);
    }
    announcer.jobsChanged(); // a later turn: told again
    await flush();
    expect(links[0]!.sent).toHaveLength(2);
  });

  it('status announcer - jobs defined while the node is not running: nothing sent', async () => {
    const { links, announcer, state } = setup(true);
    announcer.jobsChanged();
    state.running = false; // stopped before the turn ended
    await flush();
    expect(links[0]!.sent).toEqual([]);
  });

  it('status announcer - a held link alone is told accepting: false, and told again when let go', () => {
    const { links, announcer } = setup();
    announcer.hold(links[0]!, true);
    announcer.hold(links[0]!, true); // no change, nothing sent
    expect(links[0]!.sent).toEqual([{ t: 'status', accepting: false, jobs: ['a'] }]);
    expect(links[1]!.sent).toEqual([]);
    expect(announcer.accepts(links[0]!)).toBe(false);
    expect(announcer.accepts(links[1]!)).toBe(true);
    announcer.broadcast();
    expect(links[0]!.sent.at(-1)).toEqual({ t: 'status', accepting: false, jobs: ['a'] });
    expect(links[1]!.sent.at(-1)).toEqual({ t: 'status', accepting: true, jobs: ['a'] });
    announcer.hold(links[0]!, false);
    expect(links[0]!.sent.at(-1)).toEqual({ t: 'status', accepting: true, jobs: ['a'] });
  });

  it('status announcer - a link that reconnects held back is told at once; a paused node stays paused for it', () => {
    const { links, announcer } = setup();
    announcer.linkReady(links[0]!, true);
    expect(links[0]!.sent).toEqual([{ t: 'status', accepting: false, jobs: ['a'] }]);
    expect(announcer.isHeld(links[0]!)).toBe(true);
    announcer.accepting = false; // storage down
    announcer.hold(links[0]!, false); // let go, but the node is paused: nothing to tell
    expect(links[0]!.sent).toHaveLength(1);
    expect(announcer.accepts(links[0]!)).toBe(false);
  });
});
