// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { MessageDetailDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { Reader } from './reader';
import { detail } from './test-fixtures';

afterEach(cleanup);

function frame(): HTMLIFrameElement {
  return screen.getByTitle('Message body') as HTMLIFrameElement;
}

describe('Reader', () => {
  it('renders HTML mail in an iframe sandboxed without scripts or same-origin, under its own restrictive CSP', async () => {
    const load = vi.fn(async () => detail(7, { html: '<p>Hello <b>there</b></p>' }));
    render(<Reader messageId={7} load={load} starred={false} onBack={() => undefined} />);
    await waitFor(() => frame());
    const sandbox = frame().getAttribute('sandbox')!.split(/\s+/);
    expect(sandbox).not.toContain('allow-scripts');
    expect(sandbox).not.toContain('allow-same-origin');
    const doc = frame().getAttribute('srcdoc')!;
    expect(doc).toContain('<p>Hello <b>there</b></p>');
    expect(doc).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src [^;"]*;/);
    expect(doc).not.toMatch(/img-src[^;]*https:/);
    expect(load).toHaveBeenCalledWith(7, false);
  });

  it('keeps remote images blocked until "Show images", which loads the message again with them', async () => {
    const load = vi.fn(async (_id: number, remote: boolean) => detail(7, { html: remote ? '<img src="https://img.example/a.png">' : '<img alt="">', hasRemoteContent: true }));
    render(<Reader messageId={7} load={load} starred={false} onBack={() => undefined} />);
    await screen.findByText('Images from remote senders are hidden.');
    fireEvent.click(screen.getByRole('button', { name: 'Show images' }));
    await waitFor(() => expect(frame().getAttribute('srcdoc')).toContain('https://img.example/a.png'));
    expect(load).toHaveBeenLastCalledWith(7, true);
    expect(frame().getAttribute('srcdoc')).toMatch(/img-src[^;]*https:/);
    expect(screen.queryByText('Images from remote senders are hidden.')).toBeNull();
  });

  it('says when only the start of a large message is shown, and links to its download', async () => {
    render(<Reader messageId={9} load={async () => detail(9, { html: '<p>start</p>', truncated: true })} starred={false} onBack={() => undefined} />);
    await screen.findByText('This message is too large to show in full.');
    expect(screen.getByRole('link', { name: 'Download it to see everything' }).getAttribute('href')).toBe('/api/messages/9/raw');
  });

  it('shows no truncation notice for a message shown in full', async () => {
    render(<Reader messageId={9} load={async () => detail(9, { html: '<p>all</p>' })} starred={false} onBack={() => undefined} />);
    await waitFor(() => frame());
    expect(screen.queryByText('This message is too large to show in full.')).toBeNull();
  });

  it('shows plain-text mail as text, with its headers and attachments', async () => {
    const message: MessageDetailDto = detail(8, {
      text: 'Line one\nLine two',
      attachments: [{ index: 0, filename: 'plan.pdf', contentType: 'application/pdf', size: 2048, inline: false, url: '/api/messages/8/attachments/0' }],
    });
    render(<Reader messageId={8} load={async () => message} starred={false} onBack={() => undefined} />);
    expect((await screen.findByText(/Line one/)).tagName).toBe('PRE');
    expect(screen.queryByTitle('Message body')).toBeNull();
    expect(screen.getByRole('heading', { name: 'Quarterly plan' })).toBeTruthy();
    expect(screen.getByText('Anna <anna@example.test>')).toBeTruthy();
    const link = screen.getByRole('link', { name: /plan\.pdf/ });
    expect(link.getAttribute('href')).toBe('/api/messages/8/attachments/0');
    expect(screen.getByText('2 KB')).toBeTruthy();
  });

  it('says what failed in words and retries', async () => {
    let calls = 0;
    const load = vi.fn(async () => {
      calls += 1;
      if (calls === 1) throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
      return detail(9);
    });
    render(<Reader messageId={9} load={load} starred={false} onBack={() => undefined} />);
    expect((await screen.findByRole('alert')).textContent).toContain('Cannot reach the server.');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await screen.findByText('Plain words');
  });

  it('stars, archives and deletes from its toolbar', async () => {
    const onStar = vi.fn();
    const onArchive = vi.fn();
    const onTrash = vi.fn();
    render(<Reader messageId={3} load={async () => detail(3)} starred={false} onBack={() => undefined} onStar={onStar} onArchive={onArchive} onTrash={onTrash} />);
    fireEvent.click(await screen.findByRole('button', { name: '☆ Star' }));
    expect(onStar).toHaveBeenCalledWith(3, true);
    fireEvent.click(screen.getByRole('button', { name: 'Archive' }));
    expect(onArchive).toHaveBeenCalledWith(3);
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(onTrash).toHaveBeenCalledWith(3);
  });
});
