/*
 * distribute.h: nilus on a Citus cluster (distribute.c): the hooks
 * _PG_init installs.
 */
#ifndef NILUS_DISTRIBUTE_H
#define NILUS_DISTRIBUTE_H

/*
 * The planner hook that checks a token's tenant and right before Citus
 * delegates a call, and the log hook that carries an error's parameter from
 * worker to coordinator.
 */
extern void nilus_distribute_init(void);

#endif							/* NILUS_DISTRIBUTE_H */
