/**
 * What the reader says about the spam filter and the sender checks (issue 11):
 * - `JunkBanner`: for mail in Junk, a calm line "Why is this in Junk?" that opens one screen with
 *   the reason, the score against the threshold as a small bar, and every check that spoke, in
 *   plain words with its points, heaviest first; with "Not spam" and "Always trust <sender>".
 * - `AuthenticationLine`: on demand in the header, what SPF, DKIM, DMARC and ARC found.
 * The words come from filter-explain.ts.
 */
import { useId, useState } from 'react';
import type { MessageAuthenticationDto, MessageDetailDto, MessageFilterDto } from '@mailyard/core/contracts';
import { authenticationSummary, explainAuthentication, explainChecks, points, type ExplainedCheck } from './filter-explain';

/** The sentence at the top (the message is in Junk): the filter's own, or what we can say when it has none. */
function reasonFor(filter: MessageFilterDto): string {
  if (filter === null) return 'The spam filter did not judge this message: it was moved to Junk by you or by a mail app.';
  if (filter.reason) return filter.reason;
  if (filter.override === 'block') return 'You blocked this sender, so their mail goes to Junk.';
  if (filter.verdict === 'inbox') return `The spam filter let this message into the Inbox (score ${points(filter.score)}); it was moved to Junk later, by you or by a mail app.`;
  return `Its spam score, ${points(filter.score)}, is at or above ${filter.junkThreshold}, where mail goes to Junk.`;
}

/** The score as a bar from 0 to where mail is refused, with a mark where Junk begins. */
function ScoreBar({ filter }: { filter: NonNullable<MessageFilterDto> }) {
  const top = Math.max(filter.rejectThreshold, filter.junkThreshold, filter.score, 1);
  const fill = Math.min(100, (Math.max(0, filter.score) / top) * 100);
  const mark = (filter.junkThreshold / top) * 100;
  const label = `Spam score ${points(filter.score)}: mail goes to Junk from ${filter.junkThreshold} and is refused from ${filter.rejectThreshold}.`;
  return (
    <div className="score">
      <div className="score-bar" role="img" aria-label={label}>
        <span className={filter.score >= filter.junkThreshold ? 'score-fill over' : 'score-fill'} style={{ width: `${fill}%` }} />
        <span className="score-mark" style={{ left: `${mark}%` }} />
      </div>
      <p className="muted" aria-hidden="true">
        Score <strong>{points(filter.score)}</strong> · Junk from {filter.junkThreshold} · refused from {filter.rejectThreshold}
      </p>
    </div>
  );
}

const marks = { good: '✓', bad: '✕', neutral: '–' } as const;

function CheckList({ checks, label, showPoints }: { checks: ExplainedCheck[]; label: string; showPoints: boolean }) {
  return (
    <ul className="checks" aria-label={label}>
      {checks.map((c, i) => (
        <li key={i} className={`check-item tone-${c.tone}`}>
          <span className="check-mark" aria-hidden="true">
            {marks[c.tone]}
          </span>
          <span className="check-text">
            <span>
              <strong>{c.name}:</strong> {c.sentence}
            </span>
            <small className="muted">{c.about}</small>
          </span>
          {showPoints && (
            <span className={`check-points ${c.score > 0 ? 'points-up' : c.score < 0 ? 'points-down' : 'points-none'}`} title="Points added to the spam score">
              {points(c.score)}
            </span>
          )}
        </li>
      ))}
    </ul>
  );
}

export interface JunkBannerProps {
  message: MessageDetailDto;
  /** Moves it back to the Inbox (POST /api/messages/:id/not-spam); `allowSender` also allow-lists the sender. */
  onNotSpam?(allowSender: boolean): void;
}

export function JunkBanner({ message, onNotSpam }: JunkBannerProps) {
  const [open, setOpen] = useState(false);
  const [trust, setTrust] = useState(false);
  const [sent, setSent] = useState(false);
  const panelId = useId();
  const { filter } = message;
  const sender = message.from[0]?.address ?? null;
  const checks = filter ? explainChecks(filter.checks, message.authentication) : [];
  return (
    <section className="junk-banner" aria-label="Spam filter">
      <div className="junk-line">
        <button type="button" className="link" aria-expanded={open} aria-controls={panelId} onClick={() => setOpen((o) => !o)}>
          Why is this in Junk?
        </button>
        {onNotSpam && (
          <span className="junk-actions">
            {sender && (
              <label className="junk-trust">
                <input type="checkbox" checked={trust} onChange={(e) => setTrust(e.target.checked)} /> Always trust {sender}
              </label>
            )}
            <button
              type="button"
              disabled={sent}
              onClick={() => {
                setSent(true);
                onNotSpam(trust && sender !== null);
              }}
            >
              Not spam
            </button>
          </span>
        )}
      </div>
      {open && (
        <div id={panelId} className="junk-explain">
          <p className="junk-reason">{reasonFor(filter)}</p>
          {filter && <ScoreBar filter={filter} />}
          {checks.length > 0 && <CheckList checks={checks} label="What each check found" showPoints />}
          {filter && (
            <p className="muted">
              {filter.engine === 'rspamd' ? 'Scored by rspamd, the spam filter this server runs, with the checks above.' : 'Scored by Mailyard’s built-in rules.'} Points above zero count
              towards Junk; below zero, against it.
            </p>
          )}
        </div>
      )}
    </section>
  );
}

/** "Authentication: the sender is verified", opening to what each check found. */
export function AuthenticationLine({ auth }: { auth: NonNullable<MessageAuthenticationDto> }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const summary = authenticationSummary(auth);
  return (
    <div className="auth-line">
      <button type="button" className="link" aria-expanded={open} aria-controls={panelId} onClick={() => setOpen((o) => !o)}>
        Authentication: <span className={`tone-${summary.tone}`}>{summary.text}</span>
      </button>
      {open && (
        <div id={panelId}>
          <CheckList checks={explainAuthentication(auth)} label="Sender checks" showPoints={false} />
        </div>
      )}
    </div>
  );
}
