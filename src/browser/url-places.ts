import type { ParentPlaces } from '../archive/locate-parent.js';
import { UsageError } from '../errors.js';

/**
 * The absolute URL of `location` as a page means it: relative to the page's address (or, outside
 * a page, as given).
 * @throws UsageError when it is not an http(s) URL.
 */
export function absoluteUrl(location: string): string {
  let url: URL;
  try {
    url = new URL(location, globalThis.location?.href);
  } catch {
    throw new UsageError(`not a URL: ${location}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`a page reads http(s) URLs only, not ${url.protocol}//`);
  return url.toString();
}

/** The directory URL `location` is in, without a trailing slash: a thin archive's parent paths are relative to it. */
export function urlParentOf(location: string): string {
  const url = new URL(absoluteUrl(location));
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1);
  return url.toString().replace(/\/$/, '');
}

/** `relative` (a recorded `/`-separated path, or a URL) resolved against the directory URL `base`. */
function resolveIn(base: string, relative: string): string {
  if (/^https?:\/\//i.test(relative)) return relative;
  return new URL(relative.split('/').map(encodeURIComponent).join('/'), `${base.replace(/\/$/, '')}/`).toString();
}

/**
 * Parent places as a page sees them (docs/FORMAT.md §15.4): URLs only. A web server lists no
 * directories, so parents are found at their recorded path and by base name beside the child
 * and in each search URL, never by scanning for their id.
 */
export const URL_PLACES: ParentPlaces = {
  resolveIn,
  // A base name is one segment: a `/` or `..` in it (a decoded `%2F`) never climbs directories.
  joinLocation: (dir, name) => new URL(encodeURIComponent(name), `${dir.replace(/\/$/, '')}/`).toString(),
  baseName(location) {
    // A URL's last path segment (decoded), or a recorded relative path's last component.
    if (!/^https?:\/\//i.test(location)) return location.slice(location.lastIndexOf('/') + 1);
    const path = new URL(location).pathname;
    const segment = path.slice(path.lastIndexOf('/') + 1);
    try {
      return decodeURIComponent(segment);
    } catch {
      // Not UTF-8 percent-encoding (a Latin-1 file name): the segment as it is names the file.
      return segment;
    }
  },
};
