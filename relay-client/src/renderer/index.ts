export type {
  Renderer,
  StartingInfo,
  ConnectingInfo,
  ConnectedInfo,
  SubscribedInfo,
  ReconnectingInfo,
  DeliveryInfo,
  EventReceivedInfo,
  AnswerSent,
  ForwardedInfo,
  BacklogInfo,
  ErrorInfo,
  StoppingInfo,
  ListenSummary,
} from './renderer.js';
export { TextRenderer, createPlainRenderer, createPrettyRenderer, shouldColor, type TextRendererOptions, type OutputStream } from './text.js';
export { JsonRenderer, type JsonRendererOptions } from './json.js';
export { quietRenderer } from './quiet.js';
export { silentRenderer } from './silent.js';
export { RecordingRenderer, type RecordedEvent, type RendererEventMap } from './recording.js';
