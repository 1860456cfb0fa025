/** Where the build put MediaPipe's wasm and the segmentation model (scripts/mediapipe-plugin.mjs). */
declare const __CONFAB_MEDIAPIPE__: string;
