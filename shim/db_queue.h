/*
 * db_queue.h: the jobs that wait for a connection with room, in arrival
 * order (a job sent again goes first: it has waited already).  Each loop
 * has its own; only that loop's thread touches it.
 */
#ifndef NILUS_DB_QUEUE_H
#define NILUS_DB_QUEUE_H

#include <stdbool.h>

#include "db.h"

void		db_queue_push_back(struct db_job *job);
void		db_queue_push_front(struct db_job *job);
/* The oldest job, left in the queue; NULL when none waits. */
struct db_job *db_queue_head(void);
struct db_job *db_queue_pop(void);
/* The oldest waiting job that match accepts, left in the queue; NULL when none. */
struct db_job *db_queue_find(bool (*match) (const struct db_job *job, const void *arg),
							 const void *arg);
/* The oldest waiting job that match accepts, taken out of the queue; NULL when none. */
struct db_job *db_queue_take(bool (*match) (const struct db_job *job, const void *arg),
							 const void *arg);
/* Answers every waiting job with the error. */
void		db_queue_fail_all(int status, const char *message);

#endif
