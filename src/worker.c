/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Folding deferred counters in the background.
 *
 * With counterfield in shared_preload_libraries, a launcher worker starts
 * with the server.  A transaction that recorded deltas notes its database
 * in shared memory when it commits (cf_worker_note).  Every
 * counterfield.fold_interval the launcher starts a fold worker in each
 * noted database that has none running, at most FOLD_WORKERS at a time,
 * taking the databases in turn from round to round; every SWEEP_ROUNDS
 * rounds, at its start and when too many databases were noted, in every
 * database that accepts connections, for deltas that no note announced (a
 * restore, a crash), over as many rounds as free slots take.  Rounds keep
 * their interval whatever wakes the launcher.  Notes of databases gone are
 * forgotten.  It waits for none of the workers, so a
 * fold that takes long (a parent's trigger that sleeps, say) holds up its
 * own database only.
 *
 * A fold worker folds every deferred counter of its database (cf_fold), as
 * the bootstrap superuser, each in a transaction of its own that gives up
 * on a lock after FOLD_LOCK_TIMEOUT and on the counter after
 * FOLD_STATEMENT_TIMEOUT_MS.  While writers keep noting its database, the
 * interval is FOLD_STAY_MS or less and no other database waits for a slot,
 * it stays for the next round rather than leave a new worker to start,
 * connect and plan again; otherwise it exits.  In a database without the
 * extension, or with a version before 0.6, it does nothing.  A counter whose fold fails (a constraint of the
 * parent's, a lock held elsewhere) is logged and tried again at the next
 * round, by a new worker, while the others are folded; until then the
 * counters only lag, since their values are the columns plus the deltas
 * not yet folded.  A worker stays connected between rounds for no longer
 * than FOLD_STAY_MS, and not at all once writers stop, so it never keeps a
 * database from being dropped for long.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "counterfield.h"

PGDLLEXPORT void counterfield_launcher_main(Datum arg);
PGDLLEXPORT void counterfield_fold_main(Datum arg);

/* counterfield.fold_interval, in milliseconds; 0 stops background folding. */
static int	fold_interval = 1000;

/* At most this many databases are noted; past them, all are folded. */
#define NOTED_DATABASES 64

/*
 * The databases whose transactions recorded deltas since a fold worker
 * last looked, in shared memory.
 */
typedef struct FoldNotes
{
	slock_t		mutex;
	bool		overflow;		/* a database not listed was noted */
	bool		crowded;		/* a noted database found no free worker slot */
	int			n;
	Oid			databases[NOTED_DATABASES];
} FoldNotes;

static FoldNotes *notes = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#if PG_VERSION_NUM >= 150000
static void
fold_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(FoldNotes));
}
#endif

static void
fold_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	notes = ShmemInitStruct("counterfield fold notes", sizeof(FoldNotes), &found);
	if (!found)
	{
		SpinLockInit(&notes->mutex);
		notes->overflow = false;
		notes->crowded = false;
		notes->n = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Notes that a transaction in the database committed deltas for the
 * background fold.  Without the library preloaded there is no worker, and
 * nothing to note.
 */
void
cf_worker_note(Oid database)
{
	if (notes == NULL)
		return;
	SpinLockAcquire(&notes->mutex);
	for (int i = 0; i < notes->n; i++)
		if (notes->databases[i] == database)
		{
			SpinLockRelease(&notes->mutex);
			return;
		}
	if (notes->n < NOTED_DATABASES)
		notes->databases[notes->n++] = database;
	else
		notes->overflow = true;
	SpinLockRelease(&notes->mutex);
}

/*
 * Is the database noted?  With take, its note is removed: a fold worker
 * about to fold it.
 */
static bool
noted(Oid database, bool take)
{
	bool		found = false;

	SpinLockAcquire(&notes->mutex);
	for (int i = 0; i < notes->n; i++)
		if (notes->databases[i] == database)
		{
			found = true;
			if (take)
				notes->databases[i] = notes->databases[--notes->n];
			break;
		}
	SpinLockRelease(&notes->mutex);
	return found;
}

/* Was a database noted that the list had no room for?  Clears the flag. */
static bool
take_overflow(void)
{
	bool		overflow;

	SpinLockAcquire(&notes->mutex);
	overflow = notes->overflow;
	notes->overflow = false;
	SpinLockRelease(&notes->mutex);
	return overflow;
}

/*
 * Copies the noted databases into noted_before; returns how many.
 */
static int
copy_notes(Oid *noted_before)
{
	int			n;

	SpinLockAcquire(&notes->mutex);
	n = notes->n;
	memcpy(noted_before, notes->databases, sizeof(Oid) * n);
	SpinLockRelease(&notes->mutex);
	return n;
}

/*
 * Forgets the notes of databases that were noted before the list given was
 * read and are not in it: dropped, or closed to connections, since no worker
 * would ever take them.  A database noted only since may be newer than the
 * list, and keeps its note.
 */
static void
forget_gone_notes(Oid *noted_before, int nbefore, List *databases)
{
	for (int i = 0; i < nbefore; i++)
	{
		if (list_member_oid(databases, noted_before[i]))
			continue;
		SpinLockAcquire(&notes->mutex);
		for (int j = 0; j < notes->n; j++)
			if (notes->databases[j] == noted_before[i])
			{
				notes->databases[j] = notes->databases[--notes->n];
				break;
			}
		SpinLockRelease(&notes->mutex);
	}
}

/*
 * Defines the setting, and when preloaded, registers the launcher and
 * reserves the notes.
 */
void
cf_worker_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("counterfield.fold_interval",
							"Time between background folds of deferred counters.",
							"0 stops background folding; fold() still folds.",
							&fold_interval,
							1000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = fold_shmem_request;
#else
	RequestAddinShmemSpace(sizeof(FoldNotes));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = fold_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "counterfield");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "counterfield_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "counterfield launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "counterfield launcher");
	RegisterBackgroundWorker(&worker);
}

/* The databases that accept connections, as a list of OIDs. */
static List *
database_list(void)
{
	List	   *databases = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate)
			continue;
		old = MemoryContextSwitchTo(cxt);
		databases = lappend_oid(databases, db->oid);
		MemoryContextSwitchTo(old);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return databases;
}

/* At most this many fold workers run at a time. */
#define FOLD_WORKERS	4

/* The fold workers started and perhaps still running, by database. */
typedef struct FoldWorker
{
	Oid			database;
	BackgroundWorkerHandle *handle;
} FoldWorker;

static FoldWorker running[FOLD_WORKERS];

/*
 * Forgets the fold workers that have ended; returns whether one for the
 * database given is still running.
 */
static bool
reap_workers(Oid database)
{
	bool		busy = false;

	for (int i = 0; i < FOLD_WORKERS; i++)
	{
		pid_t		pid;

		if (running[i].handle == NULL)
			continue;
		if (GetBackgroundWorkerPid(running[i].handle, &pid) == BGWH_STOPPED)
		{
			pfree(running[i].handle);
			running[i].handle = NULL;
		}
		else if (running[i].database == database)
			busy = true;
	}
	return busy;
}

/*
 * Starts the fold of one database in a free slot; returns false when no
 * slot is free or no worker could be started.
 */
static bool
fold_database(Oid database)
{
	BackgroundWorker worker;
	int			slot;

	for (slot = 0; slot < FOLD_WORKERS && running[slot].handle != NULL; slot++)
		;
	if (slot == FOLD_WORKERS)
		return false;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "counterfield");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "counterfield_fold_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "counterfield fold of database %u", database);
	snprintf(worker.bgw_type, BGW_MAXLEN, "counterfield fold");
	worker.bgw_main_arg = ObjectIdGetDatum(database);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &running[slot].handle))
	{
		running[slot].handle = NULL;
		ereport(LOG,
				(errmsg("counterfield could not start a worker to fold deferred counters"),
				 errhint("Raise max_worker_processes.")));
		return false;
	}
	running[slot].database = database;
	return true;
}

/*
 * Waits until fold_interval has passed since the time given, as the
 * interval is then: a new setting counts from that time too.  With
 * background folding off, the launcher waits until it is turned on again, a
 * fold worker not at all.  Reads the configuration again when asked to.
 * Other wake-ups (a fold worker that started or ended) do not end the wait.
 */
static void
wait_interval(TimestampTz since, bool launcher)
{
	for (;;)
	{
		long		timeout = -1;

		if (fold_interval <= 0 && !launcher)
			return;
		if (fold_interval > 0)
		{
			TimestampTz now = GetCurrentTimestamp();
			TimestampTz due = TimestampTzPlusMilliseconds(since, fold_interval);

			if (now >= due)
				return;
			timeout = Max((due - now) / 1000, 1);
		}
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout > 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

/* Every this many rounds, the launcher folds every database. */
#define SWEEP_ROUNDS	60

/*
 * The launcher: a round every fold_interval, until shutdown.  A sweep goes
 * on over the next rounds until every database it listed had a worker; a
 * round that leaves a database that wants one (noted, or left by a sweep)
 * without it asks staying workers to make room (see
 * counterfield_fold_main).
 */
void
counterfield_launcher_main(Datum arg pg_attribute_unused())
{
	int			next = 0;
	uint64		round = 0;
	List	   *sweep_left = NIL;	/* databases the sweep has yet to fold */
	TimestampTz last = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	for (;;)
	{
		Oid			noted_before[NOTED_DATABASES];
		int			nbefore;
		List	   *databases;
		ListCell   *lc;
		int			n;
		bool		sweep;
		bool		crowded = false;

		wait_interval(last, true);
		last = GetCurrentTimestamp();
		sweep = round++ % SWEEP_ROUNDS == 0 || take_overflow();

		/* Read unlocked: a note missed now is seen next round. */
		if (!sweep && sweep_left == NIL && notes->n == 0)
		{
			notes->crowded = false;
			continue;
		}
		nbefore = copy_notes(noted_before);
		databases = database_list();
		n = list_length(databases);
		forget_gone_notes(noted_before, nbefore, databases);
		if (sweep)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			list_free(sweep_left);
			sweep_left = list_copy(databases);
			MemoryContextSwitchTo(old);
		}

		/*
		 * From where the last round stopped, each database once.  Once no
		 * slot is free, the others that want a worker are only counted.
		 */
		for (int i = 0; i < n; i++)
		{
			Oid			database = list_nth_oid(databases, (next + i) % n);

			CHECK_FOR_INTERRUPTS();
			if (!list_member_oid(sweep_left, database) && !noted(database, false))
				continue;
			if (reap_workers(database))
				sweep_left = list_delete_oid(sweep_left, database);
			else if (crowded)
				continue;
			else if (fold_database(database))
				sweep_left = list_delete_oid(sweep_left, database);
			else
			{
				next = (next + i) % n;
				crowded = true;
			}
		}

		/* Those gone since the sweep began need no worker. */
		foreach(lc, sweep_left)
		{
			if (!list_member_oid(databases, lfirst_oid(lc)))
				sweep_left = foreach_delete_current(sweep_left, lc);
		}
		notes->crowded = crowded;
		list_free(databases);
	}
}

/* How long a fold worker waits for a lock before it leaves a counter. */
#define FOLD_LOCK_TIMEOUT	"1s"

/*
 * How long it folds one counter before it gives up on it: a parent's
 * trigger that does not return holds up its own database's worker for no
 * longer, and never the others'.
 */
#define FOLD_STATEMENT_TIMEOUT_MS	60000


/* A fold worker stays for the next round only if it is due within this. */
#define FOLD_STAY_MS	2000

/*
 * Folds every deferred counter of the database, each in a transaction of
 * its own.  Returns whether it found any, and sets *failed if the fold of
 * one failed.
 */
static bool
fold_round(bool *failed)
{
	List	   *ids = NIL;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(get_extension_oid("counterfield", true)) && OidIsValid(cf_ledger_relid()))
	{
		CounterDefs *defs = cf_defs_acquire();
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		for (int i = 0; i < defs->ncounters; i++)
			if (defs->counters[i].deferred)
				ids = lappend_int(ids, defs->counters[i].id);
		MemoryContextSwitchTo(old);
		cf_defs_release();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, ids)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (OidIsValid(cf_ledger_relid()))
		{
			CounterDefs *defs = cf_defs_acquire();
			CounterDef *def = cf_defs_counter(defs, lfirst_int(lc));

			if (def != NULL && def->deferred)
			{
				enable_timeout_after(STATEMENT_TIMEOUT, FOLD_STATEMENT_TIMEOUT_MS);
				if (!cf_fold_guarded(def, false))
					*failed = true;
				/* A timeout that fired after the fold cancels nothing more. */
				disable_timeout(STATEMENT_TIMEOUT, true);
				if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
					QueryCancelPending = false;
			}
			cf_defs_release();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	if (ids == NIL)
		return false;
	list_free(ids);
	return true;
}

/*
 * A fold worker: folds every deferred counter of its database, round after
 * round while its database is noted again meanwhile, then exits.  A fold
 * that failed leaves the database noted, for a new worker at the next
 * round.
 */
void
counterfield_fold_main(Datum arg)
{
	Oid			database = DatumGetObjectId(arg);
	bool		failed = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);

	/* A lock held elsewhere makes a counter wait for the next round. */
	(void) set_config_option("lock_timeout", FOLD_LOCK_TIMEOUT, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);

	(void) noted(database, true);
	for (;;)
	{
		pgstat_report_activity(STATE_RUNNING, "folding deferred counters");
		if (!fold_round(&failed) || failed)
			break;
		if (fold_interval <= 0 || fold_interval > FOLD_STAY_MS || notes->crowded)
			break;
		wait_interval(GetCurrentTimestamp(), false);
		if (!noted(database, true))
			break;
	}
	if (failed)
		cf_worker_note(database);
	proc_exit(0);
}
