import { useSyncExternalStore } from 'react'

const subscribe = (onChange: () => void) => {
  window.addEventListener('popstate', onChange)
  return () => window.removeEventListener('popstate', onChange)
}

/** The current path, re-rendered on navigation. */
export const usePath = (): string => useSyncExternalStore(subscribe, () => window.location.pathname)

/** In-page navigation: the in-memory session survives it. */
export function navigate(path: string): void {
  window.history.pushState(null, '', path)
  window.dispatchEvent(new PopStateEvent('popstate'))
}
