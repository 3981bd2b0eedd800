// A distributor and one worker node in one process. Run: npx tsx examples/quick-start/main.ts
import { job, startDistributor, startNode } from '../../src/index.ts';

// A job: a name and a function of its args. A returned object is merged into the args.
const greet = job('greet', (args: { name: string; greeting?: string }, ctx) => ({
  greeting: `Hello, ${args.name}! (from ${ctx.node})`,
}));

// The distributor lives in your application. Port 0 picks a free port.
const distributor = await startDistributor({ port: 0 });

// A worker node dials the distributor. Here it runs in the same process.
const node = await startNode({ name: 'worker_1', distributors: [distributor.address] });

const handle = distributor.enqueue(greet, { name: 'Ada' }); // args are type-checked
const result = await handle.result; // the final args, sent back by the node
console.log(result.greeting);

await node.stop();
await distributor.close();
