// A bench worker process: one job-reactor node, BullMQ worker or Bee-Queue worker. It boots
// (imports, JIT) while the producers start, and starts working on 'start'.
import { makeWorker } from '../adapters/index.ts';
import type { WorkerAdapter, WorkerConfig } from '../adapters/types.ts';
import { childConfig, memoryNow, serve } from '../lib/ipc.ts';

const cfg = childConfig<WorkerConfig>();
let worker: WorkerAdapter | undefined;
serve(
  {
    start: async (distributors: string[]) => {
      worker = await makeWorker({ ...cfg, distributors });
    },
    mem: () => memoryNow(),
    cpu: () => process.cpuUsage(),
  },
  async () => worker?.close(),
  { pid: process.pid },
);
