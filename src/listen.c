/*
 * listen.c: TCP listening sockets for the master. Leaf: never logs or exits;
 * errors name the call and the address.
 */
#include "autoconf.h"
#include "listen.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int resolve(const char *host, int port, struct addrinfo **res, struct rt_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	char portstr[16];
	snprintf(portstr, sizeof portstr, "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, res);
	if (rc != 0) {
		rt_err_set(err, "getaddrinfo(%s) failed: %s", host, gai_strerror(rc));
		return RT_ERR;
	}
	return RT_OK;
}

static int bind_one(const char *host, int port, bool reuseport, int backlog, bool do_listen, struct rt_err *err)
{
	struct addrinfo *res = NULL;
	if (resolve(host, port, &res, err) != RT_OK)
		return RT_ERR;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rt_err_set(err, "socket() for %s:%d failed: %s", host, port, strerror(errno));
		freeaddrinfo(res);
		return RT_ERR;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
		rt_err_set(err, "setsockopt(SO_REUSEPORT) failed: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		rt_err_set(err, "bind(%s:%d) failed: %s", host, port, strerror(errno));
		goto fail;
	}
	if (do_listen) {
		if (listen(fd, backlog) < 0) {
			rt_err_set(err, "listen(%s:%d) failed: %s", host, port, strerror(errno));
			goto fail;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	freeaddrinfo(res);
	return fd;
fail:
	close(fd);
	freeaddrinfo(res);
	return RT_ERR;
}

int listen_probe(const char *host, int port, struct rt_err *err)
{
	int fd = bind_one(host, port, false, 0, false, err);
	if (fd < 0)
		return RT_ERR;
	close(fd);
	return RT_OK;
}

int listen_tcp(const char *host, int port, bool reuseport, int backlog, struct rt_err *err)
{
	return bind_one(host, port, reuseport, backlog, true, err);
}

int listen_split_addr(const char *addr, char **host, int *port, struct rt_err *err)
{
	const char *colon;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			goto bad;
		*host = xstrndup(addr + 1, (size_t)(close - addr - 1));
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			goto bad;
		*host = xstrndup(addr, (size_t)(colon - addr));
	}
	long long p;
	if (str_to_ll(colon + 1, &p) != RT_OK || p < 0 || p > 65535) {
		free(*host);
		*host = NULL;
		goto bad;
	}
	*port = (int)p;
	return RT_OK;
bad:
	rt_err_set(err, "\"%s\": expected host:port", addr);
	return RT_ERR;
}

int listen_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}
