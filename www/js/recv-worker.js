// recv-worker.js: a module worker that checks and stores received bytes
// off the page's main thread. For each receiving transfer (key) it feeds
// the bytes to SHA-256 and gathers them into Blob parts; at the end it
// posts back the digest and the Blob.
//
// In:  {op:'hello'}
//      {op:'open', key}
//      {op:'data', key, buf, off, len}   (buf transferred)
//      {op:'finish', key}
//      {op:'abort', key}
// Out: {op:'hello'}
//      {op:'kept', key, kept}            (every 512 KiB or so)
//      {op:'finished', key, sha256, blob, kept}
//      {op:'failed', key, message}

import { Sha256 } from './sha256.js';
import { BlobSink } from './sinks.js';

const TELL_EVERY = 512 * 1024;
const jobs = new Map();

self.onmessage = (ev) => {
	const m = ev.data;
	if (!m || typeof m !== 'object')
		return;
	switch (m.op) {
	case 'hello':
		self.postMessage({ op: 'hello' });
		break;
	case 'open': {
		const sink = new BlobSink();
		sink.onError = (e) => {
			if (jobs.delete(m.key))
				self.postMessage({ op: 'failed', key: m.key, message: e.message });
		};
		jobs.set(m.key, { hash: new Sha256(), sink, kept: 0, told: 0 });
		break;
	}
	case 'data': {
		const j = jobs.get(m.key);
		if (!j)
			return;
		const bytes = new Uint8Array(m.buf, m.off, m.len);
		j.hash.update(bytes);
		j.sink.write(bytes);
		j.kept += m.len;
		if (j.kept - j.told >= TELL_EVERY) {
			j.told = j.kept;
			self.postMessage({ op: 'kept', key: m.key, kept: j.kept });
		}
		break;
	}
	case 'finish': {
		const j = jobs.get(m.key);
		jobs.delete(m.key);
		if (!j)
			return;
		const sha256 = j.hash.hex();
		j.sink.finish().then((blob) => {
			self.postMessage({ op: 'finished', key: m.key, sha256, blob, kept: j.kept });
		}, (e) => {
			self.postMessage({ op: 'failed', key: m.key, message: String(e && e.message || e) });
		});
		break;
	}
	case 'abort': {
		const j = jobs.get(m.key);
		jobs.delete(m.key);
		if (j)
			j.sink.abort();
		break;
	}
	}
};
