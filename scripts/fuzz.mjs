// `npm run fuzz`: the fuzz properties `npm test` runs a few dozen times each (every *.fuzz.test.ts:
// SMTP commands and DATA, MIME parsing and rendering, the API's input handling), run many more times.
// FUZZ_RUNS sets the runs per property (default 2000); FUZZ_SEED replays a seed a failure printed.
// Extra arguments go to vitest (a file narrows the run: `npm run fuzz -- mx-session.fuzz`).
import { join } from 'node:path';
import { ensureNodeModules, root, run } from './lib.mjs';

ensureNodeModules();
const runs = process.env.FUZZ_RUNS ?? '2000';
console.log(`== fuzzing: ${runs} runs per property${process.env.FUZZ_SEED ? `, seed ${process.env.FUZZ_SEED}` : ''}`);
const filters = process.argv.slice(2);
const status = run(join(root, 'node_modules', '.bin', 'vitest'), ['run', ...(filters.length > 0 ? filters : ['.fuzz.test.ts'])], {
  env: { ...process.env, FUZZ_RUNS: runs },
});
process.exit(status);
