/** server/protocol: the OpenAI Realtime GA event types, ids and validation (contracts §2). */
export type {
  ClientEvent,
  ServerEvent,
  AudioFormat,
  TurnDetection,
  TranscriptionConfig,
  FunctionTool,
  RealtimeTool,
  AudioInputConfig,
  AudioOutputConfig,
  RealtimeSession,
  SessionPatch,
  ContentPart,
  ConversationItem,
  ErrorBody,
  ParleyEngineEvent,
  ClientEventType,
} from './types.ts';
export { CLIENT_EVENT_TYPES, bytesPerMs } from './types.ts';
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
