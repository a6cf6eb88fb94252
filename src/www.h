/*
 * www.h: the web page's files (www_root) over HTTP: a safe mapping from
 * request path to file, content types, validators (ETag, 304), and the
 * security headers every worker response carries (CSP without inline
 * script, nosniff, Referrer-Policy, HSTS over https or with an https
 * external_url).
 * Worker only.
 */
#ifndef RT_WWW_H
#define RT_WWW_H

#include "rtftd.h"

#include <evhtp.h>

struct config;

/* The file under root for a request path, into out: "/" is index.html;
 * only [A-Za-z0-9._-] segments, none starting with '.', at most 8 deep.
 * RT_OK, or RT_ERR for a path that can name no file (404). Pure. */
int www_map_path(const char *root, const char *path, char *out, size_t cap) RT_MUSTCHECK;

/* Content-Type for a file name by its extension. Pure. */
const char *www_content_type(const char *file);

/* Serves path from cfg->www_root into body with its headers; returns the
 * HTTP status (200, 304, 404, 500). A missing or empty www_root gives
 * 404 except for "/", which gets a short page saying the web client is
 * not installed. */
int www_serve(evhtp_request_t *req, struct evbuffer *body, const struct config *cfg, const char *path);

/* Adds the security headers to a response. https: the client came over
 * https (through a trusted proxy): HSTS is sent then, and whenever
 * external_url is https. */
void www_security_headers(evhtp_request_t *req, const struct config *cfg, bool https);
/* The Content-Security-Policy of the page for an external_url (may be
 * empty) into buf; returns buf. Pure. */
const char *www_csp(const char *external_url, char *buf, size_t cap);

#endif
