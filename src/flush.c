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

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "counterfield.h"

/* Rounds of commit-time flushing before giving up on a trigger loop. */
#define MAX_COMMIT_ROUNDS	100

/* Orders items by parent table, key columns, key value and counter. */
static int
compare_items(const void *a, const void *b)
{
	const FlushItem *x = a;
	const FlushItem *y = b;
	CounterTarget *tx = x->def->target;
	CounterTarget *ty = y->def->target;

	if (tx->parent_relid != ty->parent_relid)
		return tx->parent_relid < ty->parent_relid ? -1 : 1;
	if (tx != ty)
	{
		if (tx->nkeys != ty->nkeys)
			return tx->nkeys < ty->nkeys ? -1 : 1;
		for (int k = 0; k < tx->nkeys; k++)
			if (tx->attnums[k] != ty->attnums[k])
				return tx->attnums[k] < ty->attnums[k] ? -1 : 1;
	}
	for (int k = 0; k < tx->nkeys; k++)
	{
		int32		c = DatumGetInt32(FunctionCall2Coll(tx->cmp[k], tx->collations[k],
														x->values[k], y->values[k]));

		if (c != 0)
			return c;
	}
	if (x->counter_id != y->counter_id)
		return x->counter_id < y->counter_id ? -1 : 1;
	return 0;
}

/* Do two items of one target have equal keys? */
static bool
same_key(CounterTarget *target, Datum *a, Datum *b)
{
	for (int k = 0; k < target->nkeys; k++)
		if (DatumGetInt32(FunctionCall2Coll(target->cmp[k], target->collations[k],
											a[k], b[k])) != 0)
			return false;
	return true;
}

/* Prepares "UPDATE parent SET c = c + $n, ... WHERE k = $1 ..." for a target. */
static SPIPlanPtr
update_plan(CounterTarget *target)
{
	StringInfoData sql;
	Oid			argtypes[INDEX_MAX_KEYS + 64];
	int			nargs = 0;
	ListCell   *lc;
	SPIPlanPtr	plan;

	if (target->update_plan != NULL && SPI_plan_is_valid(target->update_plan))
		return target->update_plan;
	if (target->update_plan != NULL)
	{
		SPI_freeplan(target->update_plan);
		target->update_plan = NULL;
	}
	if (target->nkeys + list_length(target->counters) > lengthof(argtypes))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many counters on table \"%s\"", get_rel_name(target->parent_relid))));

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", cf_relation_sql(target->parent_relid));
	for (int k = 0; k < target->nkeys; k++)
		argtypes[nargs++] = target->types[k];
	foreach(lc, target->counters)
	{
		CounterDef *def = lfirst(lc);
		char	   *column = cf_column_sql(def->parent_relid, def->counter_attnum);

		appendStringInfo(&sql, "%s%s = %s OPERATOR(pg_catalog.+) $%d",
						 foreach_current_index(lc) > 0 ? ", " : "",
						 column, column, nargs + 1);
		argtypes[nargs++] = INT8OID;
	}
	appendStringInfoString(&sql, " WHERE ");
	for (int k = 0; k < target->nkeys; k++)
		appendStringInfo(&sql, "%s%s %s $%d", k > 0 ? " AND " : "",
						 cf_column_sql(target->parent_relid, target->attnums[k]),
						 cf_operator_sql(cf_equality_operator(target->types[k])), k + 1);

	plan = SPI_prepare(sql.data, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	target->update_plan = plan;
	pfree(sql.data);
	return plan;
}

/* Runs one parent UPDATE as the parent's owner, past the parent's guard. */
static void
update_parent(CounterTarget *target, Datum *key, int64 *deltas)
{
	SPIPlanPtr	plan = update_plan(target);
	int			ncounters = list_length(target->counters);
	Datum		params[INDEX_MAX_KEYS + 64];
	Oid			save_userid;
	int			save_sec_context;
	Oid			previous;
	int			ret;

	for (int k = 0; k < target->nkeys; k++)
		params[k] = key[k];
	for (int c = 0; c < ncounters; c++)
		params[target->nkeys + c] = Int64GetDatum(deltas[c]);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(target->parent_owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);
	previous = cf_begin_internal_write(target->parent_relid);
	PG_TRY();
	{
		ret = SPI_execute_plan(plan, params, NULL, false, 0);
	}
	PG_FINALLY();
	{
		cf_end_internal_write(previous);
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/* Adds the table being updated to error reports. */
static void
apply_error_callback(void *arg)
{
	CounterTarget **target = arg;

	if (*target != NULL)
		errcontext("updating counters of table \"%s\"",
				   get_rel_name((*target)->parent_relid));
}

/*
 * Applies flush items: one UPDATE per distinct parent key, in ascending key
 * order, skipping keys whose deltas add up to zero.
 */
void
cf_apply(CounterDefs *defs, FlushItem *items, int nitems)
{
	ErrorContextCallback errcallback;
	CounterTarget *current = NULL;
	int64		deltas[64];
	int			n = 0;

	for (int i = 0; i < nitems; i++)
		if (items[i].def != NULL && items[i].delta != 0)
			items[n++] = items[i];
	if (n == 0)
		return;
	if (n > 1)
		qsort(items, n, sizeof(FlushItem), compare_items);

	errcallback.callback = apply_error_callback;
	errcallback.arg = &current;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 0, j; i < n; i = j)
	{
		CounterTarget *target = items[i].def->target;
		int			ncounters = list_length(target->counters);
		bool		any = false;

		if (ncounters > lengthof(deltas))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many counters on table \"%s\"",
							get_rel_name(target->parent_relid))));
		memset(deltas, 0, sizeof(int64) * ncounters);
		for (j = i; j < n && items[j].def->target == target &&
			 same_key(target, items[i].values, items[j].values); j++)
			deltas[items[j].def->target_slot] += items[j].delta;
		for (int c = 0; c < ncounters; c++)
			any |= (deltas[c] != 0);
		if (!any)
			continue;
		current = target;
		update_parent(target, items[i].values, deltas);
	}
	SPI_finish();

	error_context_stack = errcallback.previous;
}

/* Applies all live deltas of transaction-mode counters. */
static void
flush_transactional(void)
{
	CounterDefs *defs;
	int			round = 0;

	PushActiveSnapshot(GetTransactionSnapshot());
	defs = cf_defs_acquire();
	for (;;)
	{
		int			nitems;
		FlushItem  *items = cf_state_take(defs, NIL, true, &nitems);

		if (nitems == 0)
			break;
		if (++round > MAX_COMMIT_ROUNDS)
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("counter updates at commit did not settle after %d rounds",
							MAX_COMMIT_ROUNDS),
					 errhint("Check for triggers on parent tables that keep writing counted rows.")));
		cf_apply(defs, items, nitems);
		pfree(items);
	}
	cf_defs_release();
	PopActiveSnapshot();
}

/* Applies transaction-mode deltas when a transaction commits or prepares. */
static void
cf_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) &&
		cf_state_has_live())
		flush_transactional();
}

/* Registers the transaction callback. */
void
cf_flush_init(void)
{
	RegisterXactCallback(cf_xact_callback, NULL);
}
