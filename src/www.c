/*
 * www.c: see www.h.
 */
#include "autoconf.h"
#include "www.h"
#include "config.h"
#include "origin.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WWW_MAX_DEPTH 8
#define WWW_MAX_FILE (64 * 1024 * 1024)

/* the policy around connect-src, which www_csp() fills in */
static const char CSP_HEAD[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
			       "media-src 'self' blob:; connect-src 'self'";
static const char CSP_TAIL[] = "; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const char *www_csp(const char *external_url, char *buf, size_t cap)
{
	/* the page talks to its own origin only: 'self', and, spelt out for
	 * browsers whose 'self' does not cover ws: and wss:, the WebSocket
	 * origin of external_url (an origin the server always allows) */
	char origin[ORIGIN_MAX];
	char ws[ORIGIN_MAX + 8] = "";
	if (external_url && origin_of_url(external_url, origin, sizeof origin) == RT_OK) {
		bool tls = str_has_prefix(origin, "https://");
		snprintf(ws, sizeof ws, " %s://%s", tls ? "wss" : "ws", strstr(origin, "://") + 3);
	}
	snprintf(buf, cap, "%s%s%s", CSP_HEAD, ws, CSP_TAIL);
	return buf;
}

int www_map_path(const char *root, const char *path, char *out, size_t cap)
{
	if (!root || !*root || !path || path[0] != '/')
		return RT_ERR;
	const char *rel = path[1] ? path + 1 : "index.html";
	int depth = 1;
	bool seg_start = true;
	for (const char *p = rel; *p; p++) {
		char c = *p;
		if (c == '/') {
			if (seg_start) /* empty segment: "//" or a trailing '/' */
				return RT_ERR;
			if (++depth > WWW_MAX_DEPTH)
				return RT_ERR;
			seg_start = true;
			continue;
		}
		if (seg_start && c == '.') /* ".", "..", hidden files */
			return RT_ERR;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return RT_ERR;
		seg_start = false;
	}
	if (seg_start)
		return RT_ERR;
	int n = snprintf(out, cap, "%s/%s", root, rel);
	return n > 0 && (size_t)n < cap ? RT_OK : RT_ERR;
}

const char *www_content_type(const char *file)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".webmanifest", "application/manifest+json" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	const char *dot = strrchr(file, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < RT_ARRAY_LEN(types); i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

static void header(evhtp_request_t *req, const char *k, const char *v)
{
	evhtp_headers_add_header(req->headers_out, evhtp_header_new(k, v, 0, 1));
}

/* A header whose name and value are constants: neither is copied (this
 * runs for every reply, /healthz included). */
static void const_header(evhtp_request_t *req, const char *k, const char *v)
{
	evhtp_headers_add_header(req->headers_out, evhtp_header_new(k, v, 0, 0));
}

void www_security_headers(evhtp_request_t *req, const struct config *cfg, bool https)
{
	const_header(req, "X-Content-Type-Options", "nosniff");
	const_header(req, "Referrer-Policy", "no-referrer");
	/* built again only when external_url changes (this runs for every
	 * reply); a worker is one thread */
	static char csp[1024], csp_url[512];
	static bool csp_made;
	const char *url = cfg ? cfg->external_url : "";
	if (!csp_made || strcmp(url, csp_url) != 0) {
		www_csp(url, csp, sizeof csp);
		snprintf(csp_url, sizeof csp_url, "%s", url);
		csp_made = strlen(url) < sizeof csp_url;
	}
	const_header(req, "Content-Security-Policy", csp);
	const_header(req, "X-Frame-Options", "DENY");
	if (cfg && cfg->hsts_max_age > 0 && (https || str_has_prefix(cfg->external_url, "https://"))) {
		char v[96];
		snprintf(v, sizeof v, "max-age=%d%s%s", cfg->hsts_max_age,
			 cfg->hsts_include_subdomains ? "; includeSubDomains" : "",
			 cfg->hsts_preload ? "; preload" : "");
		header(req, "Strict-Transport-Security", v);
	}
}

static int not_installed(evhtp_request_t *req, struct evbuffer *body)
{
	header(req, "Content-Type", "text/html; charset=utf-8");
	evbuffer_add_printf(
		body,
		"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rtftd</title></head>\n"
		"<body><h1>rtftd %s</h1><p>The RTFT server is running. The web client is not installed "
		"(see www_root in rtftd.conf(5)).</p></body></html>\n",
		PACKAGE_VERSION);
	return 200;
}

int www_serve(evhtp_request_t *req, struct evbuffer *body, const struct config *cfg, const char *path)
{
	char file[4096];
	bool root_page = strcmp(path, "/") == 0;
	if (!cfg->www_root[0])
		return root_page ? not_installed(req, body) : 404;
	if (www_map_path(cfg->www_root, path, file, sizeof file) != RT_OK)
		return 404;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return root_page && errno == ENOENT                             ? not_installed(req, body)
		       : errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 404
										: 500;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WWW_MAX_FILE) {
		close(fd);
		return 404;
	}
	char etag[64];
	snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)st.st_mtim.tv_nsec);
	header(req, "ETag", etag);
	header(req, "Cache-Control", "no-cache");
	header(req, "Content-Type", www_content_type(file));
	const char *inm = evhtp_header_find(req->headers_in, "If-None-Match");
	if (inm && strstr(inm, etag)) {
		/* the length of the body a 200 would carry (libevhtp would
		 * otherwise say 0, which RFC 9110 does not allow here) */
		char len[24];
		snprintf(len, sizeof len, "%lld", (long long)st.st_size);
		header(req, "Content-Length", len);
		close(fd);
		return 304;
	}
	if (st.st_size == 0) {
		close(fd);
		return 200;
	}
	/* the evbuffer owns fd from here, and closes it */
	if (evbuffer_add_file(body, fd, 0, st.st_size) != 0) {
		close(fd);
		return 500;
	}
	return 200;
}
