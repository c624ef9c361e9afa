/**
 * Compile-time proofs (checked by `tsc -b`, never bundled): a failure without a response must be handled
 * before the error body is read. Each `@ts-expect-error` fails the build if its line ever compiles.
 */
import { api } from './lib/api.ts'

export async function readsTheBodyOfEveryFailure(): Promise<string> {
  const { error } = await api.api.auth['verify-email'].post({ token: 'x', password: 'x' })
  if (!error) return 'ok'
  // @ts-expect-error: a network failure (no response) has no error body
  return error.value.error.code
}

export async function handlesTheNetworkFailureFirst(): Promise<string> {
  const { error } = await api.api.auth['verify-email'].post({ token: 'x', password: 'x' })
  if (!error) return 'ok'
  if (error.status === 'network') return error.cause.message
  if (error.status === 'unexpected') return String(error.httpStatus)
  return error.value.error.code
}

export async function switchesOverHttpStatusesOnly(): Promise<string> {
  const { error } = await api.api.auth.login.post({ email: 'ada@mit.edu', password: 'x' })
  if (!error) return 'ok'
  switch (error.status) {
    case 400:
    case 401:
    case 403:
    case 413:
    case 415:
    case 500:
    case 'unexpected':
      return 'message'
    case 429:
    case 503:
      return `${error.retryAfter}`
    default: {
      // @ts-expect-error: "network" is still possible here
      const unreachable: never = error
      return unreachable
    }
  }
}

export async function readsRetryAfterOnlyWhereItExists(): Promise<number> {
  const { error } = await api.api.auth.login.post({ email: 'ada@mit.edu', password: 'x' })
  if (error?.status === 401) {
    // @ts-expect-error: a 401 has no Retry-After
    return error.retryAfter
  }
  return error?.status === 429 || error?.status === 503 ? error.retryAfter : 0
}
