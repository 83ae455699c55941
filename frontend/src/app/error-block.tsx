/** An error the user can act on: its message, and "Retry" when there is something to retry (admin views, settings lists). */
export function ErrorBlock({ message, onRetry }: { message: string; onRetry?(): void }) {
  return (
    <div className="error-block" role="alert">
      <p>{message}</p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
