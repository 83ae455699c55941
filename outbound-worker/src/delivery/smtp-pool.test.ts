import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../jobs/deliver.job.js';
import { classifyFailure } from './smtp-pool.js';

const rcpts = ['a@x.test', 'b@x.test'];
const err = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.message ?? 'failed')), fields);

describe('classifyFailure: what a failed SMTP transaction means for each recipient', () => {
  it('a connection that never became a session is unreachable (try the next host)', () => {
    expect(classifyFailure(err({ code: 'ECONNECTION', message: 'connect ECONNREFUSED 127.0.0.9:25' }), rcpts, [])).toEqual({ kind: 'unreachable', reply: 'ECONNECTION: connect ECONNREFUSED 127.0.0.9:25' });
    expect(classifyFailure(err({ code: 'EPROTOCOL', command: 'CONN', response: '421 4.3.2 busy' }), rcpts, []).kind).toBe('unreachable');
  });

  it('MAIL FROM refused: every recipient shares the verdict of its code', () => {
    const r = classifyFailure(err({ code: 'EENVELOPE', command: 'MAIL FROM', response: '550 5.7.1 sender blocked', responseCode: 550 }), rcpts, []);
    expect(r).toEqual({ kind: 'answered', tls: false, results: rcpts.map((recipient) => ({ recipient, verdict: 'bounced', reply: '550 5.7.1 sender blocked' })) });
  });

  it('every RCPT refused: 5xx bounces, 4xx defers, per recipient', () => {
    const rejectedErrors = [err({ recipient: 'a@x.test', response: '550 5.1.1 unknown', responseCode: 550 }), err({ recipient: 'b@x.test', response: '450 4.2.0 greylisted', responseCode: 450 })];
    const r = classifyFailure(err({ code: 'EENVELOPE', command: 'RCPT TO', response: '450 4.2.0 greylisted', rejectedErrors }), rcpts, []);
    expect(r).toMatchObject({ kind: 'answered', results: [{ recipient: 'a@x.test', verdict: 'bounced' }, { recipient: 'b@x.test', verdict: 'deferred' }] });
  });

  it('DATA refused: the accepted recipients take the DATA verdict, the RCPT-refused keep theirs', () => {
    const envelopeRejected = [err({ recipient: 'b@x.test', response: '550 5.1.1 unknown', responseCode: 550 })];
    const r = classifyFailure(err({ code: 'EMESSAGE', command: 'DATA', response: '451 4.3.0 try later', responseCode: 451 }), rcpts, envelopeRejected);
    expect(r).toMatchObject({ kind: 'answered', results: [{ recipient: 'a@x.test', verdict: 'deferred', reply: '451 4.3.0 try later' }, { recipient: 'b@x.test', verdict: 'bounced' }] });
  });

  it('a message over the SIZE the server announced bounces with 552 5.3.4', () => {
    const r = classifyFailure(err({ code: 'EMESSAGE', message: 'Message size larger than allowed 1000' }), rcpts, []);
    expect(r).toMatchObject({ kind: 'answered', results: [{ verdict: 'bounced', reply: '552 5.3.4 Message size larger than allowed 1000' }, { verdict: 'bounced' }] });
  });

  it('a connection lost after the message went out is deferred, never bounced (it may have arrived)', () => {
    const r = classifyFailure(err({ code: 'ETIMEDOUT', command: 'DATA', message: 'Timeout' }), rcpts, []);
    expect(r).toMatchObject({ kind: 'answered', results: [{ verdict: 'deferred' }, { verdict: 'deferred' }] });
  });
});

describe('retryDelayMs', () => {
  it('walks the schedule by attempts made and repeats its last step', () => {
    const settings = { retryScheduleMs: [60_000, 600_000, 3_600_000] };
    expect([1, 2, 3, 4, 40].map((n) => retryDelayMs(settings, n))).toEqual([60_000, 600_000, 3_600_000, 3_600_000, 3_600_000]);
  });
});
