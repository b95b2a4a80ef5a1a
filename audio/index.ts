/**
 * The audio core: pure, synchronous DSP on mono pcm16 frames (docs/contracts.md §1).
 * No sockets; the only timer is the FramePacer's.
 */
export { ParleyError, AudioError, AUDIO_ERROR_CODES } from './errors.ts';
export type { ParleyErrorOptions, AudioErrorCode } from './errors.ts';
export {
  int16ToFloat32,
  float32ToInt16,
  clipInt16,
  bytesToInt16,
  int16ToBytes,
  pcm16ToBase64,
  base64ToPcm16,
  base64ToPcm16Into,
  isValidBase64,
  rmsDbfs,
  peakDbfs,
} from './pcm16.ts';
export { Resampler, RESAMPLER_ATTENUATION_DB, RESAMPLER_PASSBAND_FRACTION } from './resampler.ts';
export type { ResamplerOptions } from './resampler.ts';
export { mulawDecode, mulawEncode, alawDecode, alawEncode, MULAW_SILENCE, ALAW_SILENCE } from './g711.ts';
export { PcmFramer, ByteFramer, PcmRingBuffer } from './framer.ts';
export { readWav, writeWav, readWavFile, writeWavFile, resampleWhole } from './wav.ts';
export type { WavAudio } from './wav.ts';
export { createVad, EnergyVad, defaultSileroModelPath, VAD_FRAME_MS } from './vad.ts';
export type { VoiceActivityDetector, VadKind, VadSampleRateHz, CreateVadOptions, VadLogger, EnergyVadOptions } from './vad.ts';
export { TurnDetector } from './turn-detector.ts';
export { EchoDetector, EchoGatedVad, ECHO_RATE_HZ } from './echo.ts';
export type { EchoDetectorOptions, EchoGateOptions } from './echo.ts';
export type { TurnEvent, TurnDetectorOptions } from './turn-detector.ts';
export { OpusCodec } from './opus.ts';
export type { OpusCodecOptions, OpusSampleRateHz } from './opus.ts';
export { JitterBuffer } from './jitter-buffer.ts';
export type { JitterBufferOptions, JitterPop, JitterStats } from './jitter-buffer.ts';
export { FramePacer } from './pacer.ts';
export type { FramePacerOptions, FramePacerStats, PacerTimer } from './pacer.ts';
export { AnsweringMachineDetector, AMD_DECIDED, AMD_BEEP, AMD_READY, AMD_BLOCK_MS } from './amd.ts';
export type { AmdOptions, AmdResult, AmdVerdict, AmdReason, AmdSampleRateHz } from './amd.ts';
