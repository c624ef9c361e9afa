import { useState, type FormEvent } from 'react'
import { api, GENERIC, OFFLINE } from '../lib/api.ts'

export function Register() {
  const [status, setStatus] = useState('')
  const [problem, setProblem] = useState('')

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const field = (name: string) => String(form.get(name) ?? '')
    setProblem('')
    const { error } = await api.api.auth.register.post({
      email: field('email'),
      username: field('username'),
      password: field('password'),
      firstName: field('firstName'),
    })
    if (!error) {
      setStatus('Check your inbox: we sent you a link to verify your email address.')
      return
    }
    switch (error.status) {
      case 'network':
        return setProblem(OFFLINE)
      case 400:
        return setProblem((error.value.error.details ?? []).map((p) => `${p.field}: ${p.message}`).join('; ') || error.value.error.message)
      case 409:
        return setProblem(error.value.error.code === 'EMAIL_TAKEN' ? 'This email is registered already.' : 'This username is taken.')
      case 429:
      case 503:
        return setProblem(`Too busy right now. Please try again in ${error.retryAfter} s.`)
      default:
        return setProblem(GENERIC)
    }
  }

  return (
    <main>
      <h1>Create an account</h1>
      <form onSubmit={submit}>
        <input name="email" type="email" placeholder="University email" required />
        <input name="username" placeholder="Username" required />
        <input name="password" type="password" placeholder="Password" required />
        <input name="firstName" placeholder="First name" required />
        <button type="submit">Register</button>
      </form>
      <p role="status">{status}</p>
      <p role="alert">{problem}</p>
    </main>
  )
}
