/** The messaging products Switchboard receives webhooks from. */
export type Channel = 'messenger' | 'instagram' | 'whatsapp';

/**
 * The webhook envelope's `object` field names the product
 * (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/).
 */
const CHANNEL_BY_OBJECT: Readonly<Record<string, Channel>> = Object.freeze({
  page: 'messenger',
  instagram: 'instagram',
  whatsapp_business_account: 'whatsapp',
});

export function channelForObject(object: string): Channel | null {
  return Object.hasOwn(CHANNEL_BY_OBJECT, object) ? (CHANNEL_BY_OBJECT[object] ?? null) : null;
}
