import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { StorageOwner } from '../../src/storage/job-storage.ts';
import { LmdbStorage } from '../../src/storage/lmdb-storage.ts';

/**
 * Fresh LMDB store directories and opened storages for one test file: after each test the
 * storages are closed and the directories removed. Call it at the top level of the file.
 */
export function lmdbStores(prefix: string): {
  freshDir: () => string;
  open: (dir: string, node: string, owner?: StorageOwner) => Promise<LmdbStorage>;
} {
  const dirs: string[] = [];
  const opened: LmdbStorage[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return {
    freshDir: () => {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    open: async (dir, node, owner) => {
      const s = new LmdbStorage({ path: dir });
      if (owner) s.owner = owner;
      await s.open(node);
      opened.push(s);
      return s;
    },
  };
}
