import { describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError, StorageError } from '../../../src/errors.ts';
import type { JobRecord } from '../../../src/model/job.ts';
import { MemoryStorage } from '../../../src/storage/memory-storage.ts';
import { describeJobStorageConformance } from '../../conformance/job-storage.conformance.ts';

describeJobStorageConformance('memory', async () => ({
  storage: new MemoryStorage(),
  cleanup: async () => {},
}));

function record(id: string, node = 'n1'): JobRecord {
  return {
    id,
    name: 'job',
    args: { nested: { value: 1 } },
    distributor: 'd',
    enqueuedAt: 0,
    runAt: 0,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: 0,
    runs: 0,
    updatedAt: 0,
  };
}

describe('memory storage', () => {
  it('memory storage - is not durable', () => {
    expect(new MemoryStorage().durable).toBe(false);
  });

  it('memory storage - rejects with StorageError before open and ClosedError after close', async () => {
    const storage = new MemoryStorage();
    await expect(storage.load('x')).rejects.toBeInstanceOf(StorageError);
    await storage.open('n1');
    await storage.close();
    await expect(storage.load('x')).rejects.toBeInstanceOf(ClosedError);
    await expect(storage.open('n1')).rejects.toBeInstanceOf(ClosedError);
  });

  it('memory storage - open twice or with a bad node name rejects', async () => {
    const storage = new MemoryStorage();
    await expect(storage.open('bad name')).rejects.toBeInstanceOf(InvalidArgumentError);
    await storage.open('n1');
    expect(storage.node).toBe('n1');
    await expect(storage.open('n2')).rejects.toBeInstanceOf(StorageError);
  });

  it('memory storage - two instances in one process share nothing', async () => {
    const a = new MemoryStorage();
    const b = new MemoryStorage();
    await a.open('same');
    await b.open('same');
    await a.save(record('j1', 'same'));
    expect(await b.load('j1')).toBeUndefined();
  });
});
