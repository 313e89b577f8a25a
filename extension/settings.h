/*
 * settings.h: the nilus.* settings (GUCs), which any layer may read.
 */
#ifndef NILUS_SETTINGS_H
#define NILUS_SETTINGS_H

/* nilus.retention_interval, in seconds: how often the background worker applies retention; 0 = never. */
extern int	nilus_retention_interval;

/* Defines every nilus.* setting; called once, from _PG_init. */
extern void nilus_define_settings(void);

#endif							/* NILUS_SETTINGS_H */
