/**
 * Where the signed-in token lives: this tab's sessionStorage, gone when the tab closes. It is
 * never put in a URL and never in a cookie, so a request the page does not make itself (a link
 * or a form on another site) carries no credential.
 */
const KEY = 'myop-relay.token';

/** The token of this tab's sign-in, if any. */
export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Keeps the token for this tab. */
export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

/** Forgets the token. */
export function forgetToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Storage unavailable: there is nothing to forget.
  }
}
