import { useState, type FormEvent } from 'react'
import { api, GENERIC, OFFLINE, setSession } from '../lib/api.ts'
import { navigate } from '../lib/navigation.ts'

export function Login() {
  const [problem, setProblem] = useState('')

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    setProblem('')
    const { data, error } = await api.api.auth.login.post({ email: String(form.get('email')), password: String(form.get('password')) })
    if (!error) {
      setSession(data)
      return navigate('/')
    }
    if (error.status === 'network') return setProblem(OFFLINE)
    if (error.status === 'unexpected') return setProblem(GENERIC)
    switch (error.value.error.code) {
      case 'INVALID_CREDENTIALS':
        return setProblem('The email or password is incorrect.')
      case 'EMAIL_NOT_VERIFIED':
        return setProblem('Please verify your email address first.')
      case 'RATE_LIMITED':
        return setProblem(`Too many attempts. Try again in ${error.status === 429 ? error.retryAfter : 60} s.`)
      default:
        return setProblem(GENERIC)
    }
  }

  return (
    <main>
      <h1>Log in</h1>
      <form onSubmit={submit}>
        <input name="email" type="email" placeholder="University email" required />
        <input name="password" type="password" placeholder="Password" required />
        <button type="submit">Log in</button>
      </form>
      <p role="alert">{problem}</p>
    </main>
  )
}
