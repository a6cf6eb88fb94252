// sinks.js: where received bytes go.
//
// BlobSink keeps them as Blob parts: pieces are gathered until 16 MiB and
// then folded into one Blob, so a 2 GB file is ~128 Blobs (which the
// browser may keep on disk) rather than one growing buffer. Works
// everywhere.
//
// FileSink streams them to a file the person picked with
// showSaveFilePicker (the File System Access API), where it exists.
//
// Both count `kept`: the bytes that are safely stored (the receiver's
// acks report it), and call onKept() when it grows asynchronously.
//
// A browser keeps Blobs in memory up to a quota (Chrome: about a fiftieth
// of the RAM) and moves older ones to disk beyond it, except in private
// windows, which have no disk for them: there a Blob past the quota is
// broken (reading it fails). BlobSink reads one byte of every part it
// makes, so such a failure is seen while the transfer runs, not when the
// person clicks the link.

export const OUT_OF_ROOM = 'the browser has no room left to keep this file ' +
	'(private windows keep files in memory): use Save to disk or a normal window';

import { MiB } from './util.js';

const COALESCE_BYTES = 16 * MiB;

export class BlobSink {
	constructor() {
		this.kind = 'blob';
		this.kept = 0;
		this.onKept = null;
		this.onError = null;
		this.error = null;
		this._parts = [];
		this._pending = [];
		this._pendingBytes = 0;
	}

	write(bytes) {
		this._pending.push(bytes);
		this._pendingBytes += bytes.length;
		this.kept += bytes.length;
		if (this._pendingBytes >= COALESCE_BYTES)
			this._fold();
	}

	_fold() {
		if (this._pending.length === 0)
			return;
		const part = new Blob(this._pending);
		this._parts.push(part);
		this._pending = [];
		this._pendingBytes = 0;
		this._probe(part);
	}

	_probe(blob) {
		if (blob.size === 0)
			return Promise.resolve();
		return blob.slice(blob.size - 1).arrayBuffer().then(() => {}, () => {
			if (this.error)
				return;
			this.error = new Error(OUT_OF_ROOM);
			this.abort();
			if (this.onError)
				this.onError(this.error);
		});
	}

	// The whole file as one Blob. The type is always a neutral one: the
	// sender's MIME type is not trusted with a same-origin blob: URL.
	async finish() {
		this._fold();
		const blob = new Blob(this._parts, { type: 'application/octet-stream' });
		this._parts = [];
		if (blob.size > 0) {
			try {
				await blob.slice(0, 1).arrayBuffer();
				await blob.slice(blob.size - 1).arrayBuffer();
			} catch {
				this.error = this.error || new Error(OUT_OF_ROOM);
			}
		}
		if (this.error)
			throw this.error;
		return blob;
	}

	abort() {
		this._parts = [];
		this._pending = [];
		this._pendingBytes = 0;
	}
}

export class FileSink {
	static supported() {
		return typeof globalThis.showSaveFilePicker === 'function';
	}

	// Asks the person where to save; must be called from a click handler.
	// Throws (AbortError) when the person closes the picker.
	static async create(suggestedName) {
		const handle = await globalThis.showSaveFilePicker({ suggestedName });
		const writable = await handle.createWritable();
		return new FileSink(handle, writable);
	}

	constructor(handle, writable) {
		this.kind = 'file';
		this.fileName = handle.name;
		this.kept = 0;
		this.onKept = null;
		this.onError = null;
		this.error = null;
		this._w = writable;
		this._chain = Promise.resolve();
		this._queued = 0;
	}

	// Bytes handed over but not yet written.
	get backlog() {
		return this._queued - this.kept;
	}

	write(bytes) {
		this._queued += bytes.length;
		this._chain = this._chain.then(async () => {
			if (this.error)
				return;
			try {
				await this._w.write(bytes);
				this.kept += bytes.length;
				if (this.onKept)
					this.onKept();
			} catch (e) {
				this.error = new Error('cannot write the file: ' + (e && e.message || e));
				if (this.onError)
					this.onError(this.error);
			}
		});
	}

	async finish() {
		await this._chain;
		if (this.error)
			throw this.error;
		await this._w.close();
		return null;
	}

	abort() {
		this.error = this.error || new Error('aborted');
		this._chain.then(() => this._w.abort()).catch(() => {});
	}
}
