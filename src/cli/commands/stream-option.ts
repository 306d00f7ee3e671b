import { InvalidArgumentError } from 'commander';
import { STREAM_NAMES, type StreamName } from '../../format/constants.js';

/** Commander parser for `--stream`. */
export function parseStream(value: string): StreamName {
  if (!(STREAM_NAMES as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be ${STREAM_NAMES.join(' or ')}`);
  return value as StreamName;
}
