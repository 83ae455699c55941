/**
 * The screens as paths: `/settings` is the settings screen, `/admin` the admin panel, anything
 * else the mail. Moving between them pushes a history entry, so Back returns; the backend serves
 * the app for each.
 */
import { useCallback, useEffect, useState } from 'react';

export type Route = 'mail' | 'settings' | 'admin';

function current(): Route {
  const path = window.location.pathname;
  return path === '/settings' ? 'settings' : path === '/admin' ? 'admin' : 'mail';
}

export function useRoute(): [Route, (to: Route) => void] {
  const [route, setRoute] = useState<Route>(current);
  useEffect(() => {
    const onPop = () => setRoute(current());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to: Route) => {
    window.history.pushState(null, '', to === 'mail' ? '/' : `/${to}`);
    setRoute(to);
  }, []);
  return [route, navigate];
}
