/** An API error in the words of the settings screen (where a wrong password is the user's own). */
import { ApiError } from '../../api/client';

export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Something went wrong. Try again.';
  if (err.code === 'auth.invalid') return 'Your current password is not right.';
  return err.message;
}
