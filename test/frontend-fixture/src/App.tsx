import { Home } from './pages/Home.tsx'
import { Login } from './pages/Login.tsx'
import { Register } from './pages/Register.tsx'
import { VerifyEmail } from './pages/VerifyEmail.tsx'
import { usePath } from './lib/navigation.ts'

export default function App() {
  const path = usePath()
  switch (path) {
    case '/register':
      return <Register />
    case '/verify-email':
      return <VerifyEmail />
    case '/login':
      return <Login />
    default:
      return <Home />
  }
}
