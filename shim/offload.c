/*
 * offload.c: the workers and each loop's inbox; see offload.h.
 *
 * The tasks to do wait in one list under one lock, which only tasks take:
 * a request that hands nothing over never touches it.  A finished task is
 * put in its loop's inbox (a list under the inbox's own lock) and the
 * inbox's eventfd is written, which wakes the loop.
 */
/* pthread_setname_np */
#define _GNU_SOURCE

#include "offload.h"

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop.h"

struct offload_inbox
{
	struct watcher watcher;		/* first: the loop hands it back */
	int			event_fd;
	pthread_mutex_t lock;
	struct offload_task *finished;	/* newest first */
	unsigned int out;			/* handed over, done not run yet; only the loop touches it */
};

static pthread_mutex_t todo_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t todo_added = PTHREAD_COND_INITIALIZER;
static struct offload_task *todo_head, *todo_tail;
static bool stopping;
static pthread_t *workers;
static unsigned int n_workers;

static _Thread_local struct offload_inbox *inbox;

static struct offload_task *
next_task(void)
{
	struct offload_task *task;

	pthread_mutex_lock(&todo_lock);
	while (!todo_head && !stopping)
		pthread_cond_wait(&todo_added, &todo_lock);
	task = todo_head;
	if (task)
	{
		todo_head = task->next;
		if (!todo_head)
			todo_tail = NULL;
	}
	pthread_mutex_unlock(&todo_lock);
	return task;
}

static void
deliver(struct offload_task *task)
{
	struct offload_inbox *to = task->inbox;
	uint64_t	one = 1;
	ssize_t		written;

	pthread_mutex_lock(&to->lock);
	task->next = to->finished;
	to->finished = task;
	pthread_mutex_unlock(&to->lock);
	written = write(to->event_fd, &one, sizeof(one));
	(void) written;				/* only fails when the counter is full: the loop wakes anyway */
}

/* A worker ends once stopping and no task is left. */
static void *
work(void *arg)
{
	struct offload_task *task;

	(void) arg;
	pthread_setname_np(pthread_self(), "nilus-worker");
	while ((task = next_task()) != NULL)
	{
		task->work(task);
		deliver(task);
	}
	return NULL;
}

bool
offload_start(unsigned int count)
{
	workers = calloc(count, sizeof(*workers));
	for (n_workers = 0; workers && n_workers < count; n_workers++)
		if (pthread_create(&workers[n_workers], NULL, work, NULL) != 0)
			break;
	return n_workers > 0;
}

void
offload_stop(void)
{
	pthread_mutex_lock(&todo_lock);
	stopping = true;
	pthread_cond_broadcast(&todo_added);
	pthread_mutex_unlock(&todo_lock);
	for (unsigned int i = 0; i < n_workers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	workers = NULL;
	n_workers = 0;
}

void
offload(struct offload_task *task)
{
	task->inbox = inbox;
	task->next = NULL;
	inbox->out++;
	pthread_mutex_lock(&todo_lock);
	if (todo_tail)
		todo_tail->next = task;
	else
		todo_head = task;
	todo_tail = task;
	pthread_cond_signal(&todo_added);
	pthread_mutex_unlock(&todo_lock);
}

/* Runs the done of every finished task, oldest first. */
static void
take_finished(struct offload_inbox *box)
{
	struct offload_task *finished, *oldest = NULL;
	uint64_t	count;

	if (read(box->event_fd, &count, sizeof(count)) < 0)
		(void) count;			/* EAGAIN: nothing new since the last read */
	pthread_mutex_lock(&box->lock);
	finished = box->finished;
	box->finished = NULL;
	pthread_mutex_unlock(&box->lock);
	while (finished)
	{
		struct offload_task *next = finished->next;

		finished->next = oldest;
		oldest = finished;
		finished = next;
	}
	while (oldest)
	{
		struct offload_task *task = oldest;

		oldest = task->next;
		box->out--;
		task->done(task);
	}
}

static void
on_inbox_event(struct watcher *w, uint32_t events)
{
	(void) events;
	take_finished((struct offload_inbox *) w);
}

bool
offload_loop_start(void)
{
	struct offload_inbox *box = calloc(1, sizeof(*box));

	if (!box)
		return false;
	box->watcher.on_event = on_inbox_event;
	box->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&box->lock, NULL);
	if (box->event_fd < 0 || !loop_watch(&box->watcher, box->event_fd, EPOLLIN))
	{
		if (box->event_fd >= 0)
			close(box->event_fd);
		pthread_mutex_destroy(&box->lock);
		free(box);
		return false;
	}
	inbox = box;
	return true;
}

void
offload_loop_stop(void)
{
	struct offload_inbox *box = inbox;

	if (!box)
		return;
	while (box->out > 0)
	{
		struct pollfd ready = {.fd = box->event_fd, .events = POLLIN};

		poll(&ready, 1, -1);
		take_finished(box);
	}
	loop_unwatch(box->event_fd);
	close(box->event_fd);
	pthread_mutex_destroy(&box->lock);
	free(box);
	inbox = NULL;
}
