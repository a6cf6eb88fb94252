/*
 * chan.c: fixed-framing control messages between the master and children.
 * Must not: block (all sockets are non-blocking), or carry client traffic.
 */
#include "autoconf.h"
#include "chan.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

int chan_pair(int fds[2], struct rt_err *err)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
		rt_err_set(err, "socketpair(AF_UNIX, SOCK_SEQPACKET) failed: %s", strerror(errno));
		return RT_ERR;
	}
	int sz = 256 * 1024;
	(void)setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	return RT_OK;
}

int chan_send(int fd, enum chan_type type, const void *payload, size_t len)
{
	if (len > CHAN_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return RT_ERR;
	}
	struct chan_hdr h = { .type = (uint16_t)type, .len = (uint32_t)len };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)payload, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	for (;;) {
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (n >= 0)
			return RT_OK;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return RT_AGAIN;
		return RT_ERR;
	}
}

int chan_recv(int fd, uint16_t *type, void *buf, size_t cap)
{
	struct chan_hdr h;
	struct iovec iov[2] = { { &h, sizeof h }, { buf, cap } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	for (;;) {
		ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
		if (n > 0) {
			if ((m.msg_flags & MSG_TRUNC) || (size_t)n < sizeof h || h.len != (size_t)n - sizeof h) {
				errno = EBADMSG;
				return RT_ERR;
			}
			*type = h.type;
			return (int)h.len;
		}
		if (n == 0) {
			errno = 0;
			return RT_ERR;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return RT_AGAIN;
		return RT_ERR;
	}
}
