// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import type { AccountImportResult } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { describeImport, ImportMail } from './import-mail';

afterEach(cleanup);

const mbox = () => new File(['From a@b.test Sat Dec  5 10:00:00 2026\nSubject: hi\n\nhello\n'], 'mail.mbox', { type: 'application/mbox' });

function pick(file: File) {
  fireEvent.change(screen.getByLabelText('Mbox file'), { target: { files: [file] } });
}

/** A promise the test settles, as the server would. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('the import section', () => {
  it('uploads the picked file with a progress bar, then says what was imported', async () => {
    const answer = deferred<AccountImportResult>();
    let report: (fraction: number) => void = () => undefined;
    const importFile = vi.fn((_file: File, onProgress: (fraction: number) => void) => {
      report = onProgress;
      return answer.promise;
    });
    render(<ImportMail importFile={importFile} />);
    const button = screen.getByRole('button', { name: 'Import mail' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    const file = mbox();
    pick(file);
    fireEvent.click(button);
    expect(importFile).toHaveBeenCalledWith(file, expect.any(Function));
    expect(button.disabled).toBe(true);

    act(() => report(0.42));
    const bar = (await screen.findByText(/Uploading: 42%/)).querySelector('progress')!;
    expect(bar.getAttribute('value')).toBe('0.42');
    act(() => report(1));
    expect((await screen.findByRole('status')).textContent).toBe('Uploaded. Filing the messages…');
    expect(document.querySelector('progress')).toBeNull();

    await act(async () => answer.resolve({ read: 123, imported: 120, skipped: 3 }));
    expect((await screen.findByRole('status')).textContent).toBe('Imported 120 messages, 3 were already here.');
    expect(button.disabled).toBe(false);
  });

  it('says why an import failed and tries the same file again', async () => {
    const importFile = vi
      .fn<(file: File, onProgress: (fraction: number) => void) => Promise<AccountImportResult>>()
      .mockRejectedValueOnce(new ApiError(400, 'import.invalid', 'That file is not an mbox file. Pick a .mbox file, such as an export from here or from Thunderbird.'))
      .mockResolvedValueOnce({ read: 3, imported: 0, skipped: 3 });
    render(<ImportMail importFile={importFile} />);
    const file = mbox();
    pick(file);
    fireEvent.click(screen.getByRole('button', { name: 'Import mail' }));
    expect((await screen.findByRole('alert')).textContent).toBe('That file is not an mbox file. Pick a .mbox file, such as an export from here or from Thunderbird.');

    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect((await screen.findByRole('status')).textContent).toBe('Nothing new: all 3 messages were already here.');
    expect(screen.queryByRole('alert')).toBeNull();
    expect(importFile.mock.calls.map(([f]) => f)).toEqual([file, file]);
  });

  it('tells a user whose mailbox filled up that what came in is kept', async () => {
    render(<ImportMail importFile={async () => Promise.reject(new ApiError(413, 'quota.exceeded', 'Your mailbox is full. Delete some mail and empty the Trash to make room.'))} />);
    pick(mbox());
    fireEvent.click(screen.getByRole('button', { name: 'Import mail' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/^Your mailbox is full\. .* is kept; import the file again to add the rest\.$/);
  });
});

describe('describeImport', () => {
  it('puts the counts in words', () => {
    expect(describeImport({ read: 0, imported: 0, skipped: 0 })).toBe('The file holds no messages.');
    expect(describeImport({ read: 1, imported: 1, skipped: 0 })).toBe('Imported 1 message.');
    expect(describeImport({ read: 1200, imported: 1199, skipped: 1 })).toBe('Imported 1,199 messages, 1 was already here.');
    expect(describeImport({ read: 1, imported: 0, skipped: 1 })).toBe('Nothing new: the message was already here.');
  });
});
