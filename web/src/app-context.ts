// What every page gets from the shell: the session and the selected namespace.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session } from './lib/session';

export interface AppContext {
  session: Session;
  ns: string; // the selected namespace ("" when the user has none)
  setNs: (ns: string) => void;
}

export const App = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const c = useContext(App);
  if (!c) throw new Error('useApp outside the app shell');
  return c;
}
