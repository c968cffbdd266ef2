/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  Applying pending deltas to parent tables.
 *
 * Deltas are sorted by parent table, key columns and key value, and every
 * distinct parent key gets one UPDATE that adds the deltas of all counters
 * it holds.  Since every flush of every backend locks parent rows in this
 * one order, two flushes cannot deadlock with each other.  The UPDATE runs
 * through SPI as the parent's owner, so constraints, indexes and the
 * parent's other triggers apply, and the writer needs no privilege on the
 * parent.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "optimizer/optimizer.h"
#include "nodes/bitmapset.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "counterfield.h"

/* Rounds of commit-time flushing before giving up on a trigger loop. */
#define MAX_COMMIT_ROUNDS	100

/* From this many flush items on, integer keys are sorted by radix. */
#define RADIX_MIN_ITEMS		64

/* From this many distinct keys on, a target is updated as one batch. */
#define BATCH_MIN_KEYS		8

/*
 * counterfield's own write of a parent: the table it is writing while
 * cf_parent_write runs (the guard lets its counter columns through, and
 * anything else that updates the table meanwhile), and the table whose
 * next UPDATE to start is that write (run without the guard), until it
 * starts.
 */
static Oid	writing_relid = InvalidOid;
static Oid	own_update_relid = InvalidOid;

/* Is counterfield itself writing to this parent table? */
bool
cf_internal_write_to(Oid relid)
{
	return OidIsValid(writing_relid) && writing_relid == relid;
}

/*
 * counterfield's running own UPDATE of a parent with other BEFORE UPDATE row
 * triggers (see cf_drop_guard): the rows whose change reached those triggers,
 * and the last such row as counterfield meant it, to compare with what they
 * leave of it.  Saved and restored around each write, which may nest.
 */
typedef struct OwnUpdate
{
	int64		reached;		/* changed rows that reached the first copy */
	int64		passed;			/* of those, rows that reached the last copy */
	bool		changed;		/* does counterfield's UPDATE change meant? */
	MemoryContext cxt;			/* holds meant, reset for each row */
	Oid			relid;			/* table of the row in meant */
	ItemPointerData tid;		/* the row's old version */
	HeapTuple	meant;			/* its new version, as counterfield's UPDATE
								 * made it */
} OwnUpdate;

static OwnUpdate own_update;

/*
 * Deltas on their way to parent rows, for a parent row counted meanwhile
 * (by a trigger that a parent update fires) to leave out: those of each
 * running cf_apply not yet written, innermost first, and at commit those
 * whose rows were missing, until they are looked for again.
 */
typedef struct Applying
{
	FlushItem  *items;
	int			nitems;
	int			written;		/* items before this one are done with */
	bool		folding;		/* deferred counters' deltas being folded */
	struct Applying *outer;
} Applying;

static Applying *applying = NULL;
static MissingKeys *collecting = NULL;

/* Parent rows that the running fold has updated. */
static int64 folded_rows = 0;

static ExecutorStart_hook_type prev_executor_start = NULL;

/* Orders two key values of one target in the btree order of its columns. */
int
cf_compare_keys(CounterTarget *target, Datum *a, Datum *b)
{
	for (int k = 0; k < target->nkeys; k++)
	{
		int			c = ApplySortComparator(a[k], false, b[k], false, &target->sort[k]);

		if (c != 0)
			return c;
	}
	return 0;
}

/* Orders items by parent table, key columns, key value and counter. */
static int
compare_items(const void *a, const void *b)
{
	const FlushItem *x = a;
	const FlushItem *y = b;
	CounterTarget *tx = x->def->target;
	CounterTarget *ty = y->def->target;
	int			c;

	if (tx->parent_relid != ty->parent_relid)
		return tx->parent_relid < ty->parent_relid ? -1 : 1;
	if (tx != ty)
	{
		if (tx->deferred != ty->deferred)
			return tx->deferred ? 1 : -1;
		if (tx->nkeys != ty->nkeys)
			return tx->nkeys < ty->nkeys ? -1 : 1;
		for (int k = 0; k < tx->nkeys; k++)
			if (tx->attnums[k] != ty->attnums[k])
				return tx->attnums[k] < ty->attnums[k] ? -1 : 1;
	}
	c = cf_compare_keys(tx, x->values, y->values);
	if (c != 0)
		return c;
	if (x->counter_id != y->counter_id)
		return x->counter_id < y->counter_id ? -1 : 1;
	return 0;
}

/* Is this one of the integer types that radix_sort_items sorts? */
static bool
radix_type(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID || type == OIDOID;
}

/* Maps an integer key (radix_type) to an unsigned 64-bit value in its order. */
static inline uint64
radix_key(Oid type, Datum value)
{
	const uint64 sign = UINT64CONST(1) << 63;

	switch (type)
	{
		case INT2OID:
			return (uint64) (int64) DatumGetInt16(value) ^ sign;
		case INT4OID:
			return (uint64) (int64) DatumGetInt32(value) ^ sign;
		case INT8OID:
			return (uint64) DatumGetInt64(value) ^ sign;
		default:
			return (uint64) DatumGetObjectId(value);
	}
}

/* Are all items of one target whose key is one integer column? */
static bool
radix_sortable(FlushItem *items, int n)
{
	CounterTarget *target = items[0].def->target;

	if (target->nkeys != 1 || !radix_type(target->types[0]))
		return false;
	for (int i = 1; i < n; i++)
		if (items[i].def->target != target)
			return false;
	return true;
}

/*
 * Sorts the items of one target with a single integer key column in key
 * order: a least significant digit radix sort over the bytes in which the
 * keys differ, which takes a few passes over the items where a comparison
 * sort takes about log2(n) comparisons per item.  It is stable, so items of
 * one key keep their order, which the sums do not depend on.
 */
static void
radix_sort_items(FlushItem *items, int n)
{
	typedef struct
	{
		uint64		key;
		int			pos;
	} RadixEntry;
	Oid			type = items[0].def->target->types[0];
	RadixEntry *from = palloc(sizeof(RadixEntry) * n);
	RadixEntry *to = palloc(sizeof(RadixEntry) * n);
	FlushItem  *sorted;
	uint64		differ = 0;

	for (int i = 0; i < n; i++)
	{
		from[i].key = radix_key(type, items[i].values[0]);
		from[i].pos = i;
		differ |= from[i].key ^ from[0].key;
	}
	for (int shift = 0; shift < 64; shift += 8)
	{
		int			offsets[256] = {0};
		int			total = 0;
		RadixEntry *swap;

		if (((differ >> shift) & 0xFF) == 0)
			continue;
		for (int i = 0; i < n; i++)
			offsets[(from[i].key >> shift) & 0xFF]++;
		for (int b = 0; b < 256; b++)
		{
			int			count = offsets[b];

			offsets[b] = total;
			total += count;
		}
		for (int i = 0; i < n; i++)
			to[offsets[(from[i].key >> shift) & 0xFF]++] = from[i];
		swap = from;
		from = to;
		to = swap;
	}

	pfree(to);
	sorted = palloc(sizeof(FlushItem) * n);
	for (int i = 0; i < n; i++)
		sorted[i] = items[from[i].pos];
	memcpy(items, sorted, sizeof(FlushItem) * n);
	pfree(sorted);
	pfree(from);
}

/*
 * Locks a parent table for counterfield's write to it; returns false if the
 * table was dropped meanwhile, and its counters with it.  Done before the
 * SQL or the kept plan that names the table is built or checked: a rename
 * committed while this waited (ALTER TABLE p RENAME TO p_old; CREATE TABLE
 * p ...) has then invalidated the plan, which is built again under the
 * table's new name instead of being resolved again by its old one.
 */
bool
cf_lock_parent(Oid parent_relid)
{
	LockRelationOid(parent_relid, RowExclusiveLock);
	return SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent_relid));
}

/*
 * May the current user, whose write is being counted, read the whole
 * parent, with no row-level security in the way?
 */
static bool
writer_may_read(Oid parent_relid, Oid owner)
{
	return GetUserId() == owner || cf_may_read_table(parent_relid);
}

/*
 * Moves an error's detail (and the text given, first) to its detail for
 * the server log, after any it had.
 */
static void
hide_detail(ErrorData *edata, const char *text)
{
	StringInfoData log;

	initStringInfo(&log);
	if (edata->detail_log)
		appendStringInfoString(&log, edata->detail_log);
	if (text)
		appendStringInfo(&log, "%s%s", log.len > 0 ? " " : "", text);
	if (edata->detail)
		appendStringInfo(&log, "%s%s", log.len > 0 ? " " : "", edata->detail);
	edata->detail_log = log.len > 0 ? log.data : NULL;
	edata->detail = NULL;
}

static void rethrow_parent_error(bool may_read, MemoryContext cxt) pg_attribute_noreturn();

/*
 * Rethrows the error of a write to a parent table that ran as its owner,
 * in the memory context given.  Unless the writer may read the whole
 * parent, what could show its values goes to the server log only: the
 * detail of a violation of one of its integrity constraints (the failing
 * row, the key), and the message and query of a data exception (an
 * invalid input that a CHECK constraint cast, say), which become a general
 * message.  A deferred constraint check that a security-restricted
 * operation could not queue is explained.
 */
static void
rethrow_parent_error(bool may_read, MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	if (!may_read && ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
	{
		hide_detail(edata, NULL);
	}
	else if (!may_read && ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION)
	{
		const char *last;

		/* What a query that failed on a value may show, but the table. */
		hide_detail(edata, edata->message);
		edata->message = pstrdup(_("counterfield's update of the counters failed on a value of the table"));
		edata->message_id = NULL;
		edata->hint = pstrdup(_("The error is shown to roles that may read the whole table, and in the server log."));
		edata->internalquery = NULL;
		edata->internalpos = 0;
		edata->cursorpos = 0;
		last = edata->context ? strrchr(edata->context, '\n') : NULL;
		if (last != NULL)
			edata->context = pstrdup(last + 1);
	}
	else if (edata->message_id != NULL && edata->detail == NULL &&
			 strcmp(edata->message_id,
					"cannot fire deferred trigger within security-restricted operation") == 0)
	{
		edata->detail = pstrdup(_("The update of the table's counters runs code of its owner's (a trigger, a rule, or a constraint or index that calls a function that is not a built-in immutable one), so it runs in a security-restricted operation, which cannot queue the check of a deferred constraint."));
		edata->hint = pstrdup(_("Check the table's deferred constraints at once (SET CONSTRAINTS ... IMMEDIATE) before the counted write, or leave only PostgreSQL's own code in the update of the table."));
	}
	ReThrowError(edata);
}

/*
 * Runs a write to a parent table, from a plan or from SQL text, as the
 * parent's owner and past the parent's guard; returns the rows processed.
 * The write reads with the given snapshot, or, with InvalidSnapshot, as
 * any statement of the transaction does.  The caller has locked the table
 * (cf_lock_parent).
 *
 * The parent's own triggers run as its owner too, in a security-restricted
 * operation, with search_path pg_catalog, the parent's schema, pg_temp, and
 * settings they change are undone: they cannot reach into the session of
 * the role whose write is being counted, nor that role into them.  A BEFORE
 * UPDATE row trigger that returns NULL for a row counterfield updates would
 * lose that row's change for good: that is an error.
 */
int64
cf_parent_write(Oid parent_relid, Oid owner, SPIPlanPtr plan, const char *sql,
				Datum *params, int expected, Snapshot snapshot)
{
	OwnerContext saved;
	Oid			previous;
	OwnUpdate	outer = own_update;
	OwnUpdate	mine;
	volatile int ret;
	MemoryContext cxt = CurrentMemoryContext;
	bool		may_read = writer_may_read(parent_relid, owner);
	Relation	rel = table_open(parent_relid, RowExclusiveLock);

	cf_check_update_rules(rel);
	table_close(rel, NoLock);
	cf_begin_as_table_owner(parent_relid, owner, &saved);
	previous = writing_relid;
	writing_relid = parent_relid;
	own_update_relid = parent_relid;
	memset(&own_update, 0, sizeof(own_update));
	PG_TRY();
	{
		if (snapshot != InvalidSnapshot)
			ret = SPI_execute_snapshot(plan, params, NULL, snapshot, InvalidSnapshot,
									   false, true, 0);
		else if (plan)
			ret = SPI_execute_plan(plan, params, NULL, false, 0);
		else
			ret = SPI_execute(sql, false, 0);
	}
	PG_CATCH();
	{
		/* The settings are undone by the rollback that the error leads to. */
		own_update_relid = InvalidOid;
		own_update = outer;
		writing_relid = previous;
		SetUserIdAndSecContext(saved.userid, saved.sec_context);
		rethrow_parent_error(may_read, cxt);
	}
	PG_END_TRY();
	own_update_relid = InvalidOid;
	writing_relid = previous;
	cf_end_as_owner(&saved);
	mine = own_update;
	own_update = outer;
	if (mine.cxt != NULL)
		MemoryContextDelete(mine.cxt);
	if (ret != expected)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (mine.reached > mine.passed)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("a trigger on table \"%s\" skipped counterfield's update of its counters",
						get_rel_name(parent_relid)),
				 errdetail("A BEFORE UPDATE row trigger returned NULL for " INT64_FORMAT " of the " INT64_FORMAT " rows whose counters changed, which would leave their counters wrong.",
						   mine.reached - mine.passed, mine.reached),
				 errhint("Have the trigger return the new row when only counter columns change.")));
	return (int64) SPI_processed;
}

/*
 * Appends "p.k1 OPERATOR(=) d.cf_k1 AND ..." for the target's key; with
 * by_index, also "p.k1 OPERATOR(=) ANY ($1) AND ...", so that a custom plan
 * reads the parent through its key index rather than scanning it whole.
 */
static void
append_key_join(StringInfo sql, CounterTarget *target, bool by_index)
{
	for (int k = 0; k < target->nkeys; k++)
	{
		char	   *column = psprintf("p.%s", cf_column_sql(target->parent_relid,
															target->attnums[k]));

		cf_append_key_equal(sql, k, column, psprintf("d.cf_k%d", k + 1), target->types[k],
							InvalidOid);
		if (by_index)
			cf_append_key_equal(sql, 1, column, psprintf("ANY ($%d)", k + 1), target->types[k],
								InvalidOid);
	}
}

/*
 * Appends "c1 = p.c1 OPERATOR(+) <delta 1>, ..." for the target's counters,
 * each delta turned from units into a value of its counter (cf_value_sql).
 */
static void
append_set_list(StringInfo sql, CounterTarget *target, const char *fmt, int first)
{
	ListCell   *lc;

	foreach(lc, target->counters)
	{
		CounterDef *def = lfirst(lc);
		char	   *column = cf_column_sql(def->parent_relid, def->counter_attnum);
		int			i = foreach_current_index(lc);

		StringInfoData delta;

		initStringInfo(&delta);
		appendStringInfo(&delta, fmt, first + i);
		appendStringInfo(sql, "%s%s = p.%s OPERATOR(pg_catalog.+) %s", i > 0 ? ", " : "",
						 column, column, cf_value_sql(def, delta.data));
	}
}

/*
 * Appends "p.k1 = $1 AND p.k2 = $2 ..." for the target's key columns, and
 * sets their types as the first argument types.
 */
void
cf_append_key_match(StringInfo sql, CounterTarget *target, Oid *argtypes)
{
	for (int k = 0; k < target->nkeys; k++)
	{
		cf_append_key_equal(sql, k,
							psprintf("p.%s", cf_column_sql(target->parent_relid,
														   target->attnums[k])),
							psprintf("$%d", k + 1), target->types[k], InvalidOid);
		argtypes[k] = target->types[k];
	}
}

/* Prepares "UPDATE parent p SET c = p.c + $n, ... WHERE k = $1 ..." for a target. */
static SPIPlanPtr
update_plan(CounterTarget *target)
{
	StringInfoData sql;
	Oid			argtypes[INDEX_MAX_KEYS + MAX_TARGET_COUNTERS];
	int			nargs;

	if (cf_plan_is_current(&target->update_plan))
		return target->update_plan;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s AS p SET ", cf_relation_sql(target->parent_relid, false));
	append_set_list(&sql, target, "$%d", target->nkeys + 1);
	appendStringInfoString(&sql, " WHERE ");
	cf_append_key_match(&sql, target, argtypes);
	nargs = target->nkeys;
	for (int c = 0; c < list_length(target->counters); c++)
		argtypes[nargs++] = INT8OID;
	return cf_keep_plan(&target->update_plan, sql.data, nargs, argtypes);
}

/*
 * Prepares the two statements of a batch: an UPDATE that joins the parent
 * rows with arrays of keys and deltas, and one that locks the parent rows of
 * the keys in ascending key order, for when the UPDATE's plan does not visit
 * them in that order by itself (batch_in_key_order).  The UPDATE always runs
 * its generic plan, so that the plan checked is the plan run.
 */
static void
batch_plans(CounterTarget *target, SPIPlanPtr *lock, SPIPlanPtr *update)
{
	StringInfoData from;
	StringInfoData sql;
	Oid			argtypes[INDEX_MAX_KEYS + MAX_TARGET_COUNTERS];
	int			ncounters = list_length(target->counters);
	int			nargs = 0;

	if (cf_plan_is_current(&target->lock_plan) && cf_plan_is_current(&target->batch_plan))
	{
		*lock = target->lock_plan;
		*update = target->batch_plan;
		return;
	}

	/* ROWS FROM (pg_catalog.unnest($1), ...) AS d(cf_k1, ..., cf_d1, ...) */
	initStringInfo(&from);
	appendStringInfoString(&from, "ROWS FROM (");
	for (int i = 0; i < target->nkeys + ncounters; i++)
		appendStringInfo(&from, "%spg_catalog.unnest($%d)", i > 0 ? ", " : "", i + 1);
	appendStringInfoString(&from, ") WITH ORDINALITY AS d(");
	for (int k = 0; k < target->nkeys; k++)
	{
		appendStringInfo(&from, "%scf_k%d", k > 0 ? ", " : "", k + 1);
		argtypes[nargs++] = get_array_type(target->types[k]);
	}
	for (int c = 0; c < ncounters; c++)
	{
		appendStringInfo(&from, ", cf_d%d", c + 1);
		argtypes[nargs++] = INT8ARRAYOID;
	}
	appendStringInfoString(&from, ", cf_n)");

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT 1 FROM %s AS p, %s WHERE ",
					 cf_relation_sql(target->parent_relid, false), from.data);
	append_key_join(&sql, target, true);
	appendStringInfoString(&sql, " ORDER BY ");
	for (int k = 0; k < target->nkeys; k++)
		appendStringInfo(&sql, "%sp.%s", k > 0 ? ", " : "",
						 cf_column_sql(target->parent_relid, target->attnums[k]));
	appendStringInfoString(&sql, " FOR NO KEY UPDATE OF p");
	*lock = cf_keep_plan(&target->lock_plan, sql.data, nargs, argtypes);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s AS p SET ", cf_relation_sql(target->parent_relid, false));
	append_set_list(&sql, target, "d.cf_d%d", 1);
	appendStringInfo(&sql, " FROM %s WHERE ", from.data);
	append_key_join(&sql, target, false);
	appendStringInfoString(&sql, " RETURNING d.cf_n");
	*update = cf_keep_plan_options(&target->batch_plan, sql.data, nargs, argtypes,
								   CURSOR_OPT_GENERIC_PLAN);
}

/*
 * Does the batch UPDATE visit the parent rows in the order of its key
 * arrays, and so lock them in key order without a lock pass?  It does when
 * its plan is a nested loop whose outer side reads the arrays, which
 * cf_apply filled in key order.  Anything else, a hash join for instance,
 * visits the rows in another order.
 */
static bool
batch_in_key_order(SPIPlanPtr plan)
{
	CachedPlan *cplan = SPI_plan_get_cached_plan(plan);
	bool		ordered = false;

	if (cplan == NULL)
		return false;
	if (list_length(cplan->stmt_list) == 1)
	{
		PlannedStmt *stmt = linitial_node(PlannedStmt, cplan->stmt_list);
		Plan	   *top = stmt->planTree;
		Plan	   *join = NULL;

#if PG_VERSION_NUM >= 140000
		if (IsA(top, ModifyTable))
			join = outerPlan(top);
#else
		/* Before 14, each partition of the parent has a plan of its own. */
		if (IsA(top, ModifyTable) && list_length(((ModifyTable *) top)->plans) == 1)
			join = linitial(((ModifyTable *) top)->plans);
#endif
		ordered = join != NULL && IsA(join, NestLoop) &&
			outerPlan(join) != NULL && IsA(outerPlan(join), FunctionScan);
	}
#if PG_VERSION_NUM >= 140000
	ReleaseCachedPlan(cplan, CurrentResourceOwner);
#else
	ReleaseCachedPlan(cplan, true);
#endif
	return ordered;
}

/* Can this target's keys travel as arrays? */
static bool
batchable(CounterTarget *target)
{
	for (int k = 0; k < target->nkeys; k++)
		if (!OidIsValid(get_array_type(target->types[k])))
			return false;
	return true;
}

/*
 * Sets the planner and executor costs for the statements of a batch until
 * AtEOXact_GUC(true, level) with the level returned.  The parent rows of a
 * batch were just referenced by the rows being counted and are usually in
 * memory, so random_page_cost is set to seq_page_cost: with the default
 * costs the planner reads the whole parent table to reach as few as 1% of
 * its rows; now it does so only when a batch holds a large part of them.  A
 * batch of many keys sorts and hashes them, so work_mem is raised to
 * maintenance_work_mem, as ri_triggers.c does for its bulk check.
 */
static int
batch_costs(void)
{
	int			nestlevel = NewGUCNestLevel();
	char		value[64];

	snprintf(value, sizeof(value), "%g", seq_page_cost);
	(void) set_config_option("random_page_cost", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (maintenance_work_mem > work_mem)
	{
		snprintf(value, sizeof(value), "%d", maintenance_work_mem);
		(void) set_config_option("work_mem", value, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	return nestlevel;
}

static void update_one(CounterTarget *target, Datum *key, int64 *deltas, MissingKeys *missing);

/*
 * Deals with the deltas of a key whose parent row was not found: keeps
 * them until commit, collects them, or drops them (see MissingKeys).  A
 * statement writing the parent may be on its way to creating the row
 * (cf_inflight_missing).
 */
static void
missing_key(CounterTarget *target, Datum *key, int64 *deltas, MissingKeys *missing)
{
	ListCell   *lc;

	cf_inflight_missing(target, key);
	if (missing != NULL && !missing->collect)
	{
		/*
		 * A row on its way is waited for and looked for again; so is a
		 * committed one, once: it may have been committed after the snapshot,
		 * or be one that the UPDATE leaves alone.
		 */
		bool		committed;
		bool		waited = cf_keylock_wait_for_row(target, key, &committed);

		if (waited || (committed && !missing->looked_again))
		{
			Snapshot	snapshot = missing->snapshot;
			bool		looked_again = missing->looked_again;

			missing->snapshot = RegisterSnapshot(GetLatestSnapshot());
			missing->looked_again = !waited;
			update_one(target, key, deltas, missing);
			UnregisterSnapshot(missing->snapshot);
			missing->snapshot = snapshot;
			missing->looked_again = looked_again;
		}
		return;
	}
	foreach(lc, target->counters)
	{
		CounterDef *def = lfirst(lc);
		int64		delta = deltas[foreach_current_index(lc)];
		FlushItem  *item;

		if (delta == 0)
			continue;
		if (missing == NULL)
		{
			cf_state_add_at_commit(def, key, delta);
			continue;
		}
		missing->items = cf_grow_array(missing->items, missing->nitems, &missing->maxitems,
									   sizeof(FlushItem), missing->cxt);
		item = &missing->items[missing->nitems++];
		item->counter_id = def->id;
		item->def = def;
		item->values = cf_copy_key(def, key, missing->cxt);
		item->delta = delta;
	}
}

/*
 * Applies the deltas of many keys of one target with two statements; the
 * UPDATE returns the positions of the keys whose rows it found.
 */
static void
update_batch(CounterTarget *target, Datum **keys, int64 *deltas, int ngroups,
			 MissingKeys *missing)
{
	Snapshot	snapshot = missing ? missing->snapshot : InvalidSnapshot;
	int64		found;
	int			ncounters = list_length(target->counters);
	Datum		params[INDEX_MAX_KEYS + MAX_TARGET_COUNTERS];
	Datum	   *elems = palloc(sizeof(Datum) * ngroups);
	SPIPlanPtr	lock;
	SPIPlanPtr	update;
	int			nestlevel = batch_costs();

	batch_plans(target, &lock, &update);
	for (int k = 0; k < target->nkeys; k++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(target->types[k], &typlen, &typbyval, &typalign);
		for (int g = 0; g < ngroups; g++)
			elems[g] = keys[g][k];
		params[k] = PointerGetDatum(construct_array(elems, ngroups, target->types[k],
													typlen, typbyval, typalign));
	}
	for (int c = 0; c < ncounters; c++)
	{
		for (int g = 0; g < ngroups; g++)
			elems[g] = Int64GetDatum(deltas[g * ncounters + c]);
		params[target->nkeys + c] = PointerGetDatum(construct_array(elems, ngroups, INT8OID, 8,
																	FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	if (!batch_in_key_order(update))
		cf_parent_write(target->parent_relid, target->parent_owner, lock, NULL, params,
						SPI_OK_SELECT, snapshot);
	found = cf_parent_write(target->parent_relid, target->parent_owner, update, NULL, params,
							SPI_OK_UPDATE_RETURNING, snapshot);
	AtEOXact_GUC(true, nestlevel);
	if (applying->folding)
		folded_rows += found;
	if (found < ngroups)
	{
		bool	   *updated = palloc0(sizeof(bool) * ngroups);

		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														SPI_tuptable->tupdesc, 1, &isnull));

			if (!isnull && n >= 1 && n <= ngroups)
				updated[n - 1] = true;
		}
		SPI_freetuptable(SPI_tuptable);
		for (int g = 0; g < ngroups; g++)
			if (!updated[g])
				missing_key(target, keys[g], deltas + g * ncounters, missing);
		pfree(updated);
	}
	else
		SPI_freetuptable(SPI_tuptable);
	pfree(elems);
}

/* Applies the deltas of one key of a target. */
static void
update_one(CounterTarget *target, Datum *key, int64 *deltas, MissingKeys *missing)
{
	Datum		params[INDEX_MAX_KEYS + MAX_TARGET_COUNTERS];
	int			ncounters = list_length(target->counters);

	int64		updated;

	if (!cf_direct_update(target, key, deltas, missing ? missing->snapshot : InvalidSnapshot,
						  &updated))
	{
		for (int k = 0; k < target->nkeys; k++)
			params[k] = key[k];
		for (int c = 0; c < ncounters; c++)
			params[target->nkeys + c] = Int64GetDatum(deltas[c]);
		updated = cf_parent_write(target->parent_relid, target->parent_owner,
								  update_plan(target), NULL, params, SPI_OK_UPDATE,
								  missing ? missing->snapshot : InvalidSnapshot);
	}
	if (updated == 0)
		missing_key(target, key, deltas, missing);
	else if (applying->folding)
		folded_rows += updated;
}

/*
 * Applies the sorted items of one target: sums the deltas of each distinct
 * key, drops keys whose deltas cancel out, and updates the rest, one by one
 * or, for many keys, as one batch locked in key order.
 */
static void
apply_target(CounterTarget *target, FlushItem *items, int nitems, MissingKeys *missing)
{
	int			ncounters = list_length(target->counters);
	Datum	  **keys = palloc(sizeof(Datum *) * nitems);
	int		   *ends = palloc(sizeof(int) * nitems);
	int64	   *deltas = palloc(sizeof(int64) * nitems * ncounters);
	int			ngroups = 0;
	int			first = items - applying->items;

	Assert(ncounters <= MAX_TARGET_COUNTERS);
	Assert(!applying->folding || target->deferred);

	for (int i = 0, j; i < nitems; i = j)
	{
		int64	   *d = deltas + ngroups * ncounters;
		bool		any = false;

		memset(d, 0, sizeof(int64) * ncounters);
		for (j = i; j < nitems && cf_compare_keys(target, items[i].values, items[j].values) == 0; j++)
			d[items[j].def->target_slot] = cf_delta_add(d[items[j].def->target_slot],
														items[j].delta);
		for (int c = 0; c < ncounters; c++)
			any |= (d[c] != 0);
		if (any)
		{
			ends[ngroups] = j;
			keys[ngroups++] = items[i].values;
		}
	}

	/* A deferred counter's writer records its deltas; a fold applies them. */
	if (target->deferred && !applying->folding)
		cf_ledger_write(target, keys, deltas, ngroups);
	else if (ngroups >= BATCH_MIN_KEYS && batchable(target))
		update_batch(target, keys, deltas, ngroups, missing);
	else
		for (int g = 0; g < ngroups; g++)
		{
			update_one(target, keys[g], deltas + g * ncounters, missing);
			applying->written = first + ends[g];
		}
	pfree(keys);
	pfree(ends);
	pfree(deltas);
}

/* Sums the deltas of one counter and key in the given items. */
static int64
items_delta(FlushItem *items, int from, int to, CounterDef *def, Datum *values)
{
	int64		sum = 0;

	for (int i = from; i < to; i++)
		if (items[i].counter_id == def->id && items[i].def->layout == def->layout &&
			cf_compare_keys(def->target, items[i].values, values) == 0)
			sum = cf_delta_add(sum, items[i].delta);
	return sum;
}

/*
 * The deltas of a counter's key that are on their way to its parent row
 * (see Applying): a count of the key's children that sees their rows must
 * leave them out.
 */
int64
cf_flush_in_flight(CounterDef *def, Datum *values)
{
	int64		sum = 0;

	for (Applying *a = applying; a != NULL; a = a->outer)
		sum = cf_delta_add(sum, items_delta(a->items, a->written, a->nitems, def, values));
	if (collecting != NULL)
		sum = cf_delta_add(sum, items_delta(collecting->items, 0, collecting->nitems, def,
											values));
	return sum;
}

/* Adds the table being updated to error reports. */
static void
apply_error_callback(void *arg)
{
	CounterTarget **target = arg;
	char	   *name = *target ? get_rel_name((*target)->parent_relid) : NULL;

	if (name != NULL)
		errcontext("updating counters of table \"%s\"", name);
}

/*
 * Applies flush items: each distinct parent key once, in ascending key
 * order (see apply_target), skipping keys whose deltas add up to zero.
 * Deltas of keys without a parent row go as missing says.  Those of
 * deferred counters go to the ledger, unless they are being folded, when
 * they too update their parents.
 */
static void
apply_items(FlushItem *items, int nitems, MissingKeys *missing, bool folding)
{
	ErrorContextCallback errcallback;
	CounterTarget *current = NULL;
	Applying	mine;
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool may_read = true;
	int			n = 0;

	for (int i = 0; i < nitems; i++)
		if (items[i].def != NULL && items[i].delta != 0)
			items[n++] = items[i];
	if (n == 0)
		return;
	if (n >= RADIX_MIN_ITEMS && radix_sortable(items, n))
		radix_sort_items(items, n);
	else if (n > 1)
		qsort(items, n, sizeof(FlushItem), compare_items);

	errcallback.callback = apply_error_callback;
	errcallback.arg = &current;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	cf_spi_connect();
	mine.items = items;
	mine.nitems = n;
	mine.written = 0;
	mine.folding = folding;
	mine.outer = applying;
	applying = &mine;
	PG_TRY();
	{
		for (int i = 0, end; i < n; i = end)
		{
			OwnerContext owner;

			current = items[i].def->target;
			for (end = i; end < n && items[end].def->target == current; end++)
				;

			/*
			 * A parent that a trigger or another session dropped meanwhile
			 * took its counters with it.  The others are planned and written
			 * as their owner: planning folds constants in the parent's
			 * policies and rules.
			 */
			if (cf_lock_parent(current->parent_relid))
			{
				may_read = writer_may_read(current->parent_relid, current->parent_owner);
				cf_begin_as_table_owner(current->parent_relid, current->parent_owner, &owner);
				apply_target(current, items + i, end - i, missing);
				cf_end_as_owner(&owner);
				may_read = true;
			}
			mine.written = end;
		}
	}
	PG_CATCH();
	{
		/* The owner's user and settings are undone by the rollback. */
		applying = mine.outer;
		error_context_stack = errcallback.previous;
		rethrow_parent_error(may_read, cxt);
	}
	PG_END_TRY();
	applying = mine.outer;
	SPI_finish();

	error_context_stack = errcallback.previous;
}

void
cf_apply(FlushItem *items, int nitems, MissingKeys *missing)
{
	apply_items(items, nitems, missing, false);
}

/*
 * Applies the deltas of keys whose parent rows the commit did not find,
 * once their keys are locked, with a fresh snapshot; drops what is still
 * missing (see keylock.c).
 */
static void
apply_missing(MissingKeys *collected, bool folding)
{
	FlushItem  *items = collected->items;
	int			nitems = collected->nitems;
	Oid		   *parents = palloc(sizeof(Oid) * nitems);
	uint32	   *hashes = palloc(sizeof(uint32) * nitems);
	int			nlocks = 0;
	bool		deleted = false;
	MissingKeys drop = {0};

	/*
	 * Keys whose row this transaction deleted need no lock (keylock.c); the
	 * counters of one key come one after the other, and are looked at once.
	 */
	for (int i = 0; i < nitems; i++)
	{
		CounterTarget *target = items[i].def->target;

		if (i == 0 || items[i - 1].def->target != target ||
			cf_compare_keys(target, items[i - 1].values, items[i].values) != 0)
			deleted = cf_keylock_deleted_here(target, items[i].values);
		if (deleted)
			continue;
		parents[nlocks] = items[i].def->parent_relid;
		hashes[nlocks++] = cf_key_hash(target->layout, items[i].values);
	}
	if (nlocks > 0)
		cf_keylock_commit(parents, hashes, nlocks);

	/* From here on, cf_apply has them in flight. */
	collected->items = NULL;
	collected->nitems = collected->maxitems = 0;
	drop.snapshot = RegisterSnapshot(GetLatestSnapshot());
	apply_items(items, nitems, &drop, folding);
	UnregisterSnapshot(drop.snapshot);
	pfree(parents);
	pfree(hashes);
}

/*
 * Folds deferred counters' deltas, claimed from the ledger, into their
 * parents, as a commit applies transaction-mode deltas: keys whose rows
 * are missing are looked for again with their keys locked, then dropped.
 * Returns how many parent rows were updated.
 */
int64
cf_apply_fold(FlushItem *items, int nitems)
{
	MissingKeys collected = {0};
	MissingKeys *outer = collecting;
	int64		saved = folded_rows;
	int64		rows;

	collected.collect = true;
	collected.cxt = CurrentMemoryContext;
	folded_rows = 0;
	collecting = &collected;
	PG_TRY();
	{
		apply_items(items, nitems, &collected, true);
		if (collected.nitems > 0)
			apply_missing(&collected, true);
	}
	PG_FINALLY();
	{
		collecting = outer;
	}
	PG_END_TRY();
	rows = folded_rows;
	folded_rows = saved;
	return rows;
}

/*
 * Applies the pending deltas in rounds, until their writes (triggers of the
 * parents, say) leave none; then those whose rows were missing, with their
 * keys locked, and so on until nothing is left.  Before DDL, the deltas
 * whose rows were missing stay pending instead, for the commit: locking
 * their keys now would hold the locks, or the parent's table lock, through
 * the rest of the transaction.
 */
static void
flush_rounds(CounterDefs *defs, bool before_ddl, MissingKeys *collected)
{
	int			round = 0;

	for (;;)
	{
		int			nitems;
		FlushItem  *items = cf_state_take(defs, NIL, true, before_ddl, &nitems);

		if (nitems == 0 && collected->nitems > 0 && before_ddl)
		{
			cf_state_restore(collected->items, collected->nitems);
			break;
		}
		if (nitems == 0 && collected->nitems > 0)
		{
			apply_missing(collected, false);
			continue;
		}
		if (nitems == 0)
			break;
		if (++round > MAX_COMMIT_ROUNDS)
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("counter updates at commit did not settle after %d rounds",
							MAX_COMMIT_ROUNDS),
					 errhint("Check for triggers on parent tables that keep writing counted rows.")));
		cf_apply(items, nitems, collected);
		pfree(items);
	}
}

/*
 * Applies all live deltas of transaction-mode counters, and those that
 * statements kept until commit; records those of deferred counters in the
 * ledger.  Before DDL, each applied delta is cancelled by a layer of the
 * current subtransaction (see cf_state_take), and those whose rows are
 * missing stay pending (flush_rounds).
 */
static void
flush_transactional(bool before_ddl)
{
	CounterDefs *defs;
	MissingKeys collected = {0};
	MissingKeys *outer = collecting;

	collected.collect = true;
	collected.cxt = CurrentMemoryContext;
	PushActiveSnapshot(GetTransactionSnapshot());
	defs = cf_defs_acquire();
	collecting = &collected;
	PG_TRY();
	{
		flush_rounds(defs, before_ddl, &collected);
	}
	PG_FINALLY();
	{
		collecting = outer;
	}
	PG_END_TRY();
	cf_defs_release();
	PopActiveSnapshot();
}

/* Applies the transaction's transaction-mode deltas and noted recounts. */
static void
apply_at_commit(void)
{
	if (cf_state_has_live())
		flush_transactional(false);
	cf_citus_recount_noted();
}

/* Applies transaction-mode deltas when a transaction commits or prepares. */
static void
cf_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	/* Should anything have written to the ledger since the pre-commit. */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		cf_ledger_close(true);
	if (event == XACT_EVENT_COMMIT)
		cf_ledger_committed();
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
		return;
	cf_citus_sync_noted();
	cf_inflight_at_commit();

	/*
	 * A transaction that a manager of two-phase commits (Citus) prepares on
	 * several servers at once may wait here for a parent row that another
	 * such transaction, already prepared here, holds, while that one waits on
	 * another server for a row this one holds there.  No deadlock detector
	 * sees waits for a prepared transaction, so such a wait is bounded by
	 * counterfield.prepare_lock_timeout.
	 */
	if (event == XACT_EVENT_PRE_PREPARE && cf_prepare_lock_timeout > 0 &&
		(LockTimeout == 0 || LockTimeout > cf_prepare_lock_timeout))
	{
		MemoryContext cxt = CurrentMemoryContext;
		int			nestlevel = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", psprintf("%d", cf_prepare_lock_timeout),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		PG_TRY();
		{
			apply_at_commit();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
				PG_RE_THROW();
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
					 errmsg("counterfield could not update a parent row while the transaction prepared"),
					 errdetail("Another transaction held it for longer than counterfield.prepare_lock_timeout: two transactions prepared on several servers at once can wait for each other there, which no deadlock detector sees."),
					 errhint("Retry the transaction.")));
		}
		PG_END_TRY();
		AtEOXact_GUC(true, nestlevel);
	}
	else
		apply_at_commit();

	/*
	 * The deferred triggers of the transaction have fired by now: those that
	 * the updates above queued (the recheck of a deferred unique constraint
	 * that a new count may break) fire here, before the commit, rather than
	 * never.  With none queued, this does nothing.
	 */
	AfterTriggerFireDeferred();
	cf_ledger_close(false);
}

/*
 * Applies the transaction-mode deltas of this transaction now, before DDL
 * that might change what their keys mean (the type of a key column, say).
 * Each applied delta is cancelled by a layer of the current subtransaction,
 * so a rollback of that subtransaction undoes both.  Deltas of keys without
 * a parent row stay pending: they change nothing yet, and DDL that changes
 * what keys mean recomputes the counter, which cancels them
 * (cf_reinit_counter).
 */
void
cf_flush_before_ddl(void)
{
	if (cf_state_has_live())
		flush_transactional(true);
}

/*
 * The names of the guard as its two copies in cf_drop_guard carry them: the
 * guard knows those copies by these pointers.
 */
static char own_guard_first[] = CF_GUARD_UPDATE;
static char own_guard_last[] = CF_GUARD_UPDATE;

/* The guard's function, as last looked up; see cf_is_guard. */
static Oid	guard_function = InvalidOid;

/*
 * Is this trigger the guard of its table, by name and by function?  On a
 * shard of a distributed table, it is Citus's copy (cf_citus_counting_shard).
 */
bool
cf_is_guard(Trigger *trigger)
{
	if (strcmp(trigger->tgname, CF_GUARD_UPDATE) != 0 &&
		strcmp(trigger->tgname, CF_GUARD_UPDATE_0_4) != 0 &&
		(trigger->tgnargs == 0 || !cf_citus_shard_trigger(trigger->tgname, CF_GUARD_UPDATE)))
		return false;
	if (trigger->tgfoid != guard_function)
		guard_function = LookupFuncName(list_make2(makeString(CF_SCHEMA),
												   makeString("parent_trigger")),
										0, NULL, true);
	return trigger->tgfoid == guard_function;
}

/* Allocates the trigger arrays of a result relation anew, for n triggers. */
static void
resize_trigger_arrays(ResultRelInfo *rri, int n, int instrument, MemoryContext cxt)
{
	rri->ri_TrigFunctions = MemoryContextAllocZero(cxt, sizeof(FmgrInfo) * n);
	rri->ri_TrigWhenExprs = MemoryContextAllocZero(cxt, sizeof(ExprState *) * n);
	if (rri->ri_TrigInstrument != NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

#if PG_VERSION_NUM >= 140000
		rri->ri_TrigInstrument = InstrAlloc(n, instrument, false);
#else
		rri->ri_TrigInstrument = InstrAlloc(n, instrument);
#endif
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * Sets the guard apart in the triggers that an UPDATE by counterfield fires
 * on one parent table (or partition).  The guard would only let the write
 * through, but any BEFORE UPDATE row trigger makes PostgreSQL lock each row
 * before it updates it: a second tuple lock and WAL record per parent row.
 * So the guard is taken out, unless other BEFORE UPDATE row triggers make
 * PostgreSQL lock the rows anyway.  Then it fires before them and after
 * them (cf_own_guard_fired): one that returns NULL for a row, or gives the
 * row back with other counter values ("archived rows keep their values"),
 * would lose that row's change.  The trigger arrays of a result relation
 * are indexed like its TriggerDesc, sized for it and filled only when a
 * trigger first fires, so this is done right after executor start-up,
 * before any trigger has fired, and sizes them anew.
 */
void
cf_drop_guard(ResultRelInfo *rri, int instrument, MemoryContext cxt)
{
	TriggerDesc *trigdesc = rri->ri_TrigDesc;
	TriggerDesc *copy;
	Trigger    *slots;
	Trigger    *guard = NULL;
	int			n = 1;			/* slot 0 is the guard's, if it stays */

	if (trigdesc == NULL || !trigdesc->trig_update_before_row)
		return;
	copy = MemoryContextAlloc(cxt, sizeof(TriggerDesc));
	*copy = *trigdesc;
	slots = MemoryContextAlloc(cxt, sizeof(Trigger) * (trigdesc->numtriggers + 2));
	copy->trig_update_before_row = false;
	for (int i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];

		if (TRIGGER_TYPE_MATCHES(trigger->tgtype, TRIGGER_TYPE_ROW, TRIGGER_TYPE_BEFORE,
								 TRIGGER_TYPE_UPDATE))
		{
			if (guard == NULL && cf_is_guard(trigger))
			{
				guard = trigger;
				continue;
			}
			copy->trig_update_before_row = true;
		}
		slots[n++] = *trigger;
	}
	if (guard != NULL && copy->trig_update_before_row)
	{
		slots[0] = *guard;
		slots[0].tgname = own_guard_first;
		slots[n] = *guard;
		slots[n++].tgname = own_guard_last;
		copy->triggers = slots;
		copy->numtriggers = n;
		resize_trigger_arrays(rri, n, instrument, cxt);
	}
	else
	{
		copy->triggers = slots + 1;
		copy->numtriggers = n - 1;
	}
	rri->ri_TrigDesc = copy;
}

/*
 * Are two values of a column equal as its type (and collation) compares
 * them, as keys are compared: numeric 1.0 and 1.00, citext 'Ann' and 'ANN'?
 */
static bool
equal_as_type(Form_pg_attribute att, Datum a, Datum b)
{
	TypeCacheEntry *typentry = lookup_type_cache(att->atttypid, TYPECACHE_EQ_OPR_FINFO);

	if (!OidIsValid(typentry->eq_opr_finfo.fn_oid))
		return false;
	return DatumGetBool(FunctionCall2Coll(&typentry->eq_opr_finfo, att->attcollation, a, b));
}

/* Does any column differ between two versions of a row? */
static bool
row_changed(HeapTuple oldtuple, HeapTuple newtuple, TupleDesc desc)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		oldnull;
		bool		newnull;
		Datum		oldval;
		Datum		newval;

		if (att->attisdropped)
			continue;
		oldval = heap_getattr(oldtuple, i + 1, desc, &oldnull);
		newval = heap_getattr(newtuple, i + 1, desc, &newnull);
		if (oldnull != newnull ||
			(!oldnull && !datum_image_eq(oldval, newval, att->attbyval, att->attlen)))
			return true;
	}
	return false;
}

/* Is this one of the guard's copies in counterfield's own UPDATE? */
bool
cf_is_own_guard(Trigger *trigger)
{
	return trigger->tgname == own_guard_first || trigger->tgname == own_guard_last;
}

/*
 * The guard, fired as one of its copies in counterfield's own UPDATE
 * (cf_drop_guard), does what that copy is for.
 * Fired before the table's other BEFORE UPDATE row triggers, it counts a
 * row that counterfield's UPDATE changes and keeps every row as meant;
 * fired after them, it counts a changed row again and refuses any row if
 * they changed one of the counter or key columns of the table's counters
 * from what counterfield's UPDATE set, as their types compare.  A row they
 * skipped is counted only once: cf_parent_write compares the two counts.
 */
void
cf_own_guard_fired(TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	own_meant;
	Bitmapset  *columns;
	int			attnum = -1;

	if (trigdata->tg_trigger->tgname == own_guard_first)
	{
		MemoryContext oldcxt;

		own_update.changed = row_changed(trigdata->tg_trigtuple, trigdata->tg_newtuple, desc);
		if (own_update.changed)
			own_update.reached++;
		if (own_update.cxt == NULL)
			own_update.cxt = AllocSetContextCreate(CurTransactionContext,
												   "counterfield own update",
												   ALLOCSET_SMALL_SIZES);
		MemoryContextReset(own_update.cxt);
		oldcxt = MemoryContextSwitchTo(own_update.cxt);
		own_update.meant = heap_copytuple(trigdata->tg_newtuple);
		MemoryContextSwitchTo(oldcxt);
		own_update.relid = RelationGetRelid(rel);
		own_update.tid = trigdata->tg_trigtuple->t_self;
		return;
	}
	if (own_update.meant == NULL || own_update.relid != RelationGetRelid(rel) ||
		!ItemPointerEquals(&own_update.tid, &trigdata->tg_trigtuple->t_self))
		return;
	own_meant = own_update.meant;
	if (own_update.changed)
		own_update.passed++;
	own_update.meant = NULL;
	columns = cf_counted_columns(RelationGetRelid(rel), rel->rd_rel->relispartition);
	while ((attnum = bms_next_member(columns, attnum)) >= 0)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		meantnull;
		bool		newnull;
		Datum		meant = heap_getattr(own_meant, attnum, desc, &meantnull);
		Datum		value = heap_getattr(trigdata->tg_newtuple, attnum, desc, &newnull);

		if (meantnull != newnull ||
			(!newnull && !datum_image_eq(meant, value, att->attbyval, att->attlen) &&
			 !equal_as_type(att, meant, value)))
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("a trigger on table \"%s\" changed counterfield's update of its counters",
							RelationGetRelationName(rel)),
					 errdetail("A BEFORE UPDATE row trigger gave back column \"%s\" with another value than counterfield's update set, which would leave counters wrong.",
							   NameStr(att->attname)),
					 errhint("Have the trigger return the new row when only counter columns change.")));
	}
}

/*
 * Executor start-up: counterfield's own UPDATE of a parent, the first
 * UPDATE to start while cf_parent_write runs that is not the action of a
 * rule, if it updates that parent, goes without the parent's guard (see
 * cf_drop_guard).  Should the UPDATE start some other way, the guard still
 * lets it through (cf_internal_write_to), at the cost of the row locks.
 */
static void
cf_executor_start(QueryDesc *queryDesc, int eflags)
{
	Oid			relid = own_update_relid;
	bool		own = (OidIsValid(relid) && queryDesc->operation == CMD_UPDATE &&
					   queryDesc->plannedstmt->canSetTag);

	if (own)
		own_update_relid = InvalidOid;
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	/* counterfield's own updates of parents are not tracked as running */
	if (!own && (eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		cf_inflight_start(queryDesc);
	if (own && queryDesc->planstate != NULL && IsA(queryDesc->planstate, ModifyTableState) &&
		rt_fetch(((ModifyTable *) queryDesc->planstate->plan)->nominalRelation,
				 queryDesc->plannedstmt->rtable)->relid == relid)
	{
		ModifyTableState *mt = (ModifyTableState *) queryDesc->planstate;
#if PG_VERSION_NUM >= 140000
		int			nrels = mt->mt_nrels;
#else
		int			nrels = mt->mt_nplans;
#endif

		for (int i = 0; i < nrels; i++)
			cf_drop_guard(&mt->resultRelInfo[i], queryDesc->estate->es_instrument,
						  queryDesc->estate->es_query_cxt);
	}
}

/* Registers the transaction callback and the executor hook. */
void
cf_flush_init(void)
{
	RegisterXactCallback(cf_xact_callback, NULL);
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = cf_executor_start;
}
