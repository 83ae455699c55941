/**
 * The colour theme: the system's (prefers-color-scheme, the default) or one the user picked,
 * remembered in localStorage and applied as `data-theme` on <html> (styles.css reads it).
 */
import { useEffect, useState } from 'react';

export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'mailyard.theme';
const order: ThemeChoice[] = ['system', 'light', 'dark'];

function stored(): ThemeChoice {
  const value = localStorage.getItem(KEY);
  return value === 'light' || value === 'dark' ? value : 'system';
}

export interface Theme {
  theme: ThemeChoice;
  next(): void;
  set(choice: ThemeChoice): void;
}

export function useTheme(): Theme {
  const [theme, setTheme] = useState<ThemeChoice>(stored);
  useEffect(() => {
    if (theme === 'system') {
      delete document.documentElement.dataset.theme;
      localStorage.removeItem(KEY);
    } else {
      document.documentElement.dataset.theme = theme;
      localStorage.setItem(KEY, theme);
    }
  }, [theme]);
  return { theme, next: () => setTheme((t) => order[(order.indexOf(t) + 1) % order.length]!), set: setTheme };
}
