import { beeProducer, beeWorker } from './bee.ts';
import { bullmqProducer, bullmqWorker } from './bullmq.ts';
import { jobReactorProducer, jobReactorWorker } from './jobreactor.ts';
import type { ProducerAdapter, ProducerConfig, WorkerAdapter, WorkerConfig } from './types.ts';

export function makeProducer(cfg: ProducerConfig): Promise<ProducerAdapter> {
  switch (cfg.system) {
    case 'jr-memory':
    case 'jr-redis':
    case 'jr-lmdb':
    case 'jr-tls':
      return jobReactorProducer(cfg);
    case 'bullmq':
      return bullmqProducer(cfg);
    case 'bee':
      return beeProducer(cfg);
  }
}

export function makeWorker(cfg: WorkerConfig): Promise<WorkerAdapter> {
  switch (cfg.system) {
    case 'jr-memory':
    case 'jr-redis':
    case 'jr-lmdb':
    case 'jr-tls':
      return jobReactorWorker(cfg);
    case 'bullmq':
      return bullmqWorker(cfg);
    case 'bee':
      return beeWorker(cfg);
  }
}
