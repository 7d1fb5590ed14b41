import type { EventVerificationView } from '@myop-relay/protocol';
import type { Channel } from '../channel.js';

/**
 * How ingest checked the sender of an event it is about to store, as the event keeps it: the
 * channel's method at that moment (settings may change later). A sample on a Basic or API-key
 * channel cannot carry those credentials, which the relay keeps only as hashes; the API's bearer
 * token admitted it. Samples do not pass the IP allow-list, which guards the ingest URL.
 */
export function verificationRecord(channel: Channel, synthetic: boolean): EventVerificationView {
  const v = channel.verification;
  const allowList = !synthetic && channel.allowIps.length > 0;
  switch (v.mode) {
    case 'hmac':
      return { by: 'hmac', header: v.header, allowList };
    case 'basic':
      return synthetic ? { by: 'api-token', allowList } : { by: 'basic', user: v.user, allowList };
    case 'apikey':
      return synthetic ? { by: 'api-token', allowList } : { by: 'apikey', location: v.location, name: v.name, allowList };
    case 'none':
      return { by: 'none', allowList };
  }
}
