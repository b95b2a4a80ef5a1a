// Types for the Emscripten module factory of @echogarden/speex-resampler-wasm (bench-only dev dependency).
declare module '@echogarden/speex-resampler-wasm' {
  const init: () => Promise<unknown>;
  export default init;
}
declare module '@echogarden/speex-resampler-wasm/simd' {
  const init: () => Promise<unknown>;
  export default init;
}
