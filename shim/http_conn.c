/*
 * http_conn.c: the connections of a listener; see http_conn.h.
 *
 * A connection is watched edge-triggered, once, for input and output, so
 * that a request costs no epoll_ctl: readable and writable remember what
 * the last edge said until a call finds the socket drained or full.
 *
 * Its read buffer holds the current request's head (the handler's strings
 * point into it until done) followed by what came after it: body bytes,
 * handed on and dropped as they come, and pipelined requests, which wait
 * there (and in the socket, whose window then pushes back) until the
 * current answer is out.  Nothing is read while a request is being served.
 *
 * An answer given before its body is read is sent at once; the rest of the
 * body is then read and dropped (up to DISCARD_LIMIT), or, for a 413 or a
 * client waiting for 100-continue, the connection closes after the answer.
 * A connection that closes after its answer shuts down its sending side and
 * drops what the client still sends for a moment (nginx's lingering
 * close), so that the client reads the answer instead of a reset.
 */
/* accept4 and SO_REUSEPORT are Linux's. */
#define _GNU_SOURCE

#include "http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "access_log.h"
#include "loop.h"

#define FIRST_BUFFER (24 * 1024)
#define BODY_ROOM (8 * 1024)	/* read room behind a head for its body */
#define MAX_BUFFER (HTTP_MAX_HEAD + BODY_ROOM)
#define DISCARD_LIMIT (64 * 1024 * 1024)
#define ACCEPTS_PER_TURN 64
#define FILE_CHUNK (64 * 1024)
#define TLS_RECORD (16 * 1024)
#define OUT_HEAD 2048			/* the answer's head, and its body when that fits too */
#define LISTEN_BACKLOG 1024

struct http_server
{
	struct watcher watcher;
	int			listener;
	const struct tls_config *tls;
	const struct http_handler *handler;
	struct connection_registry *registry;
	struct http_conn *closed;	/* freed at the next tick (see conn_free) */
};

struct http_conn
{
	struct watcher watcher;
	struct tracked tracked;
	struct http_server *server;
	int			fd;
	struct tls_session *tls;
	struct http_conn *next_closed;
	bool		handshaking;
	bool		readable;		/* the last edge said so, and no read has drained it since */
	bool		writable;
	bool		peer_done;		/* the client closed its sending side */
	bool		hangup_seen;	/* an edge said so: read until the end is found */
	bool		driving;		/* conn_drive is on the stack: answers wait for it */
	bool		doomed;			/* to be closed once conn_drive returns */
	bool		dead;			/* closed while its request waits for an answer */
	bool		lingering;		/* the last answer is out: dropping input until close */
	char		client[INET6_ADDRSTRLEN];	/* "" = unknown */

	/* input: the current head, then what followed it */
	char	   *in;
	size_t		in_len;
	size_t		in_cap;
	size_t		scanned;		/* http_head_end's progress */
	size_t		head_len;		/* 0 while no request is current */

	/* the current request */
	struct http_head head;
	void	   *request;		/* the handler's; NULL when none or done */
	bool		body_pending;	/* body bytes are still to come */
	bool		to_handler;		/* they go to the handler (it has not answered yet) */
	bool		owed;			/* the body is in and the answer is awaited */
	bool		answered;
	bool		keep_alive;
	bool		head_only;		/* a HEAD request: the answer has no body */
	char		request_id[REQUEST_ID_MAX + 1];	/* "" until asked for or the head is parsed */
	uint64_t	body_left;		/* with Content-Length */
	struct http_chunks chunks;	/* with chunked */
	size_t		discarded;

	/* output */
	struct response *out;
	bool		close_after;
	char		out_head[OUT_HEAD];
	size_t		out_head_len;
	size_t		out_head_sent;
	bool		body_in_head;	/* a small body copied behind the head: one write */
	size_t		body_sent;
	char	   *file_chunk;		/* of a body read from a file */
	size_t		chunk_len;
	size_t		chunk_sent;
};

static void conn_drive(struct http_conn *c);

#define CONN_OF(member_ptr, member) \
	((struct http_conn *) ((char *) (member_ptr) - offsetof(struct http_conn, member)))

/* ---- the socket, plain or TLS ---- */

/* Bytes read, 0 at the client's end, -1 when none are there, -2 on an error. */
static ssize_t
transport_recv(struct http_conn *c, char *buf, size_t len)
{
	ssize_t		n;

	if (c->tls)
	{
		n = tls_recv(c->tls, buf, len);
		if (n == TLS_WANT_READ)
			c->readable = false;
		else if (n == TLS_WANT_WRITE)
			c->writable = false;
		return n >= 0 ? n : n == TLS_FAILED ? -2 : -1;
	}
	do
		n = recv(c->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	/*
	 * Short of the room asked for: drained, and the next arrival brings a new
	 * edge; but an end already announced brings none, so it is read for.
	 */
	if ((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
		(n > 0 && (size_t) n < len && !c->hangup_seen))
		c->readable = false;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	return n;
}

/* Bytes written from the first iovecs, -1 when the socket is full, -2 on an error. */
static ssize_t
transport_send(struct http_conn *c, const struct iovec *iov, int iovcnt)
{
	ssize_t		n;
	size_t		total = 0;

	if (c->tls)
	{
		/* Records of a fixed size: a retry offers exactly the bytes of the last try. */
		n = tls_send(c->tls, iov[0].iov_base,
					 iov[0].iov_len < TLS_RECORD ? iov[0].iov_len : TLS_RECORD);
		if (n == TLS_WANT_WRITE)
			c->writable = false;
		else if (n == TLS_WANT_READ)
			c->readable = false;
		return n >= 0 ? n : n == TLS_FAILED ? -2 : -1;
	}
	do
		n = writev(c->fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if ((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) || (n >= 0 && (size_t) n < total))
		c->writable = false;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	return n;
}

/* ---- closing ---- */

static void
release_socket(struct http_conn *c)
{
	if (c->fd < 0)
		return;
	registry_remove(c->server->registry, &c->tracked);
	tls_session_free(c->tls);
	c->tls = NULL;
	close(c->fd);				/* which also takes it out of the epoll set */
	c->fd = -1;
}

/*
 * A connection is freed at the next tick, after the loop has run every
 * watcher of its batch: an event of this connection may still be in it
 * (it was closed for another one's sake: shed for a new one, or answered
 * from a database reply).  Until then it ignores its events (fd < 0).
 */
static void
conn_free(struct http_conn *c)
{
	response_free(c->out);
	c->out = NULL;
	free(c->file_chunk);
	free(c->in);
	c->next_closed = c->server->closed;
	c->server->closed = c;
}

static void
free_closed(struct http_server *server)
{
	while (server->closed)
	{
		struct http_conn *c = server->closed;

		server->closed = c->next_closed;
		free(c);
	}
}

/*
 * Closes the connection.  A request still waiting for its answer keeps the
 * connection (dead) until http_conn_answer: the handler holds both.
 */
static void
conn_close(struct http_conn *c)
{
	release_socket(c);
	if (c->request && c->owed)
	{
		c->dead = true;
		return;
	}
	if (c->request)
		c->server->handler->done(c->request, 0, false);
	conn_free(c);
}

/* ---- answers ---- */

/* Whether the connection can carry another request after this answer. */
static bool
stays_open(const struct http_conn *c, const struct response *response)
{
	if (!c->keep_alive || response->close || responses_closing() || c->server->listener < 0)
		return false;
	/* An unread body the client may be holding back, or one too large to drop. */
	return !c->body_pending || (!c->head.expect_continue && response->status != 413);
}

/* Copies a small body behind the head: one write, one TLS record. */
static void
stage_body(struct http_conn *c, const struct response *response)
{
	c->body_in_head = false;
	c->body_sent = 0;
	if (c->head_only || response->len == 0 || response->file >= 0 ||
		response->len > sizeof(c->out_head) - c->out_head_len)
		return;
	memcpy(c->out_head + c->out_head_len, response->body, response->len);
	c->out_head_len += response->len;
	c->body_in_head = true;
}

const char *
http_conn_request_id(struct http_conn *c)
{
	if (!c->request_id[0])
		access_log_request_id(NULL, c->request_id);
	return c->request_id;
}

const char *
http_conn_client(const struct http_conn *c)
{
	return c->client;
}

static void
start_answer(struct http_conn *c, struct response *response)
{
	response_add_field(response, "X-Request-Id", http_conn_request_id(c));
	c->out = response;
	c->answered = true;
	c->to_handler = false;
	c->owed = false;
	c->close_after = !stays_open(c, response);
	c->out_head_len = response_head(response, !c->close_after, c->head.minor_version == 0,
									c->out_head, sizeof(c->out_head));
	c->out_head_sent = 0;
	if (c->out_head_len == 0)
	{
		c->doomed = true;
		return;
	}
	stage_body(c, response);
	registry_enter(c->server->registry, &c->tracked, PHASE_SENDING);
}

void
http_conn_answer(struct http_conn *c, struct response *response)
{
	if (c->dead)
	{
		response_free(response);
		c->server->handler->done(c->request, 0, false);
		conn_free(c);
		return;
	}
	if (!response)
		c->doomed = true;
	else
		start_answer(c, response);
	if (!c->driving)
		conn_drive(c);
}

/* An answer of the connection layer's own (a malformed request, a deadline); then close. */
static void
answer_error(struct http_conn *c, int status, const char *code, const char *message)
{
	struct response *response = response_error(status, code, message, NULL);

	if (response)
		response->close = true;
	if (c->request && !c->answered)
		http_conn_answer(c, response);
	else if (!c->answered)
	{
		c->server->handler->refused(c, status);
		c->keep_alive = false;
		c->answered = true;
		if (response)
			start_answer(c, response);
		else
			c->doomed = true;
	}
	else
	{
		response_free(response);
		c->doomed = true;
	}
}

/* ---- sending ---- */

/* The next piece of a file body, read into file_chunk; false when the file fails. */
static bool
refill_chunk(struct http_conn *c)
{
	size_t		want = c->out->len - c->body_sent;
	ssize_t		n;

	if (!c->file_chunk && !(c->file_chunk = malloc(FILE_CHUNK)))
		return false;
	want = want < FILE_CHUNK ? want : FILE_CHUNK;
	n = pread(c->out->file, c->file_chunk, want, (off_t) c->body_sent);
	if (n <= 0)
		return false;
	c->chunk_len = (size_t) n;
	c->chunk_sent = 0;
	return true;
}

/* What is left to send as iovecs; 0 when the answer is out, -1 when the file failed. */
static int
pending_output(struct http_conn *c, struct iovec iov[2])
{
	int			n = 0;
	const struct response *r = c->out;

	if (c->out_head_sent < c->out_head_len)
		iov[n++] = (struct iovec) {c->out_head + c->out_head_sent, c->out_head_len - c->out_head_sent};
	if (c->head_only || c->body_in_head || c->body_sent == r->len)
		return n;
	if (r->file < 0)
	{
		iov[n++] = (struct iovec) {(char *) r->body + c->body_sent, r->len - c->body_sent};
		return n;
	}
	if (c->chunk_sent == c->chunk_len && !refill_chunk(c))
		return -1;
	iov[n++] = (struct iovec) {c->file_chunk + c->chunk_sent, c->chunk_len - c->chunk_sent};
	return n;
}

static void
advance_output(struct http_conn *c, size_t n)
{
	size_t		from_head = c->out_head_len - c->out_head_sent;

	from_head = n < from_head ? n : from_head;
	c->out_head_sent += from_head;
	n -= from_head;
	c->body_sent += n;
	if (c->out->file >= 0)
		c->chunk_sent += n;
}

/* The answer is out: the request is done; the connection goes on, drops a body, or closes. */
static void
answer_sent(struct http_conn *c)
{
	if (c->request)
		c->server->handler->done(c->request, c->out->status, true);
	c->request = NULL;
	response_free(c->out);
	c->out = NULL;
	free(c->file_chunk);
	c->file_chunk = NULL;
	c->chunk_len = c->chunk_sent = 0;
	c->tracked.served = true;
	if (c->close_after)
	{
		c->lingering = true;
		registry_enter(c->server->registry, &c->tracked, PHASE_CLOSING);
		if (c->tls || shutdown(c->fd, SHUT_WR) != 0)
			c->doomed = true;
	}
	else if (c->body_pending)
		registry_enter(c->server->registry, &c->tracked, PHASE_BODY);
}

/* Sends what it can; false when nothing more can go now. */
static bool
send_output(struct http_conn *c)
{
	struct iovec iov[2];
	int			n;
	ssize_t		sent;

	if (!c->out || !c->writable)
		return false;
	n = pending_output(c, iov);
	if (n < 0)
	{
		c->doomed = true;
		return false;
	}
	if (n == 0)
	{
		answer_sent(c);
		return true;
	}
	sent = transport_send(c, iov, n);
	if (sent == -2)
		c->doomed = true;
	if (sent <= 0)
		return false;
	advance_output(c, (size_t) sent);
	registry_enter(c->server->registry, &c->tracked, PHASE_SENDING);
	return true;
}

/* ---- requests ---- */

/* The request is over on both sides: its head leaves the buffer, the next one may come. */
static void
next_request(struct http_conn *c)
{
	memmove(c->in, c->in + c->head_len, c->in_len - c->head_len);
	c->in_len -= c->head_len;
	c->head_len = 0;
	c->scanned = 0;
	c->answered = false;
	c->discarded = 0;
	c->request_id[0] = '\0';
	registry_enter(c->server->registry, &c->tracked, PHASE_HEAD);
}

static void
body_done(struct http_conn *c)
{
	c->body_pending = false;
	if (c->to_handler)
	{
		c->to_handler = false;
		c->owed = true;
		registry_enter(c->server->registry, &c->tracked, PHASE_SERVING);
		c->server->handler->end(c->request);
	}
}

/* 100 Continue goes out alone, before anything else, into an empty socket buffer. */
static void
send_continue(struct http_conn *c)
{
	static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct iovec iov = {(char *) interim, sizeof(interim) - 1};

	if (transport_send(c, &iov, 1) != (ssize_t) iov.iov_len)
		c->doomed = true;
}

static void
begin_request(struct http_conn *c)
{
	const struct http_handler *handler = c->server->handler;

	c->keep_alive = c->head.keep_alive;
	c->head_only = strcmp(c->head.method, "HEAD") == 0;
	c->body_left = c->head.content_length;
	c->body_pending = c->head.framing == HTTP_BODY_CHUNKED || c->body_left > 0;
	memset(&c->chunks, 0, sizeof(c->chunks));
	c->to_handler = true;
	registry_enter(c->server->registry, &c->tracked, c->body_pending ? PHASE_BODY : PHASE_SERVING);
	c->request = handler->begin(c, &c->head);
	if (!c->request)
	{
		answer_error(c, 503, NULL, "out of memory; try again");
		return;
	}
	if (!c->answered && c->body_pending && c->head.expect_continue)
		send_continue(c);
	if (!c->body_pending)
		body_done(c);
}

/* A head is complete in in[0..end): room for its body behind it, then parse it. */
static void
take_head(struct http_conn *c, size_t end)
{
	struct http_error error;
	bool		ok;

	if (c->in_cap < end + BODY_ROOM)
	{
		char	   *grown = realloc(c->in, end + BODY_ROOM);

		if (!grown)
		{
			c->doomed = true;
			return;
		}
		c->in = grown;
		c->in_cap = end + BODY_ROOM;
	}
	c->head_len = end;
	ok = http_parse_head(c->in, end, &c->head, &error);
	access_log_request_id(http_head_field(&c->head, "X-Request-Id"), c->request_id);
	if (!ok)
		answer_error(c, error.status, error.code, error.message);
	else
		begin_request(c);
}

/* ---- bodies ---- */

static void
hand_on(struct http_conn *c, const char *data, size_t len)
{
	if (len == 0)
		return;
	if (c->to_handler)
		c->server->handler->body(c->request, data, len);
	else if ((c->discarded += len) > DISCARD_LIMIT)
		c->doomed = true;
}

/* Drops n bytes at the start of the body area, keeping what follows. */
static void
consume_body_bytes(struct http_conn *c, size_t n)
{
	char	   *start = c->in + c->head_len;

	memmove(start, start + n, c->in_len - c->head_len - n);
	c->in_len -= n;
}

static void
take_length_body(struct http_conn *c)
{
	size_t		have = c->in_len - c->head_len;
	size_t		take = have < c->body_left ? have : (size_t) c->body_left;

	hand_on(c, c->in + c->head_len, take);
	c->body_left -= take;
	consume_body_bytes(c, take);
	if (c->body_left == 0)
		body_done(c);
}

static void
take_chunked_body(struct http_conn *c)
{
	size_t		used, data_len;
	struct http_error error;
	enum http_chunks_result result = http_chunks_decode(&c->chunks, c->in + c->head_len,
														c->in_len - c->head_len, &used,
														&data_len, &error);

	if (result == HTTP_CHUNKS_ERROR)
	{
		c->body_pending = false;
		answer_error(c, error.status, error.code, error.message);
		return;
	}
	hand_on(c, c->in + c->head_len, data_len);
	/* The decoded data sits at the start; the input after `used` is kept behind it. */
	memmove(c->in + c->head_len + data_len, c->in + c->head_len + used,
			c->in_len - c->head_len - used);
	c->in_len -= used - data_len;
	consume_body_bytes(c, data_len);
	if (result == HTTP_CHUNKS_DONE)
		body_done(c);
}

/* ---- input ---- */

/* Whether input is wanted now: a head, a body, or what a closing client still sends. */
static bool
wants_input(const struct http_conn *c)
{
	return c->lingering || c->body_pending || (c->head_len == 0 && !c->out && !c->request);
}

/* Takes what the buffer holds; false when that changed nothing. */
static bool
take_input(struct http_conn *c)
{
	size_t		before = c->in_len;
	bool		answering = c->out != NULL;
	size_t		end;
	struct http_error error;

	if (c->lingering)
		c->in_len = 0;
	else if (c->head_len > 0 && !c->body_pending && !c->out && !c->request)
	{
		next_request(c);
		return true;
	}
	else if (c->body_pending && c->in_len > c->head_len)
		c->head.framing == HTTP_BODY_CHUNKED ? take_chunked_body(c) : take_length_body(c);
	else if (c->head_len == 0 && !c->out && !c->request && c->in_len > 0)
	{
		end = http_head_end(c->in, c->in_len, &c->scanned);
		if (end > HTTP_MAX_HEAD || (end == 0 && c->in_len >= HTTP_MAX_HEAD))
		{
			http_head_too_large(c->in, HTTP_MAX_HEAD, &error);
			c->head_len = c->in_len;
			answer_error(c, error.status, error.code, error.message);
		}
		else if (end > 0)
			take_head(c, end);
		return end > 0 || c->answered;
	}
	return c->in_len != before || (c->out != NULL) != answering;
}

/* Reads into the buffer; false when nothing came. */
static bool
read_input(struct http_conn *c)
{
	ssize_t		n;

	if (!c->in && !(c->in = malloc(FIRST_BUFFER)))
		return c->doomed = true, false;
	c->in_cap = c->in_cap ? c->in_cap : FIRST_BUFFER;
	if (c->in_len == c->in_cap && c->in_cap < MAX_BUFFER)
	{
		char	   *grown = realloc(c->in, MAX_BUFFER);

		if (!grown)
			return c->doomed = true, false;
		c->in = grown;
		c->in_cap = MAX_BUFFER;
	}
	if (c->in_len == c->in_cap)
		return false;
	n = transport_recv(c, c->in + c->in_len, c->in_cap - c->in_len);
	if (n == 0)
		c->peer_done = true;
	if (n == -2)
		c->doomed = true;
	if (n <= 0)
		return false;
	c->in_len += (size_t) n;
	return true;
}

/*
 * The client stopped sending (it may still read): an answer under way or
 * owed still goes out, then the connection closes; anything else is over.
 */
static void
peer_finished(struct http_conn *c)
{
	if (c->out)
	{
		c->close_after = true;
		c->body_pending = false;
	}
	else if (!c->request || !c->owed)
		c->doomed = true;
}

/* An idle connection gives its buffer back: 1000 idle clients cost no buffers. */
static void
shrink_when_idle(struct http_conn *c)
{
	if (c->in && c->in_len == 0 && c->head_len == 0 && !c->request)
	{
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

static void
continue_handshake(struct http_conn *c)
{
	int			rc = tls_handshake(c->tls);

	if (rc == 0)
		c->handshaking = false;
	else if (rc == TLS_WANT_READ)
		c->readable = false;
	else if (rc == TLS_WANT_WRITE)
		c->writable = false;
	else
		c->doomed = true;
}

/* Does what the connection's state and the socket's readiness allow, then closes if doomed. */
static void
conn_drive(struct http_conn *c)
{
	c->driving = true;
	while (!c->doomed)
	{
		if (c->handshaking)
		{
			if (!c->readable && !c->writable)
				break;
			continue_handshake(c);
			if (c->handshaking)
				break;
			continue;
		}
		if (send_output(c) || take_input(c))
			continue;
		if (c->peer_done)
		{
			peer_finished(c);
			break;
		}
		if (!wants_input(c) || !c->readable)
			break;
		if (!read_input(c) && !c->peer_done)
			break;
		if (c->head_len == 0 && !c->lingering)
			c->tracked.served = false;	/* a head has begun: no longer idle */
	}
	if (!c->peer_done && !c->doomed)
		shrink_when_idle(c);
	c->driving = false;
	if (c->doomed)
		conn_close(c);
}

static void
on_conn_event(struct watcher *w, uint32_t events)
{
	struct http_conn *c = (struct http_conn *) w;

	if (c->fd < 0)
		return;					/* closed in this batch of events */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->readable = true;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->hangup_seen = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->writable = true;
	conn_drive(c);
}

/* A deadline passed (408 when part of a request came), or the connection is shed. */
static void
on_cut(struct tracked *t, bool expired)
{
	struct http_conn *c = CONN_OF(t, tracked);
	bool		slow_request = expired && !c->handshaking && !c->answered &&
		((t->phase == PHASE_HEAD && c->in_len > 0) || (t->phase == PHASE_BODY && c->to_handler));

	if (!slow_request)
	{
		conn_close(c);
		return;
	}
	c->driving = true;
	answer_error(c, 408, NULL,
				 t->phase == PHASE_HEAD ? "the request head did not arrive in time"
				 : "the request body did not arrive in time");
	c->driving = false;
	conn_drive(c);
}

/* ---- the listener ---- */

static void
client_text(const struct sockaddr *peer, char *text, socklen_t size)
{
	const void *addr = peer->sa_family == AF_INET6
		? (const void *) &((const struct sockaddr_in6 *) peer)->sin6_addr
		: (const void *) &((const struct sockaddr_in *) peer)->sin_addr;

	if ((peer->sa_family != AF_INET && peer->sa_family != AF_INET6) ||
		!inet_ntop(peer->sa_family, addr, text, size))
		text[0] = '\0';
}

static void
open_connection(struct http_server *server, int fd, const struct sockaddr *peer)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	int			one = 1;

	if (!c || !registry_admit(server->registry, &c->tracked, peer))
	{
		free(c);
		close(fd);
		return;
	}
	c->watcher.on_event = on_conn_event;
	c->server = server;
	c->fd = fd;
	c->readable = c->writable = true;
	client_text(peer, c->client, sizeof(c->client));
	/* Answers go out whole, in one write: nothing to gain from Nagle's delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (server->tls)
	{
		c->tls = tls_session_new(server->tls, fd);
		c->handshaking = true;
	}
	if ((server->tls && !c->tls) ||
		!loop_watch(&c->watcher, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET))
	{
		conn_close(c);
		return;
	}
	conn_drive(c);
}

static void
on_listener_event(struct watcher *w, uint32_t events)
{
	struct http_server *server = (struct http_server *) w;

	(void) events;
	for (int i = 0; i < ACCEPTS_PER_TURN && server->listener >= 0; i++)
	{
		struct sockaddr_storage peer;
		socklen_t	len = sizeof(peer);
		int			fd = accept4(server->listener, (struct sockaddr *) &peer, &len,
								 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && errno == ECONNABORTED)
			continue;
		if (fd < 0)
			break;
		open_connection(server, fd, (struct sockaddr *) &peer);
	}
}

int
http_listen(const struct sockaddr *addr, bool reuse_port)
{
	int			fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int			one = 1;
	socklen_t	len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		: sizeof(struct sockaddr_in);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		(reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
		bind(fd, addr, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0)
	{
		int			saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

struct http_server *
http_server_start(const struct http_server_config *config)
{
	struct http_server *server = calloc(1, sizeof(*server));

	if (!server)
		return NULL;
	server->watcher.on_event = on_listener_event;
	server->listener = config->listener;
	server->tls = config->tls;
	server->handler = config->handler;
	server->registry = registry_new(config->quota, on_cut);
	if (!server->registry || !loop_watch(&server->watcher, server->listener, EPOLLIN))
	{
		registry_free(server->registry);
		free(server);
		return NULL;
	}
	return server;
}

void
http_server_tick(struct http_server *server)
{
	free_closed(server);
	registry_sweep(server->registry);
}

void
http_server_stop_accepting(struct http_server *server)
{
	if (server->listener < 0)
		return;
	close(server->listener);
	server->listener = -1;
	registry_cut(server->registry, true);
}

void
http_server_free(struct http_server *server)
{
	if (!server)
		return;
	http_server_stop_accepting(server);
	registry_cut(server->registry, false);
	registry_free(server->registry);
	free_closed(server);
	free(server);
}
