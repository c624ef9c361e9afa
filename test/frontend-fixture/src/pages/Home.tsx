import { useEffect, useState } from 'react'
import type { PublicUser } from '@classmatefinder/api'
import { api, GENERIC, getSession, OFFLINE, setSession } from '../lib/api.ts'
import { navigate } from '../lib/navigation.ts'

export function Home() {
  const [user, setUser] = useState<PublicUser | null>(null)
  const [status, setStatus] = useState('')
  const [problem, setProblem] = useState('')

  useEffect(() => {
    if (!getSession()) return
    let current = true
    api.api.auth.me.get().then(({ data, error }) => {
      if (!current) return
      if (!error) return setUser(data.user)
      if (error.status === 401) {
        setSession(null) // expired or revoked: log in again
        return navigate('/login')
      }
      setProblem(error.status === 'network' ? OFFLINE : GENERIC)
    })
    return () => {
      current = false
    }
  }, [])

  async function logOut() {
    const { error } = await api.api.auth.logout.post()
    if (error?.status === 'network') return setProblem(OFFLINE)
    // 204, or 401 when the token was no longer valid: logged out either way.
    setSession(null)
    setUser(null)
    setStatus('You are logged out.')
  }

  return (
    <main>
      <h1>ClassmateFinder</h1>
      {user ? (
        <>
          <p data-testid="me">
            Signed in as {user.username} ({user.email})
          </p>
          <button type="button" onClick={logOut}>
            Log out
          </button>
        </>
      ) : (
        <nav>
          <button type="button" onClick={() => navigate('/register')}>
            Create an account
          </button>{' '}
          <button type="button" onClick={() => navigate('/login')}>
            Log in
          </button>
        </nav>
      )}
      <p role="status">{status}</p>
      <p role="alert">{problem}</p>
    </main>
  )
}
