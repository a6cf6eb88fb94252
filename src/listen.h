/*
 * listen.h: binding the TCP listeners in the master (leaf: no logging).
 * Workers get one SO_REUSEPORT socket each: the kernel spreads connections
 * over them without a thundering herd, and since the master keeps every
 * socket open, a replacement worker takes over the backlog of one that died.
 */
#ifndef RT_LISTEN_H
#define RT_LISTEN_H

#include "rtftd.h"

/* Fails with a clear message when host:port is already taken by anything
 * (our SO_REUSEPORT group would otherwise join another server's silently). */
int listen_probe(const char *host, int port, struct rt_err *err) RT_MUSTCHECK;

/* Binds and listens; non-blocking, close-on-exec. Returns the fd or RT_ERR. */
int listen_tcp(const char *host, int port, bool reuseport, int backlog, struct rt_err *err) RT_MUSTCHECK;

/* Split "host:port" / "[v6]:port". Caller frees *host. */
int listen_split_addr(const char *addr, char **host, int *port, struct rt_err *err) RT_MUSTCHECK;

/* The port a bound socket got (useful with port 0 in tests). */
int listen_local_port(int fd);

#endif
