/**
 * Everything Meta: webhook signatures, payload normalisation, the Graph API client and its error
 * table, and message splitting. No Fastify, no BullMQ: callers wire these into processes.
 */
export type { Channel } from './channel.js';
export { channelForObject } from './channel.js';
export { appSecretProof, createSignatureVerifier, signPayload } from './signature.js';
export { metaJson } from './meta-json.js';
export {
  InvalidPayloadError,
  normaliseWebhook,
  type EventType,
  type NormalisedEvent,
  type NormaliseResult,
  WHATSAPP_TEXT_ONLY_TYPES,
} from './normalise/index.js';
export {
  classifyGraphError,
  GRAPH_ERROR_TABLE,
  GraphApiError,
  graphErrorCodeIn,
  graphErrorReason,
  sanitiseGraphMessage,
  type GraphApiErrorInit,
  type GraphErrorInput,
  type GraphErrorKind,
} from './graph-errors.js';
export { MAX_REPLY_PARTS, MESSAGE_LIMITS, type SplitOptions, splitMessage } from './split-message.js';
export {
  GraphClient,
  graphClientFor,
  type GraphSettings,
  type GraphClientOptions,
  type SendTextArgs,
  type SendWhatsAppTextArgs,
  type TokenDebugInfo,
} from './graph-client.js';
