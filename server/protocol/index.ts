/** server/protocol: the OpenAI Realtime GA event types, ids and validation (contracts §2). */
export type * from './types.ts';
export { CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES } from './types.ts';
export { AudioChunk, bytesPerMs, formatRateHz } from './audio.ts';
export { serializeServerEvent, serializeClientEvent, encodeServerEvent, encodeClientEvent, fastParseAudioDeltaBytes, fastParseAppendBytes } from './wire.ts';
export {
  newEventId,
  newSessionId,
  newConversationId,
  newItemId,
  newResponseId,
  newCallId,
  newEphemeralKey,
  newServerKey,
  randomId,
} from './ids.ts';
export {
  MAX_MESSAGE_BYTES,
  isBase64,
  isBase64Range,
  base64ByteLength,
  fastParseAppend,
  fastParseAudioDelta,
  validateClientEvent,
  parseClientEvent,
  parseServerEvent,
  errorEvent,
  protocolErrorEvent,
} from './validate.ts';
