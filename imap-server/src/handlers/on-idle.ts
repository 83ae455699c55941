import { bad, ok, AUTHENTICATED, type CommandHandler } from './types.js';

/**
 * IDLE (RFC 2177): `+ idling`, then every change to the selected mailbox is reported as it arrives
 * from the change feed (the session's pump reports while `idling`), until the client sends DONE.
 */
export const idle: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    args.end();
    await session.send('+ idling');
    session.idling = true;
    try {
      await session.reportUpdates(true);
      const frame = await session.nextFrame();
      if (!frame) return ok('IDLE terminated');
      if (frame.kind !== 'command' || frame.raw.toString('latin1').toUpperCase() !== 'DONE') return bad('Expected DONE');
      return ok('IDLE terminated');
    } finally {
      session.idling = false;
    }
  },
};
