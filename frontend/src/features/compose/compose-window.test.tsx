// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { DraftBody, MessageDetailDto, SendBody, SendResponse, UploadDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { ComposeWindow, type ComposeApi, type ComposeInitial } from './compose-window';
import { answerFields, splitRecipients, toChip } from './recipients';
import type { RichEditorProps } from './rich-editor';

afterEach(cleanup);

/** A plain textarea in place of Tiptap (the browser test drives the real editor). */
function TextEditor({ initialHtml, onChange, label }: RichEditorProps) {
  return <textarea aria-label={label} defaultValue={initialHtml} onChange={(e) => onChange(`<p>${e.target.value}</p>`, e.target.value)} />;
}

/** An API that records calls; each method can be replaced per test. */
function fakeApi(overrides: Partial<ComposeApi> = {}) {
  const calls: Array<[string, unknown[]]> = [];
  let nextDraft = 100;
  const api: ComposeApi = {
    saveDraft: async (body: DraftBody) => (calls.push(['saveDraft', [body]]), { id: nextDraft++ }),
    replaceDraft: async (id: number, body: DraftBody) => (calls.push(['replaceDraft', [id, body]]), { id: nextDraft++ }),
    deleteDraft: async (id: number) => void calls.push(['deleteDraft', [id]]),
    send: async (body: SendBody) => (calls.push(['send', [body]]), { scheduledId: 7, sendAt: new Date(Date.now() + 10_000).toISOString(), sent: null }),
    contacts: async () => ({ contacts: [{ name: 'Ben Baker', address: 'ben@m.test', sentCount: 3, receivedCount: 1 }] }),
    upload: async (file: File) => ({ id: 'u'.repeat(22), filename: file.name, contentType: 'text/plain', size: file.size }),
    ...overrides,
  };
  return { api, calls, of: (name: string) => calls.filter(([n]) => n === name).map(([, args]) => args) };
}

function open(api: ComposeApi, initial: ComposeInitial = {}, autosaveMs = 60_000) {
  const onSent = vi.fn<(result: SendResponse, message: unknown) => void>();
  const onClose = vi.fn();
  render(<ComposeWindow initial={initial} api={api} onSent={onSent} onClose={onClose} autosaveMs={autosaveMs} Editor={TextEditor} />);
  const to = screen.getByRole('combobox', { name: 'To' });
  return { onSent, onClose, to };
}

function chipsOf(label: string): Array<{ text: string; invalid: boolean }> {
  return within(screen.getByRole('list', { name: `${label} recipients` }))
    .queryAllByRole('listitem')
    .map((li) => ({ text: li.firstChild?.textContent ?? '', invalid: li.getAttribute('aria-invalid') === 'true' }));
}

describe('recipient chips', () => {
  it('turns typed addresses into chips on a comma or Enter, marks a bad one invalid, and Backspace removes the last', () => {
    const { to } = open(fakeApi().api);
    fireEvent.change(to, { target: { value: 'ann@m.test,' } });
    fireEvent.change(to, { target: { value: 'not an address' } });
    fireEvent.keyDown(to, { key: 'Enter' });
    expect(chipsOf('To')).toEqual([
      { text: 'ann@m.test', invalid: false },
      { text: 'not an address', invalid: true },
    ]);
    expect(screen.getByTitle('not an address is not a valid address')).toBeTruthy();
    fireEvent.keyDown(to, { key: 'Backspace' });
    expect(chipsOf('To')).toEqual([{ text: 'ann@m.test', invalid: false }]);
  });

  it('splits a pasted list into chips, keeping names and dropping duplicates', () => {
    const { to } = open(fakeApi().api);
    fireEvent.paste(to, { clipboardData: { getData: () => 'ann@m.test; "Baker, Ben" <ben@m.test>\nANN@m.test' } });
    expect(chipsOf('To').map((c) => c.text)).toEqual(['ann@m.test', '"Baker, Ben" <ben@m.test>']);
  });

  it('suggests contacts as the user types and adds the one chosen', async () => {
    const { to } = open(fakeApi().api);
    fireEvent.change(to, { target: { value: 'be' } });
    const option = await screen.findByRole('option', { name: 'Ben Baker <ben@m.test>' });
    fireEvent.mouseDown(option);
    expect(chipsOf('To')).toEqual([{ text: 'Ben Baker <ben@m.test>', invalid: false }]);
  });
});

describe('sending', () => {
  it('refuses to send without a recipient or with an invalid one, and says why', async () => {
    const fake = fakeApi();
    const { to } = open(fake.api);
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Add at least one recipient.');
    fireEvent.change(to, { target: { value: 'ann@' } });
    fireEvent.keyDown(to, { key: 'Enter' });
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect((await screen.findByRole('alert')).textContent).toBe('“ann@” is not a valid address.');
    expect(fake.of('send')).toEqual([]);
  });

  it('sends what was written, with the draft it was saved as and the uploaded attachments', async () => {
    const fake = fakeApi();
    const { to, onSent } = open(fake.api, { to: ['ben@m.test'], draftId: 41, inReplyTo: 9, quoteOriginal: true });
    expect(to).toBeTruthy();
    fireEvent.change(screen.getByRole('textbox', { name: 'Subject' }), { target: { value: 'Re: plans' } });
    fireEvent.change(screen.getByRole('textbox', { name: 'Message' }), { target: { value: 'Sounds good' } });
    fireEvent.change(screen.getByLabelText('Attach files'), { target: { files: [new File(['hello'], 'notes.txt', { type: 'text/plain' })] } });
    await waitFor(() => expect(screen.queryByLabelText('Uploading notes.txt')).toBeNull());
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(onSent).toHaveBeenCalled());
    expect(fake.of('send')).toEqual([
      [{ to: ['ben@m.test'], cc: [], bcc: [], subject: 'Re: plans', text: 'Sounds good', html: '<p>Sounds good</p>', attachments: ['u'.repeat(22)], inReplyTo: 9, quoteOriginal: true, draftId: 41 }],
    ]);
  });

  it('keeps everything typed when the send fails, and says what happened', async () => {
    const fake = fakeApi({ send: async () => Promise.reject(new ApiError(401, 'auth.required', 'Your session has ended. Sign in again to continue.')) });
    const { onSent } = open(fake.api, { to: ['ben@m.test'] });
    fireEvent.change(screen.getByRole('textbox', { name: 'Subject' }), { target: { value: 'Important' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/session has ended/);
    expect(onSent).not.toHaveBeenCalled();
    expect((screen.getByRole('textbox', { name: 'Subject' }) as HTMLInputElement).value).toBe('Important');
    expect(chipsOf('To').map((c) => c.text)).toEqual(['ben@m.test']);
    expect(screen.getByRole('button', { name: 'Send' })).toBeTruthy();
  });

  it('sends a retry of the same message with the same Idempotency-Key, and an edited one with a new key', async () => {
    const keys: Array<string | undefined> = [];
    const fake = fakeApi({
      send: async (_body: SendBody, key?: string) => {
        keys.push(key);
        throw new ApiError(503, 'store.unavailable', 'The server could not be reached.');
      },
    });
    open(fake.api, { to: ['ben@m.test'] });
    fireEvent.change(screen.getByRole('textbox', { name: 'Subject' }), { target: { value: 'Once' } });
    const sendOnce = async (n: number) => {
      fireEvent.click(screen.getByRole('button', { name: 'Send' }));
      await waitFor(() => expect(keys).toHaveLength(n));
      await screen.findByRole('alert');
    };
    await sendOnce(1);
    await sendOnce(2);
    fireEvent.change(screen.getByRole('textbox', { name: 'Subject' }), { target: { value: 'Once, edited' } });
    await sendOnce(3);
    expect(keys[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).toMatch(/^[0-9a-f]{32}$/);
    expect(keys[2]).not.toBe(keys[0]);
  });

  it('shows a progress bar while an attachment uploads', async () => {
    let report: (f: number) => void = () => undefined;
    let finish: (u: UploadDto) => void = () => undefined;
    const fake = fakeApi({
      upload: (_file, onProgress) => {
        report = onProgress;
        return new Promise((resolve) => (finish = resolve));
      },
    });
    open(fake.api);
    fireEvent.change(screen.getByLabelText('Attach files'), { target: { files: [new File(['x'.repeat(100)], 'big.bin')] } });
    const bar = await screen.findByLabelText('Uploading big.bin');
    act(() => report(0.5));
    expect((bar as HTMLProgressElement).value).toBe(0.5);
    act(() => finish({ id: 'b'.repeat(22), filename: 'big.bin', contentType: 'application/octet-stream', size: 100 }));
    await waitFor(() => expect(screen.queryByLabelText('Uploading big.bin')).toBeNull());
  });
});

describe('drafts', () => {
  it('autosaves a changed draft, then replaces it with each new version, and saves on close', async () => {
    const fake = fakeApi();
    const { onClose } = open(fake.api, {}, 30);
    const subject = screen.getByRole('textbox', { name: 'Subject' });
    fireEvent.change(subject, { target: { value: 'First' } });
    await waitFor(() => expect(fake.of('saveDraft')).toHaveLength(1));
    expect(fake.of('saveDraft')[0]![0]).toMatchObject({ subject: 'First' });
    await waitFor(() => expect(screen.getByRole('status').textContent).toBe('Saved'));
    fireEvent.change(subject, { target: { value: 'Second' } });
    await waitFor(() => expect(fake.of('replaceDraft')).toHaveLength(1));
    expect(fake.of('replaceDraft')[0]).toEqual([100, expect.objectContaining({ subject: 'Second' })]);
    fireEvent.change(subject, { target: { value: 'Third' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save and close' }));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(fake.of('replaceDraft').at(-1)).toEqual([101, expect.objectContaining({ subject: 'Third' })]);
  });

  it('does not save an unchanged draft, and tries again after a failed save', async () => {
    let failures = 1;
    const fake = fakeApi();
    const saveDraft = fake.api.saveDraft;
    fake.api.saveDraft = async (body) => {
      if (failures-- > 0) throw new ApiError(0, 'network', 'Cannot reach the server.');
      return saveDraft(body);
    };
    open(fake.api, {}, 30);
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.of('saveDraft')).toEqual([]);
    fireEvent.change(screen.getByRole('textbox', { name: 'Subject' }), { target: { value: 'Keep me' } });
    await waitFor(() => expect(fake.of('saveDraft')).toHaveLength(1));
    expect(fake.of('saveDraft')[0]![0]).toMatchObject({ subject: 'Keep me' });
  });

  it('deletes the saved draft on discard', async () => {
    const fake = fakeApi();
    const { onClose } = open(fake.api, { draftId: 55 });
    fireEvent.click(screen.getByRole('button', { name: 'Discard' }));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(fake.of('deleteDraft')).toEqual([[55]]);
  });
});

describe('replies and forwards', () => {
  const original = {
    id: 3,
    subject: 'Plans',
    from: [{ name: 'Ann', address: 'ann@m.test' }],
    to: [{ name: '', address: 'me@m.test' }, { name: 'Cat', address: 'cat@m.test' }],
    cc: [{ name: '', address: 'dan@m.test' }, { name: '', address: 'ANN@m.test' }],
  } as MessageDetailDto;

  it('answers the sender, everyone but me, or nobody yet (forward), with Re:/Fwd: once', () => {
    expect(answerFields('reply', original, 'me@m.test')).toEqual({ to: ['Ann <ann@m.test>'], cc: [], subject: 'Re: Plans' });
    expect(answerFields('replyAll', original, 'Me@m.test')).toEqual({ to: ['Ann <ann@m.test>', 'Cat <cat@m.test>'], cc: ['dan@m.test'], subject: 'Re: Plans' });
    expect(answerFields('forward', { ...original, subject: 'fwd: Plans' }, 'me@m.test')).toEqual({ to: [], cc: [], subject: 'fwd: Plans' });
  });

  it('leaves out an entry with no address (a group without members, `To: undisclosed-recipients:;`) when replying to all', () => {
    const toGroup = { ...original, to: [{ name: 'undisclosed-recipients', address: '' }], cc: [{ name: '', address: 'dan@m.test' }] } as MessageDetailDto;
    expect(answerFields('replyAll', toGroup, 'me@m.test')).toEqual({ to: ['Ann <ann@m.test>'], cc: ['dan@m.test'], subject: 'Re: Plans' });
  });

  it('checks addresses as the server does', () => {
    expect(toChip('Ann <Ann@M.test>')).toEqual({ text: 'Ann <Ann@M.test>', address: 'ann@m.test', valid: true });
    for (const bad of ['ann', 'ann@', 'ann@host', 'a b@m.test']) expect(toChip(bad).valid, bad).toBe(false);
    expect(splitRecipients('a@x.test, "B, C" <b@x.test>;\nd@x.test')).toEqual(['a@x.test', '"B, C" <b@x.test>', 'd@x.test']);
  });
});
