/*-------------------------------------------------------------------------
 *
 * inflight.c
 *	  Parents counted while a statement on their child is still running.
 *
 * A new parent row (or one whose key changes) is counted by the parent's
 * guard: the children it sees, less the deltas still pending.  That misses
 * the deltas of a statement on the child that is still running, whose
 * statement trigger has not fired yet: a trigger of that statement that
 * creates the parent ("get or create", as ORMs do with a deferred foreign
 * key) would see the statement's rows, and the statement's deltas would
 * then add them a second time.  So the statements that write a counted
 * child are tracked from executor start to executor finish, and a key
 * counted while one of them runs is counted again, from the truth, when the
 * outermost of them has finished and its deltas are in.
 *
 * The other way round, a statement on the child that runs while a parent
 * row is being inserted (a BEFORE trigger of the parent's that writes a
 * child row, say) finds no parent row to update yet, and its statement-mode
 * deltas would be lost: the keys it did not find are counted again when the
 * outermost statement writing the parent has finished.
 *
 * Entries left by a (sub)transaction that failed are recognised by their
 * transaction and subtransaction and ignored; nothing here runs at abort.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/pg_list.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "counterfield.h"

/* A statement that writes a counted child, from start to finish. */
typedef struct RunningStatement
{
	QueryDesc  *query;
	Oid			root;			/* the counted child it writes, or InvalidOid */
	Oid			parent;			/* the parent it writes, or InvalidOid */
	CommandId	cid;			/* of the rows it writes */
	LocalTransactionId lxid;
	SubTransactionId subid;
} RunningStatement;

/* A parent key counted while a statement on its child ran. */
typedef struct RecountKey
{
	QueryDesc  *after;			/* recount when this finishes, or NULL: at commit */
	int32		counter_id;
	Datum	   *values;			/* in TopMemoryContext */
	LocalTransactionId lxid;
	SubTransactionId subid;
} RecountKey;

static RunningStatement *running = NULL;
static int	nrunning = 0;
static int	maxrunning = 0;
static List *recounts = NIL;	/* RecountKey *, in TopMemoryContext */

/* The last command whose rows of a counted child were counted, and when. */
static LocalTransactionId counted_lxid = InvalidLocalTransactionId;
static CommandId counted_cid = InvalidCommandId;

/* The parent table whose new row the guard last counted, and when. */
static Oid	guarded_relid = InvalidOid;
static LocalTransactionId guarded_lxid = InvalidLocalTransactionId;
static CommandId guarded_cid = InvalidCommandId;

static ExecutorFinish_hook_type prev_executor_finish = NULL;

/* Is an entry of this transaction and subtransaction still live? */
static bool
entry_is_live(LocalTransactionId lxid, SubTransactionId subid)
{
	return lxid == CF_CURRENT_LXID() && cf_subxact_is_live(subid);
}

/* Forgets running statements that a failed (sub)transaction left. */
static void
forget_dead_statements(void)
{
	while (nrunning > 0 &&
		   !entry_is_live(running[nrunning - 1].lxid, running[nrunning - 1].subid))
		nrunning--;
}

/*
 * The outermost running statement that writes the counted child root, or
 * the parent table parent (InvalidOid matches neither); NULL if none does.
 */
static RunningStatement *
outermost_writing(Oid root, Oid parent)
{
	forget_dead_statements();
	for (int i = 0; i < nrunning; i++)
		if ((OidIsValid(root) && running[i].root == root) ||
			(OidIsValid(parent) && running[i].parent == parent))
			return &running[i];
	return NULL;
}

/*
 * Executor start-up of any statement: one that writes a counted child, or
 * a partition or inheritance child of one, is noted as running.
 */
void
cf_inflight_start(QueryDesc *queryDesc)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	CounterDefs *defs;
	ListCell   *lc;
	Oid			root = InvalidOid;
	Oid			parent = InvalidOid;

	if (stmt == NULL || stmt->resultRelations == NIL)
		return;
	defs = cf_defs_acquire();
	foreach(lc, stmt->resultRelations)
	{
		Oid			relid = rt_fetch(lfirst_int(lc), stmt->rtable)->relid;
		RelCounters *rc = cf_defs_for_rel(defs, relid);

		if (rc != NULL && rc->as_child != NIL && !OidIsValid(root))
			root = rc->root;
		if (rc != NULL && rc->as_parent != NIL && !OidIsValid(parent))
			parent = relid;
	}
	cf_defs_release();
	if (!OidIsValid(root) && !OidIsValid(parent))
		return;

	forget_dead_statements();
	running = cf_grow_array(running, nrunning, &maxrunning, sizeof(RunningStatement),
							TopMemoryContext);
	running[nrunning].query = queryDesc;
	running[nrunning].root = root;
	running[nrunning].parent = parent;
	running[nrunning].cid = queryDesc->estate ? queryDesc->estate->es_output_cid :
		GetCurrentCommandId(false);
	running[nrunning].lxid = CF_CURRENT_LXID();
	running[nrunning].subid = GetCurrentSubTransactionId();
	nrunning++;
}

/* Notes a key of a counter to be counted again when a statement finishes. */
static void
note_recount(QueryDesc *after, CounterDef *def, Datum *values)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	RecountKey *recount = palloc(sizeof(RecountKey));

	recount->after = after;
	recount->counter_id = def->id;
	recount->values = cf_copy_key(def, values, TopMemoryContext);
	recount->lxid = CF_CURRENT_LXID();
	recount->subid = GetCurrentSubTransactionId();
	recounts = lappend(recounts, recount);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Notes a parent key of a counter that the guard counted, to be counted
 * again when a statement has finished:
 *
 * - if a statement on the counter's child is running and the count saw its
 *   rows (a statement's own rows are visible only to later commands, such
 *   as those of its triggers), when the outermost such statement has
 *   finished and its deltas are in;
 * - if rows of a counted child were counted that the count cannot see,
 *   written by a command not older than its snapshot (a trigger of the
 *   parent's, or a function the statement writing the parent calls, that
 *   inserts child rows), whose deltas may already be pending or applied:
 *   when the outermost running statement that writes the parent has
 *   finished, or at commit when none is known (COPY, a partition named
 *   directly, a statement that started before counterfield was loaded).
 */
void
cf_inflight_note(CounterDef *def, Datum *values)
{
	RunningStatement *outermost;

	if (!ActiveSnapshotSet())
		return;
	guarded_relid = def->parent_relid;
	guarded_lxid = CF_CURRENT_LXID();
	guarded_cid = GetActiveSnapshot()->curcid;
	outermost = nrunning > 0 ? outermost_writing(def->child_relid, InvalidOid) : NULL;
	if (outermost != NULL && GetActiveSnapshot()->curcid > outermost->cid)
	{
		note_recount(outermost->query, def, values);
		return;
	}
	if (counted_lxid != CF_CURRENT_LXID() || counted_cid < GetActiveSnapshot()->curcid)
		return;
	outermost = nrunning > 0 ? outermost_writing(InvalidOid, def->parent_relid) : NULL;
	note_recount(outermost ? outermost->query : NULL, def, values);
}

/*
 * Notes that rows of a counted child written by the current command (or an
 * older one) have been counted.
 */
void
cf_inflight_counted(void)
{
	counted_cid = GetCurrentCommandId(false);
	counted_lxid = CF_CURRENT_LXID();
}

/*
 * Notes the parent keys of a target that a statement-mode flush found no row
 * for, if a statement writing that parent is running: the row may be on its
 * way, and the keys are counted again when the outermost such statement has
 * finished.  Where no such statement is known but the guard counted a new
 * row of that parent in an older command of this transaction (a COPY whose
 * parent's trigger writes child rows after the guard fired, say), they are
 * counted again at commit.
 */
void
cf_inflight_missing(CounterTarget *target, Datum *values)
{
	RunningStatement *outermost;
	QueryDesc  *after;
	ListCell   *lc;

	outermost = nrunning > 0 ? outermost_writing(InvalidOid, target->parent_relid) : NULL;
	if (outermost != NULL)
		after = outermost->query;
	else if (guarded_relid == target->parent_relid && guarded_lxid == CF_CURRENT_LXID() &&
			 GetCurrentCommandId(false) > guarded_cid)
		after = NULL;
	else
		return;
	foreach(lc, target->counters)
		note_recount(after, lfirst(lc), values);
}

/* Are two notes for the same counter and key? */
static bool
same_key(CounterDef *def, RecountKey *a, RecountKey *b)
{
	if (a->counter_id != b->counter_id)
		return false;
	for (int k = 0; k < def->nkeys; k++)
		if (!datum_image_eq(a->values[k], b->values[k], def->fk_typbyval[k],
							def->fk_typlen[k]))
			return false;
	return true;
}

/*
 * Counts again, from the truth, the keys noted to be counted when this
 * statement finished, or with queryDesc NULL (at commit) all keys noted.
 * Notes of failed (sub)transactions are dropped.
 */
static void
recount_after(QueryDesc *queryDesc)
{
	List	   *due = NIL;
	ListCell   *lc;
	CounterDefs *defs;

	foreach(lc, recounts)
	{
		RecountKey *recount = lfirst(lc);

		if (!entry_is_live(recount->lxid, recount->subid))
		{
			pfree(recount->values);
			pfree(recount);
		}
		else if (queryDesc == NULL || recount->after == queryDesc)
			due = lappend(due, recount);
		else
			continue;
		recounts = foreach_delete_current(recounts, lc);
	}
	if (due == NIL)
		return;

	/* The count sees the statement's rows and those of its triggers. */
	CommandCounterIncrement();
	if (ActiveSnapshotSet())
		PushCopiedSnapshot(GetActiveSnapshot());
	else
		PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	defs = cf_defs_acquire();
	foreach(lc, due)
	{
		RecountKey *recount = lfirst(lc);
		CounterDef *def = cf_defs_counter(defs, recount->counter_id);
		bool		again = false;

		/* A key noted twice (ON CONFLICT fires the guard too) goes once. */
		for (ListCell *ec = list_head(due); def != NULL && lfirst(ec) != recount && !again;
			 ec = lnext(due, ec))
			again = same_key(def, lfirst(ec), recount);
		if (def != NULL && !again)
			cf_recount_key(def, recount->values);
	}
	foreach(lc, due)
	{
		RecountKey *recount = lfirst(lc);

		pfree(recount->values);
		pfree(recount);
	}
	cf_defs_release();
	PopActiveSnapshot();
}

/*
 * Executor finish: the statement's AFTER triggers, counterfield's among
 * them, have fired.  A statement that wrote a counted child stops running,
 * and the keys counted while it ran are counted again if it was the
 * outermost such statement.
 */
static void
cf_executor_finish(QueryDesc *queryDesc)
{
	if (prev_executor_finish)
		prev_executor_finish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);

	forget_dead_statements();
	if (nrunning > 0 && running[nrunning - 1].query == queryDesc)
		nrunning--;
	if (recounts != NIL)
		recount_after(queryDesc);
}

/*
 * Before commit (or PREPARE), and before the transaction-mode deltas are
 * applied: the keys noted to be counted at commit are counted again.
 */
void
cf_inflight_at_commit(void)
{
	if (recounts != NIL)
		recount_after(NULL);
}

/* Registers the executor hook. */
void
cf_inflight_init(void)
{
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = cf_executor_finish;
}
