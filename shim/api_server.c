/*
 * api_server.c: the API's loops and the graceful stop.
 *
 * Each loop is a thread with an epoll set, a listening socket of its own
 * on the API's address (SO_REUSEPORT: the kernel spreads new connections
 * over the loops, as nginx's reuseport and h2o do), its share of the
 * database connections with its own pool, queue and pipelines (db.h), its
 * access log buffer and its heartbeat.  A connection stays on the loop
 * that accepted it, and so does everything its requests do: nothing is
 * handed between loops.  The calling thread waits for a stop signal and
 * tells each loop through an eventfd.
 */
/* pthread_setname_np: a loop's name in top -H and /proc. */
#define _GNU_SOURCE

#include "api_server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "access_log.h"
#include "db.h"
#include "http_conn.h"
#include "loop.h"
#include "offload.h"
#include "request.h"
#include "response.h"
#include "tls.h"

#define IDLE_WAKEUP_MS 1000		/* a loop's longest sleep */
#define STOPPING_WAKEUP_MS 10

struct api_loop
{
	struct watcher stop_watcher;	/* first: the loop hands it back */
	int			stop_fd;		/* an eventfd, written once at the stop */
	int			listener;		/* until the HTTP server takes it */
	unsigned int connections;	/* its share of --threads */
	unsigned int cores;
	struct http_server *http;
	struct api_server *server;
	pthread_t	thread;
	bool		running;		/* its thread was created */
	bool		stopping;
	double		deadline;
};

struct api_server
{
	struct tls_config *tls;
	struct connection_quota *quota;
	struct api_loop *loops;
	unsigned int n_loops;
	double		grace;
	/* The start: each loop says it is set up (or failed), then waits for the word to go. */
	pthread_mutex_t start_lock;
	pthread_cond_t start_changed;
	unsigned int set_up;
	bool		failed;
	bool		go;
};

/* Loop i's share of total: total / loops, one more for the first total % loops, at least 1. */
static unsigned int
api_loop_share(unsigned int total, unsigned int loops, unsigned int i)
{
	unsigned int share = total / loops + (i < total % loops ? 1 : 0);

	return share > 0 ? share : 1;
}

static void
api_server_free(struct api_server *server)
{
	for (unsigned int i = 0; server->loops && i < server->n_loops; i++)
	{
		if (server->loops[i].listener >= 0)
			close(server->loops[i].listener);
		if (server->loops[i].stop_fd >= 0)
			close(server->loops[i].stop_fd);
	}
	free(server->loops);
	quota_free(server->quota);
	pthread_mutex_destroy(&server->start_lock);
	pthread_cond_destroy(&server->start_changed);
	tls_config_free(server->tls);
	offload_stop();
	free(server);
}

/*
 * A socket per loop on the address.  First one without SO_REUSEPORT: it
 * fails when anything listens there already, so that a second shim on the
 * same port is refused instead of sharing its connections.
 */
static bool
listen_per_loop(struct api_server *server, const struct sockaddr *addr)
{
	int			probe = http_listen(addr, false);

	if (probe < 0)
		return false;
	close(probe);
	for (unsigned int i = 0; i < server->n_loops; i++)
		if ((server->loops[i].listener = http_listen(addr, true)) < 0)
			return false;
	return true;
}

static bool
make_loops(struct api_server *server, const struct api_server_config *cfg)
{
	server->n_loops = cfg->loops;
	server->loops = calloc(cfg->loops, sizeof(*server->loops));
	for (unsigned int i = 0; server->loops && i < cfg->loops; i++)
	{
		struct api_loop *loop = &server->loops[i];

		loop->server = server;
		loop->listener = -1;
		loop->connections = api_loop_share(cfg->threads, cfg->loops, i);
		loop->cores = api_loop_share(cfg->cores, cfg->loops, i);
		loop->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (loop->stop_fd < 0)
			return false;
	}
	return server->loops != NULL;
}

struct api_server *
api_server_start(const struct api_server_config *cfg)
{
	struct api_server *server = calloc(1, sizeof(*server));
	char		why[256];

	if (!server)
		return NULL;
	pthread_mutex_init(&server->start_lock, NULL);
	pthread_cond_init(&server->start_changed, NULL);
	request_init(cfg->max_body, cfg->docs_dir);
	if (cfg->tls_cert && !(server->tls = tls_config_new(cfg->tls_cert, cfg->tls_key, why,
														 sizeof(why))))
		fprintf(stderr, "nilus-manager: cannot use --tls-cert and --tls-key: %s\n", why);
	else if (!make_loops(server, cfg) || !(server->quota = quota_new(&cfg->limits)) ||
			 !offload_start(cfg->loops))
		fprintf(stderr, "nilus-manager: cannot start (out of memory?): %s\n", strerror(errno));
	else if (!listen_per_loop(server, cfg->addr))
		fprintf(stderr, "nilus-manager: cannot listen: %s\n", strerror(errno));
	else
		return server;
	api_server_free(server);
	return NULL;
}

static void
on_stop(struct watcher *w, uint32_t events)
{
	struct api_loop *loop = (struct api_loop *) w;
	uint64_t	count;

	(void) events;
	if (read(loop->stop_fd, &count, sizeof(count)) != sizeof(count) || loop->stopping)
		return;
	loop->stopping = true;
	loop->deadline = monotonic_seconds() + loop->server->grace;
	/* New connections are refused at once instead of waiting in the backlog until we exit. */
	http_server_stop_accepting(loop->http);
}

static int
next_wakeup_ms(const struct api_loop *loop)
{
	int			ms = loop->stopping ? STOPPING_WAKEUP_MS : IDLE_WAKEUP_MS;
	int			db_ms = db_tick_due_ms();

	return db_ms >= 0 && db_ms < ms ? db_ms : ms;
}

/* The loop's parts, on its thread; false when one could not start. */
static bool
set_up_loop(struct api_loop *loop)
{
	struct http_server_config http = {
		.tls = loop->server->tls, .handler = &request_handler, .quota = loop->server->quota,
	};

	loop->stop_watcher.on_event = on_stop;
	if (!loop_init(true) || !offload_loop_start() ||
		!db_pool_start(loop->connections, loop->cores) ||
		!loop_watch(&loop->stop_watcher, loop->stop_fd, EPOLLIN))
		return false;
	http.listener = loop->listener;
	loop->http = http_server_start(&http);
	if (loop->http)
		loop->listener = -1;	/* the server's now */
	return loop->http != NULL;
}

static void
run_loop(struct api_loop *loop)
{
	while (!loop->stopping ||
		   (requests_in_flight() > 0 && monotonic_seconds() < loop->deadline))
	{
		loop_wait(next_wakeup_ms(loop));
		db_tick();
		http_server_tick(loop->http);
		db_flush();
		access_log_flush();
	}
	if (requests_in_flight() > 0)
		fprintf(stderr, "nilus-manager: stopping with %d requests unfinished\n",
				requests_in_flight());
}

/* The bodies being checked come back first: their requests go on to the pool, which then fails them. */
static void
tear_down_loop(struct api_loop *loop)
{
	offload_loop_stop();
	db_cancel_all();
	http_server_free(loop->http);
	loop->http = NULL;
	db_pool_stop();
	access_log_flush();
	loop_free();
}

/* Whether every loop is set up: the loops run only when all can. */
static bool
all_set_up(struct api_server *server, bool ok)
{
	bool		all;

	pthread_mutex_lock(&server->start_lock);
	server->failed |= !ok;
	server->set_up++;
	pthread_cond_broadcast(&server->start_changed);
	while (!server->go)
		pthread_cond_wait(&server->start_changed, &server->start_lock);
	all = !server->failed;
	pthread_mutex_unlock(&server->start_lock);
	return all;
}

static void *
serve_loop(void *arg)
{
	struct api_loop *loop = arg;
	char		name[16];

	snprintf(name, sizeof(name), "nilus-loop-%u", (unsigned int) (loop - loop->server->loops));
	pthread_setname_np(pthread_self(), name);
	if (all_set_up(loop->server, set_up_loop(loop)))
		run_loop(loop);
	tear_down_loop(loop);
	return NULL;
}

static void
stop_loops(struct api_server *server)
{
	uint64_t	one = 1;

	for (unsigned int i = 0; i < server->n_loops; i++)
		if (write(server->loops[i].stop_fd, &one, sizeof(one)) != sizeof(one))
			fprintf(stderr, "nilus-manager: cannot tell loop %u to stop: %s\n", i, strerror(errno));
}

static void
join_loops(struct api_server *server)
{
	for (unsigned int i = 0; i < server->n_loops; i++)
		if (server->loops[i].running)
			pthread_join(server->loops[i].thread, NULL);
}

/* Starts every loop; false (and none serves) when one could not start. */
static bool
start_loops(struct api_server *server)
{
	unsigned int started = 0;
	bool		all;

	for (; started < server->n_loops; started++)
	{
		struct api_loop *loop = &server->loops[started];

		if (pthread_create(&loop->thread, NULL, serve_loop, loop) != 0)
		{
			fprintf(stderr, "nilus-manager: cannot start loop %u of %u: %s\n", started + 1,
					server->n_loops, strerror(errno));
			break;
		}
		loop->running = true;
	}
	pthread_mutex_lock(&server->start_lock);
	while (server->set_up < started)
		pthread_cond_wait(&server->start_changed, &server->start_lock);
	server->failed |= started < server->n_loops;
	server->go = true;
	all = !server->failed;
	pthread_cond_broadcast(&server->start_changed);
	pthread_mutex_unlock(&server->start_lock);
	return all;
}

bool
api_server_serve(struct api_server *server, const sigset_t *stop_signals, double grace)
{
	int			signal_number = 0;
	bool		started;

	server->grace = grace;
	started = start_loops(server);
	if (started)
		sigwait(stop_signals, &signal_number);
	if (signal_number)
		fprintf(stderr, "nilus-manager: %s received, finishing requests in flight\n",
				signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
	responses_close_connections();
	stop_loops(server);
	join_loops(server);
	api_server_free(server);
	return started;
}
