// A worker of the message renderer's pool (renderer.ts): parses and sanitizes one message per task.
import { serveWorkerTasks } from '../../util/worker-pool.js';
import { renderMessage } from '../render.js';
import type { RenderTask } from './renderer.js';

serveWorkerTasks((task: RenderTask) =>
  renderMessage(Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength), {
    allowRemoteImages: task.allowRemoteImages,
    attachmentUrl: (index) => `${task.marker}-${index}-${task.marker}`,
  }),
);
