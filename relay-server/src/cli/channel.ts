import { applyChannelSettings, rotateSecret, type ChannelSettings } from '../channel-settings.js';
import { viewChannel, type Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Auditor } from './audit.js';
import { json, line, table } from '@myop-relay/cli-support';

function describeVerification(channel: Channel): string {
  const v = channel.verification;
  switch (v.mode) {
    case 'hmac':
      return `hmac (header ${v.header}, ${v.secrets.length} active secret${v.secrets.length === 1 ? '' : 's'})`;
    case 'basic':
      return `basic (user ${v.user})`;
    case 'apikey':
      return `apikey (${v.location} ${v.name})`;
    case 'none':
      return channel.allowIps.length ? 'none (IP allow-list only)' : 'none (accepts unverified events)';
  }
}

async function existing(store: Store, name: string): Promise<Channel> {
  const channel = await store.getChannel(name);
  if (!channel) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${name}"; see \`relay-server channel list\`)`);
  return channel;
}

function printSecret(out: NodeJS.WritableStream, secret: string | undefined, asJson: boolean, channel: Channel): void {
  if (asJson) {
    json(out, { channel: viewChannel(channel), ...(secret ? { secret } : {}) });
    return;
  }
  line(out, `channel ${channel.name}: ${describeVerification(channel)}`);
  line(out, `  webhook path  /hooks/${channel.name}`);
  if (secret) {
    line(out, `  new secret    ${secret}`);
    line(out, '  (shown only now; set it as the webhook\'s signing secret in MyOperator)');
  }
  if (channel.verification.mode === 'none' && channel.allowIps.length === 0) {
    line(out, '  warning: this channel accepts events from anyone who knows its URL');
  }
}

/** Operations behind `relay-server channel …`. Each prints human text or, with `json`, JSON. */
export const channelCommands = {
  async add(store: Store, out: NodeJS.WritableStream, err: NodeJS.WritableStream, name: string, settings: ChannelSettings, asJson: boolean, audit: Auditor): Promise<void> {
    const { channel, generatedSecret, warnings } = applyChannelSettings(name, settings);
    await store.createChannel(channel);
    // Names of the settings given, never their values: secrets and keys are among them.
    await audit('channel.add', name, { verify: channel.verification.mode, settings: Object.keys(settings) });
    printSecret(out, generatedSecret, asJson, channel);
    for (const warning of warnings ?? []) line(err, `warning: ${warning}`);
  },

  async update(store: Store, out: NodeJS.WritableStream, err: NodeJS.WritableStream, name: string, settings: ChannelSettings, asJson: boolean, audit: Auditor): Promise<void> {
    const { channel, generatedSecret, warnings } = applyChannelSettings(name, settings, await existing(store, name));
    await store.updateChannel(channel);
    await audit('channel.update', name, { verify: channel.verification.mode, settings: Object.keys(settings) });
    printSecret(out, generatedSecret, asJson, channel);
    for (const warning of warnings ?? []) line(err, `warning: ${warning}`);
  },

  async rotateSecret(store: Store, out: NodeJS.WritableStream, name: string, retireOld: boolean, asJson: boolean, audit: Auditor): Promise<void> {
    const { channel, generatedSecret } = rotateSecret(await existing(store, name), retireOld);
    await store.updateChannel(channel);
    const active = channel.verification.mode === 'hmac' ? channel.verification.secrets.length : 0;
    await audit('channel.rotate-secret', name, { retireOld, activeSecrets: active });
    printSecret(out, generatedSecret, asJson, channel);
    if (!asJson && generatedSecret) {
      line(out, `  the previous secrets stay active until \`relay-server channel rotate-secret ${name} --retire-old\``);
    }
  },

  async list(store: Store, out: NodeJS.WritableStream, asJson: boolean): Promise<void> {
    const channels = await store.listChannels();
    const rows = await Promise.all(channels.map(async (c) => ({ channel: c, stats: await store.channelStats(c.name) })));
    if (asJson) {
      json(out, rows.map(({ channel, stats }) => ({ ...viewChannel(channel), events: stats.events, lastSeq: stats.lastSeq })));
      return;
    }
    if (rows.length === 0) {
      line(out, 'No channels. Add one with `relay-server channel add <name>`.');
      return;
    }
    table(
      out,
      ['NAME', 'VERIFY', 'EVENTS', 'LAST SEQ', 'WEBHOOK PATH'],
      rows.map(({ channel, stats }) => [channel.name, channel.verification.mode, String(stats.events), String(stats.lastSeq), `/hooks/${channel.name}`]),
    );
  },

  async show(store: Store, out: NodeJS.WritableStream, name: string, asJson: boolean): Promise<void> {
    const channel = await existing(store, name);
    const stats = await store.channelStats(name);
    if (asJson) {
      json(out, { ...viewChannel(channel), events: stats.events, lastSeq: stats.lastSeq, lastReceivedAt: stats.lastReceivedAt?.toISOString() ?? null });
      return;
    }
    line(out, `channel ${channel.name}`);
    line(out, `  webhook path        /hooks/${channel.name}`);
    line(out, `  verification        ${describeVerification(channel)}`);
    line(out, `  max body            ${channel.maxBodyBytes} bytes`);
    line(out, `  legacy v1 forms     ${channel.acceptLegacyForm ? 'accepted' : 'refused'}`);
    line(out, `  IP allow-list       ${channel.allowIps.length ? channel.allowIps.join(', ') : 'any address'}`);
    line(out, `  events stored       ${stats.events} (last seq ${stats.lastSeq}${stats.lastReceivedAt ? `, last at ${stats.lastReceivedAt.toISOString()}` : ''})`);
    line(out, `  created             ${channel.createdAt}`);
  },

  async remove(store: Store, out: NodeJS.WritableStream, name: string, asJson: boolean, audit: Auditor): Promise<void> {
    const stats = await store.channelStats(name);
    if (!(await store.removeChannel(name))) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${name}")`);
    await audit('channel.remove', name, { eventsDeleted: stats.events });
    if (asJson) json(out, { removed: name, eventsDeleted: stats.events });
    else line(out, `removed channel ${name} and its ${stats.events} stored events`);
  },
};
