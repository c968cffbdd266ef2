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
 * child or a parent are tracked from executor start to executor finish (a
 * COPY FROM around the utility command), and a key counted while one of
 * them runs is counted again, from the truth, when the outermost of them
 * has finished and its deltas are in.
 *
 * The other way round, child rows that a statement writing a parent writes
 * meanwhile (a BEFORE trigger of the parent's, say) are invisible to the
 * new row's count while their deltas are pending, or were lost because the
 * row was not there yet: such keys are counted again when the outermost
 * statement writing the parent has finished.
 *
 * Where that statement cannot be followed (a partition of the parent named
 * directly, statements already running when counterfield was loaded), the
 * keys are counted again at commit, before the transaction-mode flush.
 *
 * Entries left by a (sub)transaction that failed are recognised by their
 * transaction and subtransaction and ignored; nothing here runs at abort.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "tcop/pquery.h"
#include "utils/portal.h"
#include "utils/hsearch.h"

#include "counterfield.h"

/*
 * A statement that writes a counted child or a parent, from start to finish:
 * one the executor runs (its QueryDesc), or a COPY (its PlannedStmt).
 */
typedef struct RunningStatement
{
	const void *statement;
	Oid			root;			/* the counted child it writes, or InvalidOid */
	Oid			parent;			/* the parent it writes, or InvalidOid */
	CommandId	cid;			/* of the rows it writes */
	bool		on_conflict;	/* an INSERT ... ON CONFLICT */
	bool		noted;			/* keys are to be counted again when it ends */
	bool		counted;		/* its trigger has counted its rows */
	int			links;			/* the intermediate tables of chains it writes */
	LocalTransactionId lxid;
	SubTransactionId subid;
} RunningStatement;

/*
 * A parent key to be counted again later, or with check, only if
 * cf_keylock_superseded says so.
 */
typedef struct RecountKey
{
	const void *after;			/* when this statement ends, or NULL: at
								 * commit */
	int32		counter_id;
	const KeyLayout *layout;	/* that of the key's values */
	Datum	   *values;			/* in notes_cxt */
	bool		check;			/* ask cf_keylock_superseded first */
	bool		chain;			/* noted for a chain
								 * (cf_inflight_recount_later) */
	TransactionId since;		/* its arguments */
	bool		inserted;
	CommandId	cid;
	LocalTransactionId lxid;
	SubTransactionId subid;
} RecountKey;

/* A parent table whose new row the guard counted in this transaction. */
typedef struct GuardedTable
{
	Oid			relid;
	CommandId	cid;			/* the first command that did */
} GuardedTable;

static RunningStatement *running = NULL;
static int	nrunning = 0;
static int	maxrunning = 0;
static List *recounts = NIL;	/* RecountKey *, in notes_cxt */

/* Holds the notes; emptied whenever none is left (a bulk load leaves many). */
static MemoryContext notes_cxt = NULL;

/* The last command whose rows of a counted child were counted, and when. */
static LocalTransactionId counted_lxid = InvalidLocalTransactionId;
static CommandId counted_cid = InvalidCommandId;

/*
 * The latest statements, by their own command ids, whose rows of a counted
 * child, and of an intermediate table of a chain, were counted.
 */
static LocalTransactionId child_counted_lxid = InvalidLocalTransactionId;
static CommandId child_counted_cid = InvalidCommandId;
static LocalTransactionId linked_lxid = InvalidLocalTransactionId;
static CommandId linked_cid = InvalidCommandId;

/* The parent tables whose new rows the guard counted in this transaction. */
static TxArray guarded = {.entrysize = sizeof(GuardedTable)};

/*
 * The transaction in which counterfield was loaded: its statements that were
 * running then were never followed.
 */
static LocalTransactionId loaded_lxid = InvalidLocalTransactionId;
static const void *loaded_portal = NULL;	/* the portal running then */
static TimestampTz loaded_portal_time = 0;	/* and when it was made */

static ExecutorFinish_hook_type prev_executor_finish = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;

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

/* Notes a statement that writes a counted child or a parent as running. */
static void
start_running(const void *statement, Oid root, Oid parent, int links, CommandId cid,
			  bool on_conflict)
{
	forget_dead_statements();
	running = cf_grow_array(running, nrunning, &maxrunning, sizeof(RunningStatement),
							TopMemoryContext);
	running[nrunning].statement = statement;
	running[nrunning].root = root;
	running[nrunning].parent = parent;
	running[nrunning].cid = cid;
	running[nrunning].on_conflict = on_conflict;
	running[nrunning].noted = false;
	running[nrunning].counted = false;
	running[nrunning].links = links;
	running[nrunning].lxid = CF_CURRENT_LXID();
	running[nrunning].subid = GetCurrentSubTransactionId();
	nrunning++;
}

/*
 * Sets *root and *parent to the counted child and the parent that a write
 * to relid writes, if any, and counts relid in *links if it is an
 * intermediate table of a chain.
 */
static void
written_by(CounterDefs *defs, Oid relid, Oid *root, Oid *parent, int *links)
{
	RelCounters *rc = cf_defs_for_rel(defs, relid);

	if (rc != NULL && rc->as_child != NIL && !OidIsValid(*root))
		*root = rc->root;
	if (rc != NULL && rc->as_parent != NIL && !OidIsValid(*parent))
		*parent = relid;
	if (rc != NULL && rc->as_link != NIL)
		(*links)++;
}

/* Does a statement have an INSERT ... ON CONFLICT, at its top or in a WITH? */
static bool
has_on_conflict(PlannedStmt *stmt)
{
	ListCell   *lc;

	if (stmt->planTree != NULL && IsA(stmt->planTree, ModifyTable) &&
		((ModifyTable *) stmt->planTree)->onConflictAction != ONCONFLICT_NONE)
		return true;
	foreach(lc, stmt->subplans)
	{
		Plan	   *plan = lfirst(lc);

		if (plan != NULL && IsA(plan, ModifyTable) &&
			((ModifyTable *) plan)->onConflictAction != ONCONFLICT_NONE)
			return true;
	}
	return false;
}

/*
 * Executor start-up of any statement: one that writes a counted child, or
 * a partition or inheritance child of one, or a parent, is noted as running.
 */
void
cf_inflight_start(QueryDesc *queryDesc)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	CounterDefs *defs;
	ListCell   *lc;
	Oid			root = InvalidOid;
	Oid			parent = InvalidOid;
	int			links = 0;

	if (stmt == NULL || stmt->resultRelations == NIL)
		return;
	defs = cf_defs_acquire();
	foreach(lc, stmt->resultRelations)
		written_by(defs, rt_fetch(lfirst_int(lc), stmt->rtable)->relid, &root, &parent, &links);
	cf_defs_release();
	if (OidIsValid(root) || OidIsValid(parent) || links > 0)
		start_running(queryDesc, root, parent, links,
					  queryDesc->estate ? queryDesc->estate->es_output_cid :
					  GetCurrentCommandId(false),
					  has_on_conflict(stmt));
}

/*
 * The command id of the outermost running statement that writes a counted
 * child (or a table under it) and whose trigger has yet to count its rows;
 * InvalidCommandId if none.
 */
CommandId
cf_inflight_child_cid(Oid child)
{
	forget_dead_statements();
	for (int i = 0; i < nrunning; i++)
		if (running[i].root == child && !running[i].counted)
			return running[i].cid;
	return InvalidCommandId;
}

static void note_recount(RunningStatement *after, CounterDef *def, Datum *values);

/*
 * Is a statement on an intermediate table of a chain, of command id since,
 * tangled with other writes of the chain: a statement writing the child or
 * another intermediate runs around it, or the child's rows or another
 * intermediate's were counted after it began (user code it ran, or the
 * cascades it caused)?  Notes the statement as counted, for the statements
 * around it.
 */
bool
cf_inflight_tangled(Oid child, CommandId since)
{
	bool		tangled;

	forget_dead_statements();

	/*
	 * Statements begun before counterfield was loaded went unseen: while the
	 * portal that ran then still runs, any of them may run around this.
	 */
	tangled = (loaded_lxid == CF_CURRENT_LXID() && loaded_portal == (const void *) ActivePortal &&
			   (ActivePortal == NULL || ActivePortal->creation_time == loaded_portal_time)) ||
		(child_counted_lxid == CF_CURRENT_LXID() && child_counted_cid > since) ||
		(linked_lxid == CF_CURRENT_LXID() && linked_cid > since);
	/* The statement itself is the innermost one running, of command since. */
	for (int i = 0; i < nrunning && !tangled; i++)
		tangled = running[i].root == child ||
			(running[i].links > 0 &&
			 !(i == nrunning - 1 && running[i].cid == since && running[i].links == 1));
	/* Statements on intermediates begun before this one are tangled. */
	if (linked_lxid != CF_CURRENT_LXID() || linked_cid < since)
		linked_cid = since;
	linked_lxid = CF_CURRENT_LXID();
	return tangled;
}

/*
 * Notes a parent key of a chain to be counted again when the outermost
 * running statement has finished (its triggers, and every trigger they
 * caused, having fired), or at commit if none runs.
 */
void
cf_inflight_recount_later(CounterDef *def, Datum *values)
{
	forget_dead_statements();
	note_recount(nrunning > 0 ? &running[0] : NULL, def, values);
	((RecountKey *) llast(recounts))->chain = true;
}

/* Does a running statement of command id cid write a counted child? */
bool
cf_inflight_writes_child_at(Oid child, CommandId cid)
{
	forget_dead_statements();
	for (int i = 0; i < nrunning; i++)
		if (running[i].root == child && running[i].cid == cid)
			return true;
	return false;
}

/*
 * Is the parent's row that the guard fires for written by an INSERT ... ON
 * CONFLICT: is the innermost running statement that writes the parent one?
 */
bool
cf_inflight_on_conflict(Oid parent)
{
	forget_dead_statements();
	for (int i = nrunning - 1; i >= 0; i--)
		if (running[i].parent == parent)
			return running[i].on_conflict;
	return false;
}

static void note_key(RunningStatement *after, CounterDef *def, Datum *values, bool check,
					 TransactionId since, bool inserted, CommandId cid);

/*
 * Notes a key of a counter to be counted again when a running statement
 * ends, or with after NULL at commit.
 */
static void
note_recount(RunningStatement *after, CounterDef *def, Datum *values)
{
	note_key(after, def, values, false, InvalidTransactionId, false, InvalidCommandId);
}

/*
 * Notes a key as note_recount does, with check to be counted again only if
 * cf_keylock_superseded says so.
 */
static void
note_key(RunningStatement *after, CounterDef *def, Datum *values, bool check,
		 TransactionId since, bool inserted, CommandId cid)
{
	MemoryContext oldcxt;
	RecountKey *recount;

	if (notes_cxt == NULL)
		notes_cxt = AllocSetContextCreate(TopMemoryContext, "counterfield recounts",
										  ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(notes_cxt);
	recount = palloc(sizeof(RecountKey));

	if (after != NULL)
		after->noted = true;
	recount->after = after ? after->statement : NULL;
	recount->counter_id = def->id;
	recount->layout = def->layout;
	recount->values = cf_copy_key(def, values, notes_cxt);
	recount->check = check;
	recount->chain = false;
	recount->since = since;
	recount->inserted = inserted;
	recount->cid = cid;
	recount->lxid = CF_CURRENT_LXID();
	recount->subid = GetCurrentSubTransactionId();
	recounts = lappend(recounts, recount);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Notes a parent key of a counter that the guard counted, to be counted
 * again when a statement has finished:
 *
 * - if a statement on the counter's child is running and the count saw
 *   children (a statement's own rows are visible only to later commands,
 *   such as those of its triggers), when the outermost such statement has
 *   finished and its deltas are in; at commit when the statement may have
 *   been running since before counterfield was loaded;
 * - if rows of a counted child were counted that the count cannot see,
 *   written by a command not older than its snapshot (a trigger of the
 *   parent's, or a function the statement writing the parent calls, that
 *   inserts child rows), whose deltas may already be pending or applied:
 *   when the outermost running statement that writes the parent has
 *   finished, or at commit when none is known (a partition named directly,
 *   a statement that started before counterfield was loaded).
 *
 * - if the count left out statement-mode deltas of the key that were kept
 *   for commit (kept), its row having been missing: when the outermost
 *   running statement that writes the parent has finished, or at commit.
 *
 * Every parent table the guard counts a new row of is remembered for the
 * transaction (see cf_inflight_missing).
 */
void
cf_inflight_note(CounterDef *def, Datum *values, int64 children, bool kept)
{
	RunningStatement *outermost;
	CommandId	curcid;
	GuardedTable *entry;
	bool		added;

	/* Rows of a sum may add up to 0: its count may have seen some anyway. */
	bool		saw = children != 0 || def->sum_attnum != InvalidAttrNumber;

	/*
	 * Statement-mode deltas kept for commit, their row missing: once the row
	 * is in, the key is counted again and they are cancelled.
	 */
	if (kept)
		note_recount(nrunning > 0 ? outermost_writing(InvalidOid, def->parent_relid) : NULL,
					 def, values);
	if (!ActiveSnapshotSet())
		return;
	curcid = GetActiveSnapshot()->curcid;

	/* The parent tables whose new rows the guard counted, and since when. */
	entry = cf_tx_relation(&guarded, def->parent_relid, true, &added);
	if (added)
		entry->cid = curcid;

	/*
	 * Children the count saw may be counted again by a statement still
	 * running: one seen to start, whose end counts the key again, or, in the
	 * transaction that loaded counterfield, one running since before, for
	 * which the key is counted again at commit as well.
	 */
	outermost = nrunning > 0 ? outermost_writing(def->child_relid, InvalidOid) : NULL;
	if (saw && loaded_lxid == CF_CURRENT_LXID())
		note_recount(NULL, def, values);
	if (saw && outermost != NULL && curcid > outermost->cid)
	{
		note_recount(outermost, def, values);
		return;
	}
	if (saw && loaded_lxid == CF_CURRENT_LXID())
		return;
	if (counted_lxid != CF_CURRENT_LXID() || counted_cid < curcid)
		return;
	outermost = nrunning > 0 ? outermost_writing(InvalidOid, def->parent_relid) : NULL;
	note_recount(outermost, def, values);
}

/*
 * Notes a parent key that the guard counted with a snapshot whose xmin was
 * since (or, since invalid, did not count), for a row that command cid
 * inserts or re-keys, to be looked at again when the outermost running
 * statement that writes the parent or the counter's child has finished,
 * its deltas in: the row may have waited in the unique index for another
 * row of the key, and the count missed children whose deltas went to that
 * row (keylock.c).  Where no such statement is known (a partition named
 * directly), the key is counted again at commit: by then the versions of
 * that row may be gone.
 */
void
cf_inflight_check(CounterDef *def, Datum *values, TransactionId since, bool inserted)
{
	RunningStatement *outermost = (nrunning > 0 ?
								   outermost_writing(def->child_relid, def->parent_relid) : NULL);
	CommandId	cid = (ActiveSnapshotSet() ? GetActiveSnapshot()->curcid :
					   GetCurrentCommandId(false));
	RecountKey *last = recounts != NIL ? llast(recounts) : NULL;
	bool		same_target = false;
	ListCell   *lc;

	/*
	 * One note per row serves all counters of its target: the guard counts
	 * the others for the same row right after.
	 */
	if (last != NULL && last->check)
		foreach(lc, def->target->counters)
			same_target |= ((CounterDef *) lfirst(lc))->id == last->counter_id;
	if (outermost != NULL && same_target && last->layout == def->layout &&
		last->cid == cid && last->inserted == inserted &&
		last->after == outermost->statement && entry_is_live(last->lxid, last->subid) &&
		cf_compare_keys(def->target, last->values, values) == 0)
	{
		if (TransactionIdIsValid(last->since) &&
			(!TransactionIdIsValid(since) || TransactionIdPrecedes(since, last->since)))
			last->since = since;
		return;
	}
	note_key(outermost, def, values, outermost != NULL, since, inserted, cid);
}

/*
 * Notes that rows of a counted child written by the current command (or an
 * older one) have been counted.
 */
void
cf_inflight_counted(Oid root)
{
	CommandId	cid;

	counted_cid = GetCurrentCommandId(false);
	counted_lxid = CF_CURRENT_LXID();
	/* The statement whose trigger counts is the innermost one writing root. */
	forget_dead_statements();
	cid = counted_cid;
	for (int i = nrunning - 1; i >= 0; i--)
		if (running[i].root == root)
		{
			running[i].counted = true;
			cid = running[i].cid;
			break;
		}
	if (child_counted_lxid != CF_CURRENT_LXID() || child_counted_cid < cid)
		child_counted_cid = cid;
	child_counted_lxid = CF_CURRENT_LXID();
}

/*
 * Notes the parent keys of a target that a statement-mode flush found no row
 * for, if a statement writing that parent is running: the row may be on its
 * way, and the keys are counted again when the outermost such statement has
 * finished.  Where no such statement is known but the guard counted a new
 * row of that parent in an older command of this transaction (a partition
 * named directly, whose parent's trigger writes child rows after the guard
 * fired, say), they are counted again at commit.
 */
void
cf_inflight_missing(CounterTarget *target, Datum *values)
{
	RunningStatement *outermost;
	GuardedTable *entry;
	ListCell   *lc;

	outermost = nrunning > 0 ? outermost_writing(InvalidOid, target->parent_relid) : NULL;
	entry = outermost ? NULL : cf_tx_relation(&guarded, target->parent_relid, false, NULL);
	if (outermost == NULL && (entry == NULL || GetCurrentCommandId(false) <= entry->cid))
		return;
	foreach(lc, target->counters)
		note_recount(outermost, lfirst(lc), values);
}

/* Are two notes for the same counter and key? */
static bool
same_key(CounterDef *def, RecountKey *a, RecountKey *b)
{
	if (a->counter_id != b->counter_id || a->layout != b->layout)
		return false;
	for (int k = 0; k < def->nkeys; k++)
		if (!datum_image_eq(a->values[k], b->values[k], def->fk_typbyval[k],
							def->fk_typlen[k]))
			return false;
	return true;
}

/* The keys one recount has counted: by counter and key hash, the notes. */
typedef struct SeenKeys
{
	uint64		hash;			/* counter id, then key hash */
	List	   *notes;			/* RecountKey * with that hash */
} SeenKeys;

/*
 * Has the running recount counted this note's counter and key already?  If
 * not, remembers it as counted, in *seen (created on first use, in the
 * current memory context).
 */
static bool
counted_already(HTAB **seen, CounterDef *def, RecountKey *recount)
{
	uint64		hash = (((uint64) (uint32) recount->counter_id << 32) |
						cf_key_hash(def->target->layout, recount->values));
	SeenKeys   *entry;
	bool		found;
	ListCell   *lc;

	if (*seen == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(SeenKeys);
		ctl.hcxt = CurrentMemoryContext;
		*seen = hash_create("counterfield recounted keys", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(*seen, &hash, HASH_ENTER, &found);
	if (!found)
		entry->notes = NIL;
	foreach(lc, entry->notes)
	{
		if (same_key(def, lfirst(lc), recount))
			return true;
	}
	entry->notes = lappend(entry->notes, recount);
	return false;
}

/*
 * Counts again, from the truth, the keys noted to be counted when this
 * statement finished, or with queryDesc NULL (at commit) all keys noted.
 * Notes of failed (sub)transactions are dropped.
 */
static void
recount_after(const void *statement)
{
	List	   *due = NIL;
	List	   *kept = NIL;
	ListCell   *lc;
	CounterDefs *defs;
	MemoryContext oldcxt = MemoryContextSwitchTo(notes_cxt);
	RecountKey *done = NULL;
	HTAB	   *seen = NULL;

	foreach(lc, recounts)
	{
		RecountKey *recount = lfirst(lc);

		if (!entry_is_live(recount->lxid, recount->subid))
		{
			pfree(recount->values);
			pfree(recount);
		}
		else if (statement == NULL || recount->after == statement)
			due = lappend(due, recount);
		else
			kept = lappend(kept, recount);
	}
	list_free(recounts);
	recounts = kept;
	MemoryContextSwitchTo(oldcxt);
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

		/*
		 * A key whose type changed since is not read, and its counter was
		 * recomputed by that change; a key noted more than once (ON CONFLICT
		 * fires the guard too; nested chain writes note a key per row) is
		 * counted once.
		 */
		if (def == NULL || def->layout != recount->layout)
			continue;
		if (recount->check)
		{
			ListCell   *lc2;

			/* for every counter of the key (cf_inflight_check) */
			if (cf_keylock_superseded(def->target, recount->values, recount->since,
									  recount->inserted, recount->cid))
				foreach(lc2, def->target->counters)
					cf_recount_key(lfirst(lc2), recount->values);
			continue;
		}
		if ((done != NULL && same_key(def, done, recount)) ||
			counted_already(&seen, def, recount))
			continue;
		/* A deferred counter's parent row is not written by a chain's writes. */
		if (recount->chain && def->deferred)
			cf_correct_key(def, recount->values);
		else
			cf_recount_key(def, recount->values);
		done = recount;
	}
	foreach(lc, due)
	{
		RecountKey *recount = lfirst(lc);

		pfree(recount->values);
		pfree(recount);
	}
	list_free(due);
	if (seen != NULL)
		hash_destroy(seen);
	cf_defs_release();
	PopActiveSnapshot();
}

/*
 * Counts again the keys due when a statement has finished, or at commit
 * (recount_after); once no note is left, and no count runs further out,
 * lets go of the notes' memory.
 */
static void
recount_due(const void *statement)
{
	static int	depth = 0;

	depth++;
	PG_TRY();
	{
		recount_after(statement);
	}
	PG_FINALLY();
	{
		depth--;
	}
	PG_END_TRY();
	if (depth == 0 && recounts == NIL && notes_cxt != NULL)
		MemoryContextReset(notes_cxt);
}

/*
 * A running statement has ended, its AFTER triggers, counterfield's among
 * them, fired: it stops running, and the keys noted to be counted again
 * when it ended are.
 */
static void
finish_running(const void *statement)
{
	forget_dead_statements();
	if (nrunning > 0 && running[nrunning - 1].statement == statement)
	{
		nrunning--;
		if (running[nrunning].noted)
			recount_due(statement);
	}
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

	finish_running(queryDesc);
	if (queryDesc->estate != NULL &&
		(queryDesc->operation != CMD_SELECT || queryDesc->plannedstmt->hasModifyingCTE))
		cf_keylock_statement_end(queryDesc->estate->es_output_cid);
}

/*
 * Before commit (or PREPARE), and before the transaction-mode deltas are
 * applied: the keys noted to be counted at commit are counted again.
 */
void
cf_inflight_at_commit(void)
{
	if (recounts != NIL)
		recount_due(NULL);
}

/*
 * COPY FROM does not pass through the executor hooks: one into a counted
 * child or a parent is noted as running around the command.
 */
static void
#if PG_VERSION_NUM >= 140000
cf_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
#else
cf_process_utility(PlannedStmt *pstmt, const char *queryString,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
#endif
{
	CopyStmt   *copy = IsA(pstmt->utilityStmt, CopyStmt) ? (CopyStmt *) pstmt->utilityStmt : NULL;
	Oid			root = InvalidOid;
	Oid			parent = InvalidOid;
	int			links = 0;
	CommandId	cid = InvalidCommandId;

	/* DDL may want the ledger that deferred writes keep open (ledger.c). */
	switch (nodeTag(pstmt->utilityStmt))
	{
		case T_ExecuteStmt:
		case T_PrepareStmt:
		case T_DeallocateStmt:
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_CopyStmt:
		case T_DoStmt:
		case T_CallStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_NotifyStmt:
			break;
		default:
			cf_ledger_close(false);
	}

	if (copy != NULL && copy->is_from && copy->relation != NULL && IsTransactionState())
	{
		Oid			relid = RangeVarGetRelid(copy->relation, NoLock, true);

		if (OidIsValid(relid))
		{
			CounterDefs *defs = cf_defs_acquire();

			written_by(defs, relid, &root, &parent, &links);
			cf_defs_release();
		}
		if (OidIsValid(root) || OidIsValid(parent) || links > 0)
			start_running(pstmt, root, parent, links, GetCurrentCommandId(false), false);
		cid = GetCurrentCommandId(false);
	}
#if PG_VERSION_NUM >= 140000
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
							 dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
								dest, qc);
#else
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, context, params, queryEnv, dest, qc);
#endif
	if (OidIsValid(root) || OidIsValid(parent) || links > 0)
		finish_running(pstmt);
	if (cid != InvalidCommandId)
		cf_keylock_statement_end(cid);

	/* The prepared transaction may have recorded deltas (worker.c). */
	if (IsA(pstmt->utilityStmt, TransactionStmt) &&
		((TransactionStmt *) pstmt->utilityStmt)->kind == TRANS_STMT_COMMIT_PREPARED)
		cf_worker_note(MyDatabaseId);
}

/*
 * Registers the executor and utility hooks.  Statements already running in
 * the transaction that loads counterfield were not seen to start: keys the
 * guard counts in that transaction are counted again at commit.
 */
void
cf_inflight_init(void)
{
	if (MyProc != NULL && IsTransactionState())
	{
		loaded_lxid = CF_CURRENT_LXID();
		loaded_portal = ActivePortal;
		loaded_portal_time = ActivePortal ? ActivePortal->creation_time : 0;
	}
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = cf_executor_finish;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = cf_process_utility;
}
