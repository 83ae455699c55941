// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { MessageDetailDto, MessageFilterDto } from '@mailyard/core/contracts';
import { api, ApiError } from '../../api/client';
import { explainChecks } from './filter-explain';
import { Reader, type ReaderProps } from './reader';
import { detail } from './test-fixtures';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const JUNK = 5;

const authentication: MessageDetailDto['authentication'] = {
  spf: { result: 'fail', domain: 'example.com' },
  dkim: { result: 'pass', domain: 'example.com' },
  dmarc: { result: 'fail', domain: 'example.com', policy: 'quarantine' },
  arc: { result: 'none', domain: null },
};

const filter: NonNullable<MessageFilterDto> = {
  verdict: 'junk',
  score: 9.5,
  junkThreshold: 6,
  rejectThreshold: 15,
  engine: 'builtin',
  override: null,
  reason: 'Nothing confirms it comes from example.com, and its server is on a spam blocklist.',
  checks: [
    { check: 'dkim', result: 'pass', score: -1, detail: null },
    { check: 'spf', result: 'fail', score: 2, detail: null },
    { check: 'dmarc', result: 'fail', score: 3.5, detail: null },
    { check: 'dnsbl', result: 'listed', score: 3, detail: 'listed on zen.example.org' },
    { check: 'rdns', result: 'fail', score: 1, detail: null },
    { check: 'rule', result: 'subject-caps', score: 0.5, detail: 'the subject is all capital letters' },
    { check: 'rspamd', result: 'MISSING_MID', score: 0.5, detail: 'the message has no Message-ID' },
    { check: 'policy', result: 'junk', score: 0, detail: 'example.com asks that mail failing DMARC go to Junk' },
  ],
};

function junkMessage(patch: Partial<MessageDetailDto> = {}): MessageDetailDto {
  return detail(7, { mailboxId: JUNK, from: [{ name: 'Anna', address: 'anna@example.com' }], authentication, filter, ...patch });
}

function renderReader(message: MessageDetailDto, props: Partial<ReaderProps> = {}) {
  return render(<Reader messageId={message.id} load={async () => message} starred={false} onBack={() => undefined} junkMailboxId={JUNK} {...props} />);
}

describe('"Why is this in Junk?"', () => {
  it('opens one screen with the reason, the score against the threshold, and every check in plain words, heaviest first', async () => {
    renderReader(junkMessage(), { onNotSpam: vi.fn() });
    const why = await screen.findByRole('button', { name: 'Why is this in Junk?' });
    expect(why.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByText(filter.reason!)).toBeNull();

    fireEvent.click(why);
    expect(why.getAttribute('aria-expanded')).toBe('true');
    expect(screen.getByText(filter.reason!)).toBeTruthy();
    expect(screen.getByRole('img', { name: 'Spam score +9.5: mail goes to Junk from 6 and is refused from 15.' })).toBeTruthy();

    const items = within(screen.getByRole('list', { name: 'What each check found' })).getAllByRole('listitem');
    const lines = items.map((li) => li.querySelector('.check-text > span')!.textContent);
    expect(lines).toEqual([
      'DMARC: nothing confirms that this message really comes from example.com; its owner asks that such mail go to Junk',
      'Blocklist: listed on zen.example.org',
      'SPF: this server is not allowed to send for example.com',
      'DKIM: signature by example.com verified',
      'Reverse DNS: the sending server’s name does not lead back to its address, as is common for hijacked home computers',
      'Content rule: the subject is all capital letters',
      'Content filter: the message has no Message-ID',
      'Sender’s policy: example.com asks that mail failing DMARC go to Junk',
    ]);
    expect(items.map((li) => li.querySelector('.check-points')!.textContent)).toEqual(['+3.5', '+3', '+2', '−1', '+1', '+0.5', '+0.5', '0']);
    expect(within(items[6]!).getByText(/Its rule: MISSING_MID\./)).toBeTruthy();
    // Each check says what it is, for someone who never heard of it.
    expect(within(items[2]!).getByText(/the sender’s domain lists the servers allowed to send its mail/)).toBeTruthy();
    expect(items[3]!.classList.contains('tone-good')).toBe(true);
    expect(items[2]!.classList.contains('tone-bad')).toBe(true);
  });

  it('explains a block-list decision and mail the filter never judged', async () => {
    const blocked = junkMessage({ filter: { ...filter, reason: null, override: 'block', score: 0, checks: [{ check: 'sender-list', result: 'block', score: 0, detail: null }] } });
    renderReader(blocked);
    fireEvent.click(await screen.findByRole('button', { name: 'Why is this in Junk?' }));
    expect(screen.getByText('You blocked this sender, so their mail goes to Junk.')).toBeTruthy();
    expect(screen.getByText('you blocked this sender')).toBeTruthy();
    cleanup();

    renderReader(junkMessage({ filter: null }));
    fireEvent.click(await screen.findByRole('button', { name: 'Why is this in Junk?' }));
    expect(screen.getByText(/did not judge this message: it was moved to Junk by you or by a mail app/)).toBeTruthy();
    expect(screen.queryByRole('img')).toBeNull();
  });

  it('"Not spam" asks for the message back, and "Always trust" the sender too', async () => {
    const onNotSpam = vi.fn();
    renderReader(junkMessage(), { onNotSpam });
    fireEvent.click(await screen.findByRole('button', { name: 'Not spam' }));
    expect(onNotSpam).toHaveBeenCalledWith(7, false);
    cleanup();

    renderReader(junkMessage(), { onNotSpam });
    const trust = await screen.findByRole('checkbox', { name: 'Always trust anna@example.com' });
    fireEvent.click(trust);
    fireEvent.click(screen.getByRole('button', { name: 'Not spam' }));
    expect(onNotSpam).toHaveBeenLastCalledWith(7, true);
    expect((screen.getByRole('button', { name: 'Not spam' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('sends POST /api/messages/:id/not-spam with allowSender through the API client', async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ message: { id: 7, mailboxId: 1, unread: false, starred: false }, sender: null }), { status: 200, headers: { 'content-type': 'application/json' } }));
    vi.stubGlobal('fetch', fetchMock);
    renderReader(junkMessage(), { onNotSpam: (id, allowSender) => void api.notSpam(id, { allowSender }) });
    fireEvent.click(await screen.findByRole('checkbox', { name: 'Always trust anna@example.com' }));
    fireEvent.click(screen.getByRole('button', { name: 'Not spam' }));
    await waitFor(() => expect(fetchMock).toHaveBeenCalled());
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/messages/7/not-spam');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({ allowSender: true });
  });

  it('shows no Junk banner for mail outside Junk, but offers "Report spam" and "Block sender"', async () => {
    const onReportSpam = vi.fn();
    const undo = vi.fn(async () => undefined);
    const blockSender = vi.fn(async () => undo);
    renderReader(junkMessage({ mailboxId: 1 }), { onReportSpam, blockSender });
    fireEvent.click(await screen.findByRole('button', { name: 'Report spam' }));
    expect(onReportSpam).toHaveBeenCalledWith(7);
    expect(screen.queryByRole('button', { name: 'Why is this in Junk?' })).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'Block sender' }));
    expect(blockSender).toHaveBeenCalledWith('anna@example.com');
    expect((await screen.findByRole('status')).textContent).toContain('Blocked anna@example.com: new mail from this sender goes to Junk.');
    expect((screen.getByRole('button', { name: 'Block sender' }) as HTMLButtonElement).disabled).toBe(true);

    // Undo takes the sender off the list again, and says so.
    fireEvent.click(screen.getByRole('button', { name: 'Undo' }));
    expect(undo).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(screen.getByRole('status').textContent).toBe('anna@example.com is no longer blocked.'));
    expect((screen.getByRole('button', { name: 'Block sender' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('says in words when blocking the sender fails', async () => {
    const blockSender = vi.fn(async () => Promise.reject(new ApiError(400, 'validation.failed', 'That is not an address or a domain.')));
    renderReader(junkMessage({ mailboxId: 1 }), { blockSender });
    fireEvent.click(await screen.findByRole('button', { name: 'Block sender' }));
    expect((await screen.findByRole('alert')).textContent).toBe('That is not an address or a domain.');
  });

  it('shows what the sender checks found, on demand, in the header', async () => {
    renderReader(junkMessage({ mailboxId: 1, authentication: { ...authentication, spf: { result: 'pass', domain: 'example.com' }, dmarc: { result: 'pass', domain: 'example.com', policy: 'reject' } } }));
    const line = await screen.findByRole('button', { name: 'Authentication: the sender (example.com) is verified' });
    expect(screen.queryByRole('list', { name: 'Sender checks' })).toBeNull();
    fireEvent.click(line);
    const items = within(screen.getByRole('list', { name: 'Sender checks' })).getAllByRole('listitem');
    expect(items.map((li) => li.querySelector('.check-text > span')!.textContent)).toEqual([
      'DMARC: the From address (example.com) is confirmed by SPF or DKIM',
      'DKIM: signature by example.com verified',
      'SPF: this server is allowed to send for example.com',
      'ARC: the message was not forwarded with a seal',
    ]);
  });

  it('says plainly when the sender proved nothing', () => {
    const [check] = explainChecks([{ check: 'auth', result: 'none', score: 1, detail: 'the sender is not authenticated at all (no SPF, DKIM or DMARC)' }], null);
    expect(`${check!.name}: ${check!.sentence}`).toBe('Authentication: the sender did not prove who it is in any way (no SPF, DKIM or DMARC)');
  });

  it('never blames DNS trouble on the sender', () => {
    const [check] = explainChecks([{ check: 'spf', result: 'temperror', score: 0, detail: null }], null);
    expect(check!.sentence).toMatch(/could not be checked: DNS did not answer/);
    expect(check!.tone).toBe('neutral');
  });
});
