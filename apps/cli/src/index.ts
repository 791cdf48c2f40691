export { type EncoderFlags, encoderOptions } from './encoder-options.ts';
