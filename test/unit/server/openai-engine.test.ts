import { describe, expect, it } from 'vitest';
import { isAzureHost, realtimeUrl } from '../../../server/engines/openai/index.ts';

describe('openai engine URL', () => {
  it('builds the GA realtime URL from a base URL, like openai-node', () => {
    expect(realtimeUrl('https://api.openai.com/v1', 'gpt-realtime')).toBe('wss://api.openai.com/v1/realtime?model=gpt-realtime');
    expect(realtimeUrl('https://api.openai.com/v1/', 'gpt-realtime')).toBe('wss://api.openai.com/v1/realtime?model=gpt-realtime');
    expect(realtimeUrl('http://127.0.0.1:9000/v1', 'm')).toBe('ws://127.0.0.1:9000/v1/realtime?model=m');
    expect(realtimeUrl('wss://proxy.example/openai/v1', 'gpt-realtime-mini')).toBe('wss://proxy.example/openai/v1/realtime?model=gpt-realtime-mini');
    expect(realtimeUrl('https://x.openai.azure.com/openai/v1', 'my-deployment')).toBe('wss://x.openai.azure.com/openai/v1/realtime?model=my-deployment');
  });

  it('recognises Azure hosts (api-key header)', () => {
    expect(isAzureHost('wss://x.openai.azure.com/openai/v1/realtime')).toBe(true);
    expect(isAzureHost('wss://api.openai.com/v1/realtime')).toBe(false);
    expect(isAzureHost('wss://azure.com.evil.example/v1/realtime')).toBe(false);
  });
});
