export { FakeOpenAI, FAKE_API_KEY, defaultBrain, pcmChunkB64, type FakeBrain, type FakeReply, type FakeItem, type FakeOpenAIOptions } from './fake-openai.ts';
