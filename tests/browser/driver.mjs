// driver.mjs: a Playwright (playwright-core) bridge for rtftd's browser
// tests. tests/integration/realprogs.py starts it and sends it one JSON
// request a line on stdin; it answers each with one JSON line on stdout:
//
//   -> {"id": 7, "cmd": "evaluate", "page": "alice", "fn": "(a) => a + 1", "arg": 1}
//   <- {"id": 7, "ok": true, "result": 2}
//   <- {"id": 8, "ok": false, "error": "..."}
//
// "ms" in a request bounds what the driver waits for (an element, a
// condition, a launch). Requests are handled one at a time, in order.
// Each page lives in a browser context of its own (its own profile:
// storage, cookies, cache), so two pages are two independent people. What a page downloads is saved
// in the page's download folder and listed by "downloads"; its console
// and uncaught errors are kept for "log".
//
// The browser is Debian's chromium (CHROMIUM, default /usr/bin/chromium),
// started headless by "launch" with the arguments the caller gives.

import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join, basename } from 'node:path';
import { pathToFileURL } from 'node:url';

// playwright-core from this folder's node_modules, or from the folder
// PLAYWRIGHT_CORE names (tests run from an unpacked tarball use the
// checkout's, as the tarball has no node_modules).
const { chromium } = process.env.PLAYWRIGHT_CORE
	? await import(pathToFileURL(join(process.env.PLAYWRIGHT_CORE, 'index.mjs')).href)
	: await import('playwright-core');

let browser = null;
const pages = new Map(); // name -> {context, page, downloads, log, dir}

function need(name) {
	const p = pages.get(name);
	if (!p)
		throw new Error('no page named ' + JSON.stringify(name));
	return p;
}

// A function's source text, as the caller wrote it, made callable.
function fnOf(src) {
	// eslint-disable-next-line no-new-func
	return new Function('return (' + src + ');')();
}

function uniqueName(taken, name) {
	let safe = basename(String(name || 'download')).replace(/[^A-Za-z0-9._-]/g, '_') || 'download';
	if (!taken.has(safe))
		return safe;
	for (let i = 1; ; i++) {
		const n = i + '-' + safe;
		if (!taken.has(n))
			return n;
	}
}

function stamp() {
	return new Date().toISOString().slice(11, 23);
}

const handlers = {
	async launch(req) {
		if (browser)
			throw new Error('already launched');
		browser = await chromium.launch({
			executablePath: req.executable || process.env.CHROMIUM || '/usr/bin/chromium',
			headless: true,
			args: req.args || [],
			timeout: req.ms || 30000,
			env: req.env || process.env,
		});
		return { version: browser.version() };
	},

	async newPage(req) {
		if (!browser)
			throw new Error('launch first');
		if (pages.has(req.page))
			throw new Error('page ' + req.page + ' exists');
		const dir = req.downloads;
		if (dir)
			mkdirSync(dir, { recursive: true });
		const context = await browser.newContext({
			acceptDownloads: true,
			bypassCSP: !!req.bypassCSP,
			viewport: req.viewport || { width: 1100, height: 800 },
			deviceScaleFactor: 1,
			colorScheme: req.colorScheme || 'light',
		});
		context.setDefaultTimeout(15000);
		const page = await context.newPage();
		const entry = { context, page, downloads: [], log: [], dir, names: new Set() };
		page.on('console', (m) => entry.log.push(stamp() + ' console.' + m.type() + ': ' + m.text()));
		page.on('pageerror', (e) => entry.log.push(stamp() + ' pageerror: ' + (e.stack || e.message)));
		page.on('crash', () => entry.log.push(stamp() + ' the page crashed'));
		page.on('download', (d) => {
			const rec = { suggested: d.suggestedFilename(), path: null, failure: null, saved: false };
			entry.downloads.push(rec);
			if (!dir) {
				rec.failure = 'the page has no download folder';
				return;
			}
			const name = uniqueName(entry.names, rec.suggested);
			entry.names.add(name);
			const to = join(dir, name);
			d.saveAs(to).then(async () => {
				rec.failure = await d.failure();
				rec.path = to;
				rec.saved = true;
			}, (e) => {
				rec.failure = String(e && e.message || e);
				rec.saved = true;
			});
		});
		pages.set(req.page, entry);
		if (req.url)
			await page.goto(req.url, { waitUntil: req.waitUntil || 'load' });
		return true;
	},

	async goto(req) {
		const { page } = need(req.page);
		const r = await page.goto(req.url, { waitUntil: req.waitUntil || 'load' });
		return r ? r.status() : null;
	},

	async evaluate(req) {
		const { page } = need(req.page);
		return await page.evaluate(fnOf(req.fn), req.arg === undefined ? null : req.arg);
	},

	// Polls fn(arg) in the page until it returns something truthy; that
	// value is the result. On timeout the error carries the last value of
	// the optional "describe" function, so a failure says where it stood.
	async waitFor(req) {
		const { page } = need(req.page);
		const arg = req.arg === undefined ? null : req.arg;
		try {
			const h = await page.waitForFunction(fnOf(req.fn), arg,
				{ timeout: req.ms || 15000, polling: req.polling || 50 });
			return await h.jsonValue();
		} catch (e) {
			let where = '';
			if (req.describe) {
				try {
					where = JSON.stringify(await page.evaluate(fnOf(req.describe), arg));
				} catch (e2) {
					where = '(describe failed: ' + e2.message + ')';
				}
			}
			throw new Error(e.message.split('\n')[0] + (where ? '\nstate: ' + where : ''));
		}
	},

	async click(req) {
		const { page } = need(req.page);
		await page.locator(req.selector).first().click({ timeout: req.ms });
		return true;
	},

	async fill(req) {
		const { page } = need(req.page);
		await page.locator(req.selector).first().fill(req.value, { timeout: req.ms });
		return true;
	},

	async press(req) {
		const { page } = need(req.page);
		await page.locator(req.selector).first().press(req.key, { timeout: req.ms });
		return true;
	},

	// The keyboard of the page as a whole, wherever its focus is (no
	// element is focused or clicked first): "key" presses one key or
	// chord ("Tab", "Shift+Tab", "Enter", " "), "type" types text.
	async key(req) {
		const { page } = need(req.page);
		await page.keyboard.press(req.key);
		return true;
	},

	async type(req) {
		const { page } = need(req.page);
		await page.keyboard.type(req.text);
		return true;
	},

	async setInputFiles(req) {
		const { page } = need(req.page);
		await page.locator(req.selector).first().setInputFiles(req.files, { timeout: req.ms });
		return true;
	},

	async waitForSelector(req) {
		const { page } = need(req.page);
		await page.locator(req.selector).first().waitFor({ state: req.state || 'visible', timeout: req.ms });
		return true;
	},

	async count(req) {
		const { page } = need(req.page);
		return await page.locator(req.selector).count();
	},

	async text(req) {
		const { page } = need(req.page);
		return await page.locator(req.selector).allInnerTexts();
	},

	async addScript(req) {
		const { page } = need(req.page);
		await page.addScriptTag({ path: req.path, content: req.content, type: req.type });
		return true;
	},

	async addInitScript(req) {
		const { page } = need(req.page);
		await page.addInitScript({ content: req.content });
		return true;
	},

	async screenshot(req) {
		const { page } = need(req.page);
		await page.screenshot({ path: req.path, fullPage: req.fullPage !== false, animations: 'disabled' });
		return req.path;
	},

	async downloads(req) {
		return need(req.page).downloads;
	},

	async log(req) {
		return need(req.page).log;
	},

	async closePage(req) {
		const p = need(req.page);
		pages.delete(req.page);
		await p.context.close();
		return true;
	},

	async quit() {
		for (const p of pages.values())
			await p.context.close().catch(() => {});
		pages.clear();
		if (browser)
			await browser.close().catch(() => {});
		browser = null;
		return true;
	},
};

function reply(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
let chain = Promise.resolve();
rl.on('line', (line) => {
	if (!line.trim())
		return;
	chain = chain.then(async () => {
		let req;
		try {
			req = JSON.parse(line);
		} catch (e) {
			reply({ id: null, ok: false, error: 'bad request: ' + e.message });
			return;
		}
		const h = handlers[req.cmd];
		if (!h) {
			reply({ id: req.id, ok: false, error: 'unknown command ' + req.cmd });
			return;
		}
		try {
			const result = await h(req);
			reply({ id: req.id, ok: true, result: result === undefined ? null : result });
		} catch (e) {
			reply({ id: req.id, ok: false, error: String(e && e.message || e) });
		}
		if (req.cmd === 'quit')
			process.exit(0);
	});
});
// stdin closed (the test runner went away): close the browser and leave
rl.on('close', () => {
	chain.then(() => handlers.quit()).finally(() => process.exit(0));
});
