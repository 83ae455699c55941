import v8 from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived its last full collection before it
 * collects again, in percent. V8's own factor is up to 4× (300 %) on a machine with a few GB of
 * memory. Under a backlog the SMTP server and the inbound worker keep every message in progress
 * alive across many awaits, so most of a message's objects (its text, parse, statements) outlive
 * two young-generation collections and die in the old generation: at 4× that garbage, not what is
 * alive (~40 MB, flat under load), set their peak RSS (bench/README.md, issue #14's memory target).
 * At 50 % a full collection comes sooner and costs little, since little in the old generation is alive.
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Caps V8's old-generation growth factor for this process (`--heap-growing-percent`). Only a
 * pacing setting: it bounds no size (the heap limit stays), so a large message never fails
 * for it. V8 reads the flag when a full collection sets the next limit, and the limit set while
 * the modules loaded would otherwise stand until reached (over 100 MB of old generation here):
 * so one full collection now (the inspector's, no flag needed). `0` gives V8 its own factor back.
 */
export async function limitHeapGrowth(percent = HEAP_GROWING_PERCENT): Promise<void> {
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  // Loaded here: a Node built without the inspector still starts (the flag then applies from the next limit V8 sets).
  const inspector = await import('node:inspector').catch(() => null);
  if (!inspector) return;
  const session = new inspector.Session();
  session.connect();
  try {
    await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (err) => (err ? reject(err) : resolve())));
  } finally {
    session.disconnect();
  }
}
