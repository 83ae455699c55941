// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { ComposeDock } from './compose-dock';

afterEach(cleanup);

describe('the compose dock', () => {
  it('shows the Compose button in the mail views only (the app hides it on Settings and Admin)', () => {
    const { rerender } = render(<ComposeDock me="me@example.test" />);
    expect(screen.getByRole('button', { name: 'Compose' })).toBeTruthy();
    rerender(<ComposeDock me="me@example.test" showButton={false} />);
    expect(screen.queryByRole('button', { name: 'Compose' })).toBeNull();
  });
});
