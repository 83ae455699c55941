/**
 * Importing mail (POST /api/account/import): pick an mbox file, watch it upload, then read what
 * happened in words ("Imported 120 messages, 3 were already here."). A failure says why and offers
 * to try again with the same file; messages already imported are skipped, so a retry adds only the rest.
 */
import { useState } from 'react';
import type { AccountImportResult } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { describeError } from './describe-error';

type Phase = { name: 'idle' } | { name: 'uploading'; fraction: number } | { name: 'done'; result: AccountImportResult } | { name: 'failed'; text: string };

const messages = (n: number) => `${n.toLocaleString('en-US')} message${n === 1 ? '' : 's'}`;

/** What an import did, as a sentence. */
export function describeImport({ read, imported, skipped }: AccountImportResult): string {
  if (read === 0) return 'The file holds no messages.';
  if (imported === 0) return `Nothing new: ${skipped === 1 ? 'the message was' : `all ${messages(skipped)} were`} already here.`;
  if (skipped === 0) return `Imported ${messages(imported)}.`;
  return `Imported ${messages(imported)}, ${skipped.toLocaleString('en-US')} ${skipped === 1 ? 'was' : 'were'} already here.`;
}

function describeFailure(err: unknown): string {
  const text = describeError(err);
  if (err instanceof ApiError && err.code === 'quota.exceeded') return `${text} What was imported before your mailbox filled up is kept; import the file again to add the rest.`;
  return text;
}

export function ImportMail({ importFile }: { importFile(file: File, onProgress: (fraction: number) => void): Promise<AccountImportResult> }) {
  const [file, setFile] = useState<File | null>(null);
  const [phase, setPhase] = useState<Phase>({ name: 'idle' });
  const busy = phase.name === 'uploading';

  const start = () => {
    if (!file || busy) return;
    setPhase({ name: 'uploading', fraction: 0 });
    importFile(file, (fraction) => setPhase({ name: 'uploading', fraction })).then(
      (result) => setPhase({ name: 'done', result }),
      (err: unknown) => setPhase({ name: 'failed', text: describeFailure(err) }),
    );
  };

  return (
    <section className="settings-form" aria-labelledby="import-title">
      <h2 id="import-title">Import</h2>
      <p className="muted">Mail from an mbox file, such as an export from here, Thunderbird or Google Takeout. Folders and read and starred marks come along; messages already here are skipped.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          start();
        }}
      >
        <label>
          Mbox file
          <input
            type="file"
            accept=".mbox,application/mbox"
            disabled={busy}
            onChange={(e) => {
              setFile(e.target.files?.[0] ?? null);
              setPhase({ name: 'idle' });
            }}
          />
        </label>
        <button type="submit" disabled={!file || busy}>
          Import mail
        </button>
      </form>
      {phase.name === 'uploading' && phase.fraction < 1 && (
        <label>
          Uploading: {Math.floor(phase.fraction * 100)}%
          <progress max={1} value={phase.fraction} />
        </label>
      )}
      {phase.name === 'uploading' && phase.fraction >= 1 && (
        <p role="status" className="muted">
          Uploaded. Filing the messages…
        </p>
      )}
      {phase.name === 'done' && (
        <p className="notice" role="status">
          {describeImport(phase.result)}
        </p>
      )}
      {phase.name === 'failed' && (
        <>
          <p className="error" role="alert">
            {phase.text}
          </p>
          <button type="button" onClick={start}>
            Try again
          </button>
        </>
      )}
    </section>
  );
}
