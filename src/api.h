/*
 * api.h: the worker's HTTP routes besides the WebSocket upgrade and the
 * health routes (child.h): the web page and its files (www.c), /ws asked
 * without an upgrade (426), GET /api/ice-servers (limited per client
 * address, in this worker) and GET /api/info. Worker only, on its loop.
 */
#ifndef RT_API_H
#define RT_API_H

#include "rtftd.h"

struct config;
struct http_server;

/* Registers the routes on srv. cfg is borrowed until the next api_apply
 * (the worker keeps its current config alive). */
void api_setup(struct http_server *srv, const struct config *cfg);
/* A reload: the routes read cfg from now on (same borrowing rule). */
void api_apply(const struct config *cfg);

#endif
