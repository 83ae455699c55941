// A worker for the worker-pool tests: echoes, throws, crashes or blocks on request.
import { AppError } from '../../core/src/errors.js';
import { serveWorkerTasks } from '../../core/src/util/worker-pool.js';

export type PoolTestTask = { do: 'echo'; value: string } | { do: 'throw' } | { do: 'crash' } | { do: 'block'; until: SharedArrayBuffer };

serveWorkerTasks((task: PoolTestTask) => {
  switch (task.do) {
    case 'echo':
      return `${task.value} from a worker`;
    case 'throw':
      throw new AppError('test.refused', 'refused on purpose');
    case 'crash':
      process.exit(3);
      break;
    case 'block':
      // Holds this worker until the test lets go (Atomics.wait blocks only this thread).
      Atomics.wait(new Int32Array(task.until), 0, 0);
      return 'released';
  }
  return null;
});
