/*
 * http_supervisor.c: the background worker that keeps nilus-manager running
 * as its child while nilus.http_listen is set.
 *
 * The child is a plain process, not a backend: the worker forks and execs the
 * installed binary and reaps it itself, so the postmaster never sees it and
 * its death is no crash of PostgreSQL.  The settings reach it as NILUS_*
 * environment variables (no password in ps), its stdout and stderr come back
 * through a pipe and go to PostgreSQL's log line by line.  It runs in its own
 * process group (the postmaster's signals to the worker, SIGHUP at every
 * reload, are not for it) and gets SIGTERM when the worker dies, which the
 * worker does when the postmaster dies.
 */
#include "http_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_status.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "settings.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/pidfile.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"
#include "workers.h"

#define STOP_GRACE_MS 35000		/* nilus-manager gives requests in flight 30 s */
#define FIRST_BACKOFF_MS 1000
#define MAX_BACKOFF_MS 30000
#define STABLE_RUN_MS 10000		/* a child that ran this long starts the back-off over */
#define POLL_MS 1000			/* how often the postmaster's shutdown state is read */
#define LOG_LINE_MAX 8192
#define RESTART_WORKER_AFTER 5	/* seconds, should the supervisor itself fail */

extern char **environ;

/* What a child is started with; equal settings keep a running child. */
typedef struct Launch
{
	char	   *program;
	StringInfoData env;			/* NAME=value entries, each ending in '\0'; empty: API off */
} Launch;

typedef struct Child
{
	pid_t		pid;			/* 0: none */
	int			log_fd;			/* read end of its stdout and stderr; -1: closed */
	TimestampTz started;
	StringInfoData partial;		/* a log line without its end yet */
} Child;

static Launch wanted;			/* from the settings */
static Launch attempted;		/* of the latest start */
static Child child = {0, -1};
static int	quick_failures = 0;
static TimestampTz next_start = 0;
static int64 restarts = 0;
static bool restart_pending = false;	/* the latest child exited on its own */
static volatile sig_atomic_t stop_requested = false;

/* ---- settings to environment ---- */

static void
add_variable(StringInfo env, const char *name, const char *value)
{
	appendStringInfo(env, "%s=%s", name, value);
	appendStringInfoChar(env, '\0');
}

static void
add_conninfo_value(StringInfo s, const char *keyword, const char *value)
{
	appendStringInfo(s, "%s='", keyword);
	for (const char *c = value; *c; c++)
	{
		if (*c == '\'' || *c == '\\')
			appendStringInfoChar(s, '\\');
		appendStringInfoChar(s, *c);
	}
	appendStringInfoString(s, "' ");
}

/* This server's first Unix socket directory, or localhost without one. */
static const char *
own_host(void)
{
	char	   *directories = pstrdup(Unix_socket_directories ? Unix_socket_directories : "");
	List	   *list = NIL;

	if (SplitDirectoriesString(directories, ',', &list) && list != NIL)
		return linitial(list);
	return "localhost";
}

/*
 * nilus.http_dsn after this server's socket, port and nilus.http_database: a
 * keyword given twice takes its last value, so what the operator wrote wins.
 * A URI cannot be merged with keywords and is taken as it is.
 */
static char *
api_conninfo(void)
{
	StringInfoData s;

	if (strncmp(nilus_http_dsn, "postgresql://", 13) == 0 || strncmp(nilus_http_dsn, "postgres://", 11) == 0)
		return pstrdup(nilus_http_dsn);
	initStringInfo(&s);
	add_conninfo_value(&s, "host", own_host());
	appendStringInfo(&s, "port=%d ", PostPortNumber);
	add_conninfo_value(&s, "dbname", nilus_http_database);
	appendStringInfoString(&s, nilus_http_dsn);
	return s.data;
}

/* Reads the settings into wanted; its buffers live on, what it takes to fill them does not. */
static void
read_wanted(void)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "nilus http settings",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(scratch);

	if (wanted.program)
		pfree(wanted.program);
	wanted.program = MemoryContextStrdup(TopMemoryContext, nilus_http_program);
	resetStringInfo(&wanted.env);
	if (nilus_http_listen[0] != '\0')
	{
		add_variable(&wanted.env, "NILUS_DSN", api_conninfo());
		add_variable(&wanted.env, "NILUS_LISTEN", nilus_http_listen);
		add_variable(&wanted.env, "NILUS_METRICS_LISTEN",
					 nilus_metrics_listen[0] ? nilus_metrics_listen : "none");
		if (nilus_http_threads > 0)
			add_variable(&wanted.env, "NILUS_THREADS", psprintf("%d", nilus_http_threads));
		if (nilus_http_loops > 0)
			add_variable(&wanted.env, "NILUS_LOOPS", psprintf("%d", nilus_http_loops));
		add_variable(&wanted.env, "NILUS_MAX_BODY", psprintf("%d", nilus_http_max_body));
		if (nilus_http_docs_dir[0] != '\0')
			add_variable(&wanted.env, "NILUS_DOCS_DIR", nilus_http_docs_dir);
		add_variable(&wanted.env, "NILUS_LOG_FORMAT", nilus_log_format_name(nilus_http_log_format));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
}

static bool
api_wanted(void)
{
	return wanted.env.len > 0;
}

static bool
same_launch(const Launch *a, const Launch *b)
{
	return a->program && b->program && strcmp(a->program, b->program) == 0 &&
		a->env.len == b->env.len && memcmp(a->env.data, b->env.data, a->env.len) == 0;
}

static void
copy_launch(Launch *to, const Launch *from)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (to->program)
		pfree(to->program);
	to->program = pstrdup(from->program);
	resetStringInfo(&to->env);
	appendBinaryStringInfo(&to->env, from->env.data, from->env.len);
	MemoryContextSwitchTo(old);
}

/* The worker's environment without NILUS_* variables, then the wanted ones. */
static char **
child_environment(void)
{
	int			n = 0;
	char	  **envp;
	int			count = 0;

	for (char **e = environ; *e; e++)
		n++;
	for (int i = 0; i < wanted.env.len; i += strlen(wanted.env.data + i) + 1)
		n++;
	envp = palloc((n + 1) * sizeof(char *));
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "NILUS_", 6) != 0)
			envp[count++] = *e;
	for (int i = 0; i < wanted.env.len; i += strlen(wanted.env.data + i) + 1)
		envp[count++] = wanted.env.data + i;
	envp[count] = NULL;
	return envp;
}

/* ---- what nilus.http_status() shows ---- */

static const char *
wanted_value(const char *name)
{
	size_t		len = strlen(name);

	for (int i = 0; i < wanted.env.len; i += strlen(wanted.env.data + i) + 1)
		if (strncmp(wanted.env.data + i, name, len) == 0 && wanted.env.data[i + len] == '=')
			return wanted.env.data + i + len + 1;
	return "";
}

static void
publish(const char *last_exit)
{
	const char *metrics = wanted_value("NILUS_METRICS_LISTEN");

	http_status_publish(child.pid, wanted_value("NILUS_LISTEN"), strcmp(metrics, "none") == 0 ? "" : metrics,
						child.started, restarts, last_exit);
}

/* ---- the child's log ---- */

static void
log_line(const char *line, int len)
{
	/* Its own messages start with its name already; access log lines do not. */
	bool		named = len >= 13 && strncmp(line, "nilus-manager", 13) == 0;

	ereport(LOG, (errmsg_internal("%s%.*s", named ? "" : "nilus-manager: ", len, line)));
}

static void
flush_complete_lines(bool all)
{
	int			start = 0;

	for (int i = 0; i < child.partial.len; i++)
	{
		if (child.partial.data[i] != '\n' && i - start < LOG_LINE_MAX)
			continue;
		log_line(child.partial.data + start, i - start);
		start = child.partial.data[i] == '\n' ? i + 1 : i;
	}
	if (all && start < child.partial.len)
	{
		log_line(child.partial.data + start, child.partial.len - start);
		start = child.partial.len;
	}
	memmove(child.partial.data, child.partial.data + start, child.partial.len - start);
	child.partial.len -= start;
	child.partial.data[child.partial.len] = '\0';
}

/* Relays what the child wrote so far; at its end, the last line too. */
static void
relay_log(void)
{
	char		buffer[8192];
	ssize_t		n;

	if (child.log_fd < 0)
		return;
	while ((n = read(child.log_fd, buffer, sizeof(buffer))) > 0)
	{
		appendBinaryStringInfo(&child.partial, buffer, n);
		flush_complete_lines(false);
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
	{
		flush_complete_lines(true);
		close(child.log_fd);
		child.log_fd = -1;
	}
}

/* ---- starting, reaping, stopping ---- */

static void
schedule_start(void)
{
	int			delay = Min(FIRST_BACKOFF_MS << Min(quick_failures, 5), MAX_BACKOFF_MS);

	quick_failures++;
	next_start = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);
	restart_pending = true;
	ereport(LOG, (errmsg("nilus http supervisor: starting nilus-manager again in %d s", delay / 1000)));
}

/* In the forked child: from the worker's state to the program's. */
static void
exec_child(int log_fd, char **envp, pid_t worker)
{
	static const int reset[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM};
	char	   *argv[] = {wanted.program, NULL};
	sigset_t	none;
	int			devnull = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	/* The worker may have died before the request took effect. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != worker)
		_exit(1);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
		dup2(log_fd, STDERR_FILENO) < 0)
		_exit(1);
	close_range(STDERR_FILENO + 1, ~0U, 0);
	for (int i = 0; i < lengthof(reset); i++)
		signal(reset[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(wanted.program, argv, envp);
	dprintf(STDERR_FILENO, "nilus-manager: cannot execute %s (nilus.http_program): %s\n",
			wanted.program, strerror(errno));
	_exit(127);
}

static void
start_child(void)
{
	int			pipe_fds[2];
	char	  **envp;
	sigset_t	all, saved;
	pid_t		pid;

	copy_launch(&attempted, &wanted);
	if (access(wanted.program, X_OK) != 0)
	{
		ereport(LOG, (errmsg("nilus http supervisor: cannot run \"%s\" (nilus.http_program): %m",
							 wanted.program)));
		schedule_start();
		return;
	}
	if (pipe2(pipe_fds, O_CLOEXEC) != 0)
	{
		ereport(LOG, (errmsg("nilus http supervisor: could not create a pipe: %m")));
		schedule_start();
		return;
	}
	envp = child_environment();
	/* No handler of the worker may run in the child before exec. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &saved);
	pid = fork();
	if (pid == 0)
		exec_child(pipe_fds[1], envp, MyProcPid);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(pipe_fds[1]);
	pfree(envp);
	if (pid < 0)
	{
		ereport(LOG, (errmsg("nilus http supervisor: could not fork: %m")));
		close(pipe_fds[0]);
		schedule_start();
		return;
	}
	fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
	child.pid = pid;
	child.log_fd = pipe_fds[0];
	child.started = GetCurrentTimestamp();
	if (restart_pending)
		restarts++;
	restart_pending = false;
	publish(NULL);
}

static void
describe_exit(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "signal %d (%s)", WTERMSIG(status), pg_strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "status %d", status);
}

/* Reaps the child if it has ended; true if it had.  expected: the worker stopped it. */
static bool
reap_child(bool expected)
{
	int			status;
	char		how[64];
	pid_t		pid = child.pid;

	if (pid == 0 || waitpid(pid, &status, WNOHANG) != pid)
		return false;
	relay_log();
	describe_exit(status, how, sizeof(how));
	child.pid = 0;
	if (expected)
		ereport(LOG, (errmsg("nilus http supervisor: nilus-manager (pid %d) stopped: %s", pid, how)));
	else
	{
		ereport(LOG, (errmsg("nilus http supervisor: nilus-manager (pid %d) exited unexpectedly: %s",
							 pid, how)));
		if (TimestampDifferenceExceeds(child.started, GetCurrentTimestamp(), STABLE_RUN_MS))
			quick_failures = 0;
		schedule_start();
	}
	publish(how);
	return true;
}

/* Waits for the latch, the child's output or the timeout; exits with the postmaster. */
static void
wait_a_while(long timeout_ms)
{
	int			events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;

	if (child.log_fd >= 0)
		events |= WL_SOCKET_READABLE;
	(void) WaitLatchOrSocket(MyLatch, events, child.log_fd, timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/* SIGTERM, then the time nilus-manager takes for requests in flight, then SIGKILL. */
static void
stop_child(const char *why)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), STOP_GRACE_MS);
	bool		killed = false;

	ereport(LOG, (errmsg("nilus http supervisor: stopping nilus-manager (pid %d): %s", child.pid, why)));
	kill(child.pid, SIGTERM);
	while (!reap_child(true))
	{
		wait_a_while(100);
		relay_log();
		if (!killed && GetCurrentTimestamp() >= deadline)
		{
			ereport(LOG, (errmsg("nilus http supervisor: nilus-manager (pid %d) still runs %d s after SIGTERM, killing it",
								 child.pid, STOP_GRACE_MS / 1000)));
			kill(child.pid, SIGKILL);
			killed = true;
		}
	}
}

/*
 * Whether the postmaster is shutting down, from its postmaster.pid.  A smart
 * shutdown waits for every client, the API's connections too, before it
 * stops background workers: the API has to go first.
 */
static bool
postmaster_stopping(void)
{
	FILE	   *file = AllocateFile("postmaster.pid", "r");
	char		line[MAXPGPATH];
	bool		stopping = false;

	if (!file)
		return false;
	for (int n = 1; fgets(line, sizeof(line), file); n++)
	{
		if (n == LOCK_FILE_LINE_PM_STATUS)
		{
			stopping = strncmp(line, PM_STATUS_STOPPING, strlen(PM_STATUS_STOPPING)) == 0;
			break;
		}
	}
	FreeFile(file);
	return stopping;
}

/* Brings the child in line with the settings: stopped, restarted or started. */
static void
apply_settings(void)
{
	if (!same_launch(&wanted, &attempted))
	{
		/* New settings get a fresh start, without the back-off of the old ones. */
		quick_failures = 0;
		next_start = 0;
		restart_pending = false;
		if (child.pid != 0)
			stop_child(api_wanted() ? "its settings changed" : "nilus.http_listen is empty");
		copy_launch(&attempted, &wanted);
		publish(NULL);
	}
	if (child.pid == 0 && api_wanted() && GetCurrentTimestamp() >= next_start)
		start_child();
}

static long
next_wake_ms(void)
{
	long		until_start;

	if (child.pid != 0 || !api_wanted())
		return POLL_MS;
	until_start = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_start);
	return Max(Min(until_start, POLL_MS), 1);
}

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	stop_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
handle_sigchld(SIGNAL_ARGS)
{
	int			save_errno = errno;

	SetLatch(MyLatch);
	errno = save_errno;
}

void
http_supervisor_register(void)
{
	/* It needs no database session: the API has its own. */
	nilus_register_worker("nilus http supervisor", "nilus_http_supervisor_main", BGWORKER_SHMEM_ACCESS,
						  RESTART_WORKER_AFTER);
}

void
nilus_http_supervisor_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, handle_sigterm);
	pqsignal(SIGCHLD, handle_sigchld);
	BackgroundWorkerUnblockSignals();

	/* What lives as long as the worker is in TopMemoryContext, where a worker starts. */
	Assert(CurrentMemoryContext == TopMemoryContext);
	initStringInfo(&wanted.env);
	initStringInfo(&attempted.env);
	initStringInfo(&child.partial);
	restarts = http_status_restarts();
	read_wanted();
	while (!stop_requested && !postmaster_stopping())
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			read_wanted();
		}
		relay_log();
		reap_child(false);
		apply_settings();
		wait_a_while(next_wake_ms());
	}
	if (child.pid != 0)
		stop_child("PostgreSQL is shutting down");
	proc_exit(0);
}
