// receiver.js: what a receiving transfer does with its bytes, in order:
// feed them to SHA-256 and store them. Two ways, same interface:
//
//   WorkerCore: in recv-worker.js, off the main thread (the bytes'
//     ArrayBuffers are transferred there, not copied), Blob parts.
//   MainCore: on the main thread, into a BlobSink or a FileSink (the
//     File System Access API's writable, which stays on this thread).
//
// Interface: write(bytes) (a Uint8Array whose buffer the core may take:
// the caller must not use it afterwards), kept (bytes stored so far),
// onKept (called when kept grows later than write), finish() -> Promise
// of {sha256, blob} (blob null for a file on disk), abort().

import { Sha256 } from './sha256.js';
import { BlobSink } from './sinks.js';

export class MainCore {
	constructor(sink) {
		this.sink = sink || new BlobSink();
		this.kind = this.sink.kind;
		this._hash = new Sha256();
		this.onKept = null;
		this.onError = null;
		this.sink.onKept = () => {
			if (this.onKept)
				this.onKept();
		};
		this.sink.onError = (e) => {
			if (this.onError)
				this.onError(e);
		};
	}

	get kept() {
		return this.sink.kept;
	}

	write(bytes) {
		if (this.sink.error)
			return;
		this._hash.update(bytes);
		this.sink.write(bytes);
	}

	async finish() {
		const sha256 = this._hash.hex();
		const blob = await this.sink.finish();
		return { sha256, blob };
	}

	abort() {
		this.sink.abort();
	}
}

// One worker for all receiving transfers, started with the page; used
// once it has answered (a worker that cannot start leaves the main thread
// doing the work).
export class WorkerPool {
	constructor(url) {
		this.ready = false;
		this._cores = new Map();
		this._n = 0;
		try {
			this._w = new Worker(url, { type: 'module' });
		} catch {
			this._w = null;
			return;
		}
		this._w.onmessage = (ev) => this._onMessage(ev.data);
		this._w.onerror = () => {
			this.ready = false;
			for (const c of this._cores.values())
				c._fail(new Error('the receiving worker stopped'));
			this._cores.clear();
		};
		this._w.postMessage({ op: 'hello' });
	}

	_onMessage(m) {
		if (!m)
			return;
		if (m.op === 'hello') {
			this.ready = true;
			return;
		}
		const c = this._cores.get(m.key);
		if (!c)
			return;
		if (m.op === 'kept') {
			c._kept(m.kept);
		} else if (m.op === 'finished') {
			this._cores.delete(m.key);
			c._kept(m.kept);
			c._done({ sha256: m.sha256, blob: m.blob });
		} else if (m.op === 'failed') {
			this._cores.delete(m.key);
			c._fail(new Error(m.message));
		}
	}

	// A core for one transfer, or a MainCore when the worker is not there.
	core() {
		if (!this.ready || !this._w)
			return new MainCore();
		const key = 'k' + (++this._n);
		const c = new WorkerCore(this, key);
		this._cores.set(key, c);
		this._w.postMessage({ op: 'open', key });
		return c;
	}

	_post(msg, transfer) {
		this._w.postMessage(msg, transfer || []);
	}

	_forget(key) {
		this._cores.delete(key);
	}
}

class WorkerCore {
	constructor(pool, key) {
		this.pool = pool;
		this.key = key;
		this.kind = 'blob';
		this.kept = 0;
		this.onKept = null;
		this.onError = null;
		this._resolve = null;
		this._reject = null;
		this._error = null;
		this._result = null;
	}

	write(bytes) {
		let buf = bytes.buffer;
		let off = bytes.byteOffset;
		// A view of a buffer bigger than what is kept: copy the piece, so
		// the message stays small (a relay chunk's header is tiny, a
		// partial repeat is not).
		if (bytes.length < buf.byteLength / 2) {
			buf = bytes.slice().buffer;
			off = 0;
		}
		this.pool._post({ op: 'data', key: this.key, buf, off, len: bytes.length }, [buf]);
	}

	finish() {
		return new Promise((resolve, reject) => {
			if (this._error) {
				reject(this._error);
				return;
			}
			this._resolve = resolve;
			this._reject = reject;
			this.pool._post({ op: 'finish', key: this.key });
		});
	}

	abort() {
		this.pool._forget(this.key);
		this.pool._post({ op: 'abort', key: this.key });
	}

	_kept(n) {
		if (n > this.kept) {
			this.kept = n;
			if (this.onKept)
				this.onKept();
		}
	}

	_done(r) {
		if (this._resolve)
			this._resolve(r);
	}

	_fail(e) {
		this._error = e;
		if (this._reject)
			this._reject(e);
		else if (this.onError)
			this.onError(e);
	}
}
