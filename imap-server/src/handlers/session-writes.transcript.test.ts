import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../core/src/index.js';
import { createFakeImapStore, type FakeImapStore } from '../../../tests/helpers/imap-fakes.js';
import type { Frame } from '../protocol/command-reader.js';
import { ImapSession, type SessionIo } from './session.js';
import { StructureCache } from './structure-cache.js';

/**
 * How a session hands its responses to the connection: every response of a command (its untagged
 * lines and the tagged one) in ONE write, and what is written before the session waits for the
 * client (IDLE's `+`, a report while idling) written then. Each write is a trip through the
 * socket (or deflate) layer: a FETCH of 20 messages used to cost 21. On the fakes, with an io
 * that records each write and hands the session frames from the test.
 */

const MESSAGE = (n: number) => [`From: Bob <bob@b.test>`, `To: alice@a.test`, `Subject: Hello ${n}`, `Message-ID: <m${n}@b.test>`, 'Date: Mon, 23 Nov 2026 09:00:00 +0000', '', `Body number ${n}`, ''].join('\r\n');

/** An io whose writes are recorded; the test feeds command lines with `send` and waits for writes with `written`. */
function recordingIo() {
  const writes: string[] = [];
  const frames: Array<Frame | null> = [];
  let frameWaiter: (() => void) | null = null;
  let writeWaiter: (() => void) | null = null;
  const io: SessionIo = {
    ip: '127.0.0.1',
    secure: () => false,
    write: async (data) => {
      writes.push(data.toString('utf8'));
      writeWaiter?.();
    },
    startTls: () => Promise.reject(new Error('no TLS here')),
    compressed: () => false,
    startCompression: () => undefined,
    next: async () => {
      while (frames.length === 0) await new Promise<void>((resolve) => (frameWaiter = resolve));
      return frames.shift()!;
    },
    close: () => undefined,
  };
  return {
    io,
    writes,
    send(line: string | null) {
      frames.push(line === null ? null : { kind: 'command', raw: Buffer.from(line) });
      frameWaiter?.();
    },
    /** Waits (with a deadline) until `count` writes were made in all. */
    async written(count: number): Promise<string[]> {
      const deadline = Date.now() + 5000;
      while (writes.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} writes, got ${writes.length}: ${JSON.stringify(writes)}`);
        await new Promise<void>((resolve) => {
          writeWaiter = resolve;
          setTimeout(resolve, 50);
        });
      }
      return writes;
    },
  };
}

function start(store: FakeImapStore) {
  const rec = recordingIo();
  const session = new ImapSession(rec.io, {
    services: store.services,
    log: silentLogger(),
    settings: { hostname: 'imap.a.test', allowPlaintextAuth: true },
    userConnections: { acquire: () => true, release: () => undefined },
    structures: new StructureCache(),
  });
  const done = session.run();
  return { ...rec, done };
}

describe('responses of a session, as the connection gets them', () => {
  it('writes each command\'s responses in one write: greeting, LOGIN, SELECT, a FETCH of 5 messages, SEARCH', async () => {
    const store = createFakeImapStore();
    for (let i = 1; i <= 5; i++) store.deliver('INBOX', MESSAGE(i));
    const s = start(store);
    expect((await s.written(1))[0]).toMatch(/^\* OK \[CAPABILITY .*\r\n$/);
    s.send('a1 LOGIN alice@a.test secret');
    expect((await s.written(2))[1]).toMatch(/^a1 OK .*\r\n$/);
    s.send('a2 SELECT INBOX');
    const select = (await s.written(3))[2]!;
    expect(select).toContain('* 5 EXISTS\r\n');
    expect(select).toMatch(/a2 OK \[READ-WRITE\] SELECT completed\r\n$/);
    s.send('a3 FETCH 1:5 (FLAGS ENVELOPE)');
    const fetch = (await s.written(4))[3]!.split('\r\n');
    expect(fetch.slice(0, 5).map((l) => l.slice(0, 12))).toEqual(['* 1 FETCH (F', '* 2 FETCH (F', '* 3 FETCH (F', '* 4 FETCH (F', '* 5 FETCH (F']);
    expect(fetch.slice(5)).toEqual(['a3 OK FETCH completed', '']);
    s.send('a4 SEARCH SUBJECT "Hello 3"');
    expect((await s.written(5))[4]).toBe('* SEARCH 3\r\na4 OK SEARCH completed\r\n');
    s.send('a5 LOGOUT');
    await s.done;
    expect(s.writes.slice(5)).toEqual(['* BYE Mailyard IMAP signing off\r\na5 OK LOGOUT completed\r\n']);
  });

  it('writes IDLE\'s continuation before it waits for DONE, and each report while idling when it is made', async () => {
    const store = createFakeImapStore();
    store.deliver('INBOX', MESSAGE(1));
    const s = start(store);
    s.send('a1 LOGIN alice@a.test secret');
    s.send('a2 SELECT INBOX');
    await s.written(3);
    s.send('a3 IDLE');
    expect((await s.written(4))[3]).toBe('+ idling\r\n');
    store.deliver('INBOX', MESSAGE(2));
    expect((await s.written(5))[4]).toBe('* 2 EXISTS\r\n');
    s.send('DONE');
    expect((await s.written(6))[5]).toBe('a3 OK IDLE terminated\r\n');
    s.send(null);
    await s.done;
  });
});
