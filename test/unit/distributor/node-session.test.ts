import { describe, expect, it } from 'vitest';
import { NodeSession, type SessionHost } from '../../../src/distributor/node-session.ts';
import type { TrackedJob } from '../../../src/distributor/tracked-job.ts';
import type { Feedback } from '../../../src/model/job.ts';
import { encodeFeedbackItem, encodeJobItem } from '../../../src/protocol/batch-frames.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../../src/protocol/codec.ts';
import { FrameDecoder } from '../../../src/protocol/framer.ts';
import type { HelloMessage, Message } from '../../../src/protocol/messages.ts';
import type { Connection } from '../../../src/transport/connection.ts';
import { sampleJob } from '../protocol/sample-messages.ts';

/** A connection that records what would be written, and runs the flush hook on `write()`. */
function fakeConnection() {
  const written: Message[] = [];
  const decoder = new FrameDecoder({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE });
  let hook: (() => void) | undefined;
  let flushRequests = 0;
  let closedWith: Error | undefined;
  let drainHook: (() => void) | undefined;
  /** What the connection says `sendRoom()` is (bytes it may still queue). */
  const link = { room: 12 * 1024 * 1024 };
  const conn = {
    remote: '127.0.0.1:1',
    closed: false,
    silentFor: () => 0,
    send: (m: Message) => void written.push(m),
    sendFrame: (f: Buffer) => void written.push(...decoder.push(f)),
    setFlushHook: (h: () => void) => void (hook = h),
    requestFlush: () => void flushRequests++,
    sendRoom: () => link.room,
    setDrainHook: (h: () => void) => void (drainHook = h),
    close: (err?: Error) => void (closedWith = err),
    onMessage: () => {},
    onClose: () => () => {},
  } satisfies Connection;
  return {
    conn,
    written,
    /** The end of the turn: the connection's write. */
    write: () => hook?.(),
    flushRequests: () => flushRequests,
    closedWith: () => closedWith,
    link,
    /** The socket took everything it held. */
    drained: () => drainHook?.(),
  };
}

const hello: HelloMessage = {
  t: 'hello',
  v: 2,
  node: 'n1',
  instance: 'i1',
  capacity: 2,
  window: 4,
  windowBytes: 1000,
  durable: false,
  jobs: ['j'],
  nonce: '00112233445566778899aabbccddeeff',
};

function recordingHost() {
  const calls: unknown[][] = [];
  const host: SessionHost = {
    accepted: (_s, ids) => void calls.push(['accepted', ids]),
    rejected: (_s, ids) => void calls.push(['rejected', ids]),
    feedback: (_s, fb) => void calls.push(['feedback', fb]),
    cancelled: (req, ok) => void calls.push(['cancelled', req, ok]),
    pong: (_s, id) => void calls.push(['pong', id]),
    room: (changed) => void calls.push(['room', changed]),
    status: () => void calls.push(['status']),
    progress: (_s, ids, values) => void calls.push(['progress', ids, values]),
    answered: (_s, answer) => void calls.push(['answered', answer.req]),
    permits: (_s, ids, names) => void calls.push(['permits', ids, names]),
    protocolError: (_s, err) => void calls.push(['protocolError', err.code]),
  };
  return { host, calls };
}

function session() {
  const c = fakeConnection();
  const h = recordingHost();
  const s = new NodeSession(c.conn, hello, 0, {
    host: h.host,
    distributorId: 'dist-1',
    maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  });
  return { s, ...c, ...h };
}

const item = (id: string) => encodeJobItem({ ...sampleJob, id }, DEFAULT_MAX_FRAME_SIZE);

describe('node session', () => {
  it('node session - starts with the credit of its window (run slots + prefetch)', () => {
    const { s } = session();
    expect(s.credit).toBe(4);
    expect(s.info()).toMatchObject({ capacity: 2, window: 4, credit: 4 });
  });

  it("node session - a turn's jobs and acknowledgements leave as one frame each, at the write", () => {
    const { s, written, write, flushRequests } = session();
    s.sendJob(item('a'));
    s.sendJob(item('b'));
    const fb = (id: string) => ({
      t: 'feedbacks' as const,
      fbs: [{ ...decodedFb(id) }],
    });
    s.handle(fb('x'));
    s.handle(fb('y'));
    expect(written).toEqual([]);
    expect(flushRequests()).toBe(1);
    write();
    expect(written).toEqual([
      {
        t: 'jobs',
        jobs: [
          { ...sampleJob, id: 'a', distributor: '' },
          { ...sampleJob, id: 'b', distributor: '' },
        ],
      },
      { t: 'fback', keys: ['x', 'y'] },
    ]);
    write();
    expect(written).toHaveLength(2);
  });

  it('node session - any other message goes after the jobs queued before it', () => {
    const { s, written, write } = session();
    s.sendJob(item('a'));
    s.send({ t: 'cancel', id: 'a', req: 1 });
    s.sendJob(item('b'));
    write();
    expect(written.map((m) => (m.t === 'jobs' ? m.jobs.map((j) => j.id) : m.t))).toEqual([
      ['a'],
      'cancel',
      ['b'],
    ]);
  });

  it('node session - feedbacks get their node and distributor from the link', () => {
    const { s, calls } = session();
    s.handle({ t: 'feedbacks', fbs: [decodedFb('x')] });
    const fb = calls[0]![1] as Feedback;
    expect(fb).toMatchObject({ jobId: 'x', node: 'n1', distributor: 'dist-1' });
  });

  it('node session - the byte window: no instant job while unstarted bytes fill it, unless none are out', () => {
    const { s } = session();
    expect(s.takesInstant).toBe(true);
    s.unstartedBytes = 999;
    expect(s.takesInstant).toBe(true);
    s.unstartedBytes = 1000;
    expect(s.takesInstant).toBe(false);
    s.unstartedBytes = 0;
    s.credit = 0;
    expect(s.takesInstant).toBe(false);
  });

  it("node session - send room: the turn's jobs stay under the link's room; a drained socket says room", () => {
    const { s, link, write, drained, calls } = session();
    const a = item('a');
    link.room = a.length * 2 - 1;
    expect(s.hasSendRoom).toBe(true);
    s.sendJob(a);
    expect(s.hasSendRoom).toBe(true); // room for not quite two items, one queued
    s.sendJob(item('b'));
    expect(s.hasSendRoom).toBe(false); // two queued: no room for a third
    write(); // the batch went to the connection, which now holds it: the room it reports
    link.room = 0;
    expect(s.hasSendRoom).toBe(false);
    // Even a first job of the turn waits while the socket is backlogged...
    link.room = -5;
    expect(s.hasSendRoom).toBe(false);
    // ...and a link with any room takes one job, however large.
    link.room = 1;
    expect(s.hasSendRoom).toBe(true);
    drained();
    expect(calls).toContainEqual(['room', false]);
  });

  it('node session - the message switch: credit, runs, reconcile, drain, status, answers', () => {
    const { s, calls, written, write } = session();
    const noted: unknown[] = [];
    const job = {
      spec: { id: 'a' },
      instant: true,
      noteRun: (running: boolean, attempts?: number) => void noted.push([running, attempts]),
    } as unknown as TrackedJob;
    s.held.set(job);
    s.handle({ t: 'credit', n: 3 });
    expect(s.credit).toBe(7);
    s.handle({ t: 'runs', started: ['a', 'gone'], stopped: ['a'], attempts: [2] });
    expect(noted).toEqual([
      [true, undefined],
      [false, 2],
    ]);
    s.handle({ t: 'reconcile', ids: ['a', 'gone'] });
    write();
    expect(written).toEqual([{ t: 'owned', ids: ['a'] }]);
    s.handle({ t: 'accepted', ids: ['a'] });
    s.handle({ t: 'rejected', ids: ['b'], error: { name: 'E', code: 'C', message: 'm' } });
    s.handle({ t: 'cancelled', req: 4, ok: true });
    s.handle({ t: 'pong', id: 9 });
    s.handle({ t: 'status', accepting: false, jobs: ['j', 'k'] });
    expect(s.paused).toBe(true);
    expect([...s.jobNames]).toEqual(['j', 'k']);
    s.handle({ t: 'drain' });
    expect(s.draining).toBe(true);
    expect(s.usable).toBe(false);
    expect(calls).toEqual([
      ['room', false],
      ['room', false],
      ['accepted', ['a']],
      ['rejected', ['b']],
      ['cancelled', 4, true],
      ['pong', 9],
      ['status'],
      ['room', true],
    ]);
  });

  it('node session - a message a node never sends closes the link with a ProtocolError', () => {
    const { s, calls, closedWith } = session();
    s.handle({ t: 'jobs', jobs: [] });
    expect(calls).toEqual([['protocolError', 'JR_ERR_PROTOCOL']]);
    expect(closedWith()).toMatchObject({ code: 'JR_ERR_PROTOCOL' });
  });

  it('node session - closing drops what is queued for it', () => {
    const { s, written, write } = session();
    s.sendJob(item('a'));
    s.close();
    write();
    expect(written).toEqual([]);
    expect(s.closed).toBe(true);
  });
});

/** A feedback as the node's frame decodes (node and distributor empty). */
function decodedFb(id: string): Feedback {
  const fb: Feedback = {
    key: id,
    jobId: id,
    distributor: '',
    node: '',
    outcome: 'success',
    final: true,
    args: {},
    attempt: 1,
  };
  // Encodable as the node would send it.
  encodeFeedbackItem(fb, DEFAULT_MAX_FRAME_SIZE);
  return fb;
}
