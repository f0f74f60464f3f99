import { useEffect, useRef, type ReactNode } from 'react';

/** A page: its title in the tab and an h1 that takes the focus, so a keyboard or screen-reader user lands on it. */
export function Page({ title, intro, children }: { title: string; intro?: ReactNode; children: ReactNode }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Sluice`;
    h1.current?.focus();
  }, [title]);
  return (
    <>
      <h1 ref={h1} tabIndex={-1}>{title}</h1>
      {intro && <p className="intro">{intro}</p>}
      {children}
    </>
  );
}
