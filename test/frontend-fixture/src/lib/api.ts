import { createClient, type Session } from '@classmatefinder/api'

/**
 * The API's base URL: the page's `<meta name="api-url">` when the server that serves the page fills it in
 * (one build for every environment), else the build's VITE_API_URL, else the local development API.
 */
const API_URL =
  document.querySelector<HTMLMetaElement>('meta[name="api-url"]')?.content ||
  import.meta.env.VITE_API_URL ||
  'http://localhost:5000'

let session: Session | null = null

export const getSession = (): Session | null => session
export const setSession = (next: Session | null): void => {
  session = next
}

export const api = createClient(API_URL, {
  getToken: () => (session && Date.parse(session.expiresAt) > Date.now() ? session.token : null),
})

export const OFFLINE = 'Cannot reach ClassmateFinder. Check your connection and try again.'
export const GENERIC = 'Something went wrong. Please try again.'
