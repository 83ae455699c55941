// A worker of the message renderer's pool (renderer.ts): parses and sanitizes one message, or takes attachments out of one, per task.
import { serveWorkerTasks } from '../../util/worker-pool.js';
import { loadAttachments, renderMessage, type MessageAttachment, type RenderedMessage } from '../render.js';
import type { RenderTask } from './renderer.js';

serveWorkerTasks<RenderTask, RenderedMessage | Array<MessageAttachment | null>>((task) => {
  const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
  if (task.kind === 'attachments') return loadAttachments(raw, task.indexes);
  return renderMessage(raw, {
    allowRemoteImages: task.allowRemoteImages,
    attachmentUrl: (index) => `${task.marker}-${index}-${task.marker}`,
  });
});
