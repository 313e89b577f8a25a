/*
 * db_queue.c: the waiting jobs, a singly linked list through db_job.next;
 * see db_queue.h.
 */
#include "db_queue.h"

#include <stddef.h>

#include "db_answer.h"

/* Each loop's pool has a queue of its own. */
static _Thread_local struct db_job *waiting_head, *waiting_tail;

void
db_queue_push_back(struct db_job *job)
{
	job->next = NULL;
	if (waiting_tail)
		waiting_tail->next = job;
	else
		waiting_head = job;
	waiting_tail = job;
}

void
db_queue_push_front(struct db_job *job)
{
	job->next = waiting_head;
	waiting_head = job;
	if (!waiting_tail)
		waiting_tail = job;
}

struct db_job *
db_queue_head(void)
{
	return waiting_head;
}

struct db_job *
db_queue_pop(void)
{
	struct db_job *job = waiting_head;

	if (job)
	{
		waiting_head = job->next;
		if (!waiting_head)
			waiting_tail = NULL;
		job->next = NULL;
	}
	return job;
}

struct db_job *
db_queue_find(bool (*match) (const struct db_job *job, const void *arg), const void *arg)
{
	for (struct db_job *job = waiting_head; job; job = job->next)
		if (match(job, arg))
			return job;
	return NULL;
}

struct db_job *
db_queue_take(bool (*match) (const struct db_job *job, const void *arg), const void *arg)
{
	struct db_job *prev = NULL;

	for (struct db_job *job = waiting_head; job; prev = job, job = job->next)
	{
		if (!match(job, arg))
			continue;
		if (prev)
			prev->next = job->next;
		else
			waiting_head = job->next;
		if (waiting_tail == job)
			waiting_tail = prev;
		job->next = NULL;
		return job;
	}
	return NULL;
}

void
db_queue_fail_all(int status, const char *message)
{
	struct db_job *job;

	while ((job = db_queue_pop()) != NULL)
		db_job_fail(job, status, message);
}
