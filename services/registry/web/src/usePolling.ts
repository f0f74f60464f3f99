import { useEffect } from 'react';

/** Runs `load` now and every `ms` while the tab is visible (and at once when it becomes visible). */
export function usePolling(load: () => Promise<void>, ms: number): void {
  useEffect(() => {
    void load();
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') void load();
    }, ms);
    const onVisible = (): void => {
      if (document.visibilityState === 'visible') void load();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(t);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [load, ms]);
}
