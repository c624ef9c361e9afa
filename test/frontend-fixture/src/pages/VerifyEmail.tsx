import { useState } from 'react'
import { api, GENERIC, OFFLINE } from '../lib/api.ts'
import { navigate } from '../lib/navigation.ts'

// Read once, then removed from the address bar: the token is sent only with the password the student types.
const token = new URLSearchParams(window.location.search).get('token')
if (token) window.history.replaceState(null, '', window.location.pathname)

export function VerifyEmail() {
  const [status, setStatus] = useState('')
  const [problem, setProblem] = useState(token ? '' : 'This link is incomplete. Open the link from the email again.')
  const [busy, setBusy] = useState(false)

  async function confirm(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!token) return
    const password = String(new FormData(event.currentTarget).get('password'))
    setBusy(true)
    setProblem('')
    const { data, error } = await api.api.auth['verify-email'].post({ token, password })
    setBusy(false)
    if (!error) return setStatus(`Thanks, ${data.user.firstName}: your email address is verified.`)
    if (error.status === 'network') return setProblem(OFFLINE)
    if (error.status === 401) return setProblem('That is not the password you registered with.')
    if (error.status === 400 && error.value.error.code === 'INVALID_TOKEN') return setProblem('This link is invalid, expired or already used.')
    setProblem(GENERIC)
  }

  return (
    <main>
      <h1>Verify your email</h1>
      {status ? (
        <button type="button" onClick={() => navigate('/login')}>
          Log in
        </button>
      ) : (
        <form onSubmit={confirm}>
          <input name="password" type="password" placeholder="Password" required />
          <button type="submit" disabled={busy || !token}>
            Confirm my email
          </button>
        </form>
      )}
      <p role="status">{status}</p>
      <p role="alert">{problem}</p>
    </main>
  )
}
