import type { ChannelInfo, WhoAmIView } from '@myop-relay/protocol';
import { ApiError, RelayApi } from './api.js';
import type { PageContext } from './context.js';
import { byId, h, replace } from './dom.js';
import { LiveFeed, type LiveState } from './live.js';
import { formatRoute, parseRoute, type Route } from './router.js';
import { forgetToken, storeToken, storedToken } from './token-store.js';
import { ConsumersView } from './views/consumers.js';
import { EventsView } from './views/events.js';
import { signInView } from './views/signin.js';

/**
 * How often the open page asks the relay again: it refreshes delivery states, and a revoked
 * token meets its 401 within this time even if the live stream is down.
 */
const POLL_MS = 10_000;

const LIVE_LABELS: Record<LiveState, string> = { connecting: 'Connecting…', live: 'Live', offline: 'Offline, retrying' };

/** The signed-in page: top bar, the events or consumers view, the live feed and the poll. */
class SignedInPage {
  private readonly live: LiveFeed;
  private readonly poll: number;
  private readonly events: EventsView;
  private readonly consumers: ConsumersView;
  private readonly main = h('main', { id: 'main' });
  private readonly status = h('div', { id: 'status', class: 'status', role: 'status' });
  private readonly liveBadge = h('span', { id: 'live', class: 'live is-connecting' }, LIVE_LABELS.connecting);
  private readonly nav: Record<Route['view'], HTMLAnchorElement>;
  private readonly onHash = (): void => this.route();
  private ended = false;

  constructor(
    readonly api: RelayApi,
    who: WhoAmIView,
    channels: ChannelInfo[],
    private readonly signOut: (message?: string) => void,
  ) {
    const ctx: PageContext = {
      api,
      who,
      channels,
      navigate: (route) => {
        const hash = formatRoute(route);
        if (location.hash === hash) this.route();
        else location.hash = hash;
      },
      notify: (message, kind = 'info') => {
        this.status.className = `status ${kind}`;
        this.status.textContent = message;
      },
    };
    this.events = new EventsView(ctx);
    this.consumers = new ConsumersView(ctx);
    this.nav = {
      events: h('a', { href: '#/events' }, 'Events'),
      consumers: h('a', { href: '#/consumers' }, 'Consumers'),
    };
    const header = h(
      'header',
      { class: 'topbar' },
      h('span', { class: 'brand' }, 'Webhook Logs'),
      h('nav', null, this.nav.events, this.nav.consumers),
      this.liveBadge,
      h('span', { class: 'who', id: 'who' }, `${who.name} (${who.role}${who.channels === null ? ', every channel' : `: ${who.channels.join(', ') || 'no channel'}`})`),
      h('button', { type: 'button', id: 'signout', class: 'quiet', on: { click: () => this.signOut() } }, 'Sign out'),
    );
    replace(byId('app'), header, this.status, this.main);
    window.addEventListener('hashchange', this.onHash);
    this.live = new LiveFeed(api.authorization, {
      onEvents: (channels) => this.events.onEvents(channels),
      onReconnected: () => void this.refresh(),
      onState: (state) => {
        this.liveBadge.className = `live is-${state}`;
        this.liveBadge.textContent = LIVE_LABELS[state];
      },
      onSignedOut: () => this.signOut('The relay no longer accepts this token (revoked or invalid). Sign in again.'),
    });
    this.live.start();
    this.poll = window.setInterval(() => void this.refresh(), POLL_MS);
    this.route();
  }

  private route(): void {
    if (this.ended) return;
    const route = parseRoute(location.hash);
    for (const [view, link] of Object.entries(this.nav)) {
      if (view === route.view) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (route.view === 'consumers') {
      replace(this.main, this.consumers.root);
      this.consumers.show(route.channel);
    } else {
      replace(this.main, this.events.root);
      this.events.show(route.filters, route.selected);
    }
  }

  private async refresh(): Promise<void> {
    if (this.ended) return;
    // whoami costs the relay one token lookup: it is what meets a revoked token's 401.
    await this.api.whoami().catch(() => undefined);
    if (this.ended) return;
    if (parseRoute(location.hash).view === 'consumers') await this.consumers.refresh();
    else await this.events.refresh();
  }

  end(): void {
    this.ended = true;
    this.live.stop();
    window.clearInterval(this.poll);
    window.removeEventListener('hashchange', this.onHash);
  }
}

let page: SignedInPage | undefined;

function signOut(message?: string): void {
  page?.end();
  page = undefined;
  forgetToken();
  replace(byId('app'), signInView(signIn, message));
}

async function start(token: string): Promise<void> {
  let unauthorized = false;
  const api = new RelayApi(token, () => {
    unauthorized = true;
    if (page) signOut('The relay no longer accepts this token (revoked or invalid). Sign in again.');
  });
  try {
    const who = await api.whoami();
    const { channels } = await api.channels();
    page = new SignedInPage(api, who, channels, signOut);
  } catch (error) {
    if (unauthorized || (error instanceof ApiError && error.status === 401)) throw new Error('The relay does not accept this token. Check it, or create one with relay-server token create.');
    throw error instanceof ApiError ? new Error(`${error.code}: ${error.message}`) : new Error('The relay could not be reached.');
  }
}

async function signIn(token: string): Promise<void> {
  await start(token);
  storeToken(token);
}

const remembered = storedToken();
if (remembered === undefined) signOut();
else start(remembered).catch((error: unknown) => signOut(error instanceof Error ? error.message : String(error)));
