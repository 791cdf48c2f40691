/**
 * Child process for the crash test (durability.test.ts): writes batches forever and prints
 * "acked <n>" after each acknowledged upsert, until the test kills it with SIGKILL.
 */
import { randomUnitVectors, testId } from '../testing/random.ts';
import { EmbeddedVectorStore } from './store.ts';

const [dir, dimsArg] = process.argv.slice(2);
const dims = Number(dimsArg);
const store = await EmbeddedVectorStore.open({ dir: dir!, batchSize: 64 });
await store.ensureCollection({ name: 'crash', dims, distance: 'cosine' });
const data = randomUnitVectors(100_000, dims, 1);
for (let batch = 0; ; batch++) {
  const points = Array.from({ length: 100 }, (_, j) => {
    const i = batch * 100 + j;
    return {
      id: testId(i),
      vector: data.subarray((i % 100_000) * dims, ((i % 100_000) + 1) * dims),
      payload: { collection: 'a', imageId: `img-${i}`, label: 'happy', score: 0.9, model: 'm' },
    };
  });
  await store.upsert('crash', points);
  if (batch % 3 === 2) await store.deleteByIds('crash', [testId(batch * 100)]);
  process.stdout.write(`acked ${batch + 1}\n`);
}
