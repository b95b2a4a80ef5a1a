/**
 * Same-origin URLs the page uses, relative to the page so the demo also works behind a path prefix.
 * The server side (server/routes/demo.ts) serves exactly these.
 */
export const APP_SCRIPT_URL = 'demo/assets/app.js';
export const MIC_WORKLET_URL = 'demo/assets/mic-worklet.js';
export const PLAYBACK_WORKLET_URL = 'demo/assets/playback-worklet.js';
/** GET: { passwordRequired, model }. */
export const DEMO_CONFIG_URL = 'demo/config';
/** POST { password? } → { value: 'ek_…', expires_at, model }: an ephemeral key for one conversation. */
export const DEMO_KEY_URL = 'demo/session';

/** ws(s)://<host><prefix>/v1/realtime?model=… for the page at `pageHref`. */
export function realtimeUrl(pageHref: string, model: string): string {
  const url = new URL('v1/realtime', pageHref);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = `?model=${encodeURIComponent(model)}`;
  url.hash = '';
  return url.toString();
}
