/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  Trigger functions on child and parent tables.
 *
 * counterfield_child_trigger is an AFTER ... FOR EACH STATEMENT trigger with
 * transition tables.  It turns every counted row of the statement into a
 * delta (+1 for new rows, -1 for old rows; an UPDATE that changes nothing
 * counted nets to zero) and applies statement-mode deltas before it returns;
 * they pass through the state cache only when it is what sums them (many
 * rows with a key of several or variable-width columns).  Transaction-mode
 * deltas wait in the state cache for the commit.
 *
 * counterfield_parent_trigger is a BEFORE ... FOR EACH ROW trigger on the
 * parent.  It gives new parent rows their true count and keeps ordinary
 * UPDATEs from overwriting counter columns.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "counterfield.h"

/* Numbers the countings of this backend: a statement's rows, or a table's. */
static uint64 last_counting = 0;

/*
 * The delta of one key of a counter whose key is a single by-value column,
 * summed over the rows of one transition table before it goes to the state
 * cache: the cache then sees each distinct key once, not each row.
 */
typedef struct RowSum
{
	Datum		key;
	int64		delta;
	char		status;			/* used by simplehash */
} RowSum;

#define SH_PREFIX rowsum
#define SH_ELEMENT_TYPE RowSum
#define SH_KEY_TYPE Datum
#define SH_KEY key
#define SH_HASH_KEY(tb, key) hash_combine(hash_uint32((uint32) (key)), \
										  hash_uint32((uint32) ((uint64) (key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * Refuses to run as any trigger but the one add_counter placed for the
 * event (a guard also under its name before 0.5, former): a role that may
 * only create triggers on a table cannot make counterfield count its rows
 * twice, or write a parent it may not write.  Returns true for Citus's copy
 * of the trigger on a shard of a distributed table, whose counters it has
 * made this node's catalog hold (cf_citus_adopt).
 */
static bool
check_trigger_name(TriggerData *trigdata, const char *expected, const char *former,
				   bool as_child)
{
	const char *name = trigdata->tg_trigger->tgname;

	if (strcmp(name, expected) == 0 || (former != NULL && strcmp(name, former) == 0))
		return false;
	if (cf_citus_counting_shard(trigdata, expected))
	{
		cf_citus_adopt(trigdata, as_child);
		return true;
	}
	if (cf_citus_shard_trigger(name, expected) || (former != NULL && cf_citus_shard_trigger(name, former)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counterfield cannot count in Citus shard \"%s\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("Citus took over a table with a counter, and its rows are now in shards."),
				 errhint("Drop the table's counters with counterfield.drop_counter, by the tables' names in counterfield.counters.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" was not placed by counterfield",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("For this event counterfield runs only as trigger \"%s\".", expected),
				 errhint("Drop the trigger; add_counter places the triggers that counters need.")));
	return false;
}

/* From this many rows on, a transition table is summed per key first. */
#define ROWSUM_MIN_ROWS 4

/*
 * Deltas of statement-mode counters that go straight to the flush at the end
 * of the trigger, past the state cache: those of a summed table (one per
 * key) and those of a table of a few rows.
 */
typedef struct DirectItems
{
	FlushItem  *items;
	int			n;
	int			max;
} DirectItems;

/* Appends a delta to the direct items, with a copy of its key. */
static void
direct_add(DirectItems *direct, CounterDef *def, Datum *values, int64 delta)
{
	FlushItem  *item;

	direct->items = cf_grow_array(direct->items, direct->n, &direct->max, sizeof(FlushItem),
								  CurrentMemoryContext);
	item = &direct->items[direct->n++];
	item->counter_id = def->id;
	item->def = def;
	item->values = cf_copy_key(def, values, CurrentMemoryContext);
	item->delta = delta;
}

/*
 * Appends a delta of a counter with through, keyed by the child's foreign
 * key of the first hop, with a copy of the key.
 */
static void
link_add(DirectItems *linked, CounterDef *def, Datum *values, int64 delta)
{
	CounterHop *hop = &def->hops[0];
	FlushItem  *item;

	linked->items = cf_grow_array(linked->items, linked->n, &linked->max, sizeof(FlushItem),
								  CurrentMemoryContext);
	item = &linked->items[linked->n++];
	item->counter_id = def->id;
	item->def = def;
	item->values = palloc(sizeof(Datum) * hop->nkeys);
	for (int k = 0; k < hop->nkeys; k++)
		item->values[k] = datumCopy(values[k], hop->lower_byval[k], hop->lower_typlen[k]);
	item->delta = delta;
}

/*
 * Rows of a counted child, or of a table under it, being turned into deltas:
 * set up by begin_counting, filled by count_rows, applied by end_counting.
 */
typedef struct RowCounting
{
	List	   *defs;			/* the child's counters */
	uint64		number;			/* numbers it among this backend's countings */
	List	   *touched;		/* state cache entries to apply */
	DirectItems direct;
	DirectItems linked;			/* deltas of counters with through, keyed by
								 * the child's key of the first hop */
	ExprContext *econtext;		/* for conditions, or NULL if none has one */
	TupleTableSlot *slot;		/* rows as read */
	TupleConversionMap *map;	/* to the child's row type, or NULL */
	TupleTableSlot *rootslot;	/* rows converted by map */
	OwnerContext owner;			/* the child's owner, while conditions run */
} RowCounting;

/*
 * Turns rows into deltas of sign.  Counters with a single by-value key column
 * (the common integer foreign key) sum their deltas per key first, unless the
 * table holds only a few rows; the others add each row to the state cache.
 * Statement-mode deltas that are few or summed go to the direct items
 * instead, and so do a deferred counter's when the statement is its
 * transaction (no transaction block): recorded at its end, they are
 * recorded at commit.  Rows of a descendant of the counted child are
 * converted to the child's row type first.  The rows come from a transition table, or, with
 * rows NULL, from a table scan.
 */
static void
count_rows(RowCounting *counting, Tuplestorestate *rows, TableScanDesc scan, int64 sign)
{
	List	   *defs = counting->defs;
	ExprContext *econtext = counting->econtext;
	TupleTableSlot *slot = counting->slot;
	int			readptr = rows ? tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND) : 0;
	rowsum_hash **sums = palloc0(sizeof(rowsum_hash *) * list_length(defs));
	bool	   *to_direct = palloc0(sizeof(bool) * list_length(defs));
	bool		summed = !rows || tuplestore_tuple_count(rows) >= ROWSUM_MIN_ROWS;
	bool		alone = !IsTransactionBlock();
	ListCell   *lc;

	foreach(lc, defs)
	{
		CounterDef *def = lfirst(lc);
		int			i = foreach_current_index(lc);

		if (summed && (def->nhops > 0 ? def->hops[0].nkeys == 1 && def->hops[0].lower_byval[0] :
					   def->nkeys == 1 && def->fk_typbyval[0]))
			sums[i] = rowsum_create(CurrentMemoryContext, 16, NULL);
		to_direct[i] = (!def->transactional || (def->deferred && alone)) &&
			(!summed || sums[i] != NULL);
	}

	if (rows)
	{
		tuplestore_select_read_pointer(rows, readptr);
		tuplestore_rescan(rows);
	}
	while (rows ? tuplestore_gettupleslot(rows, true, false, slot) :
		   table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		TupleTableSlot *row = (counting->map ?
							   execute_attr_map_slot(counting->map->attrMap, slot, counting->rootslot) : slot);

		foreach(lc, defs)
		{
			CounterDef *def = lfirst(lc);
			rowsum_hash *sum = sums[foreach_current_index(lc)];
			Datum		values[INDEX_MAX_KEYS];
			bool		isnull = false;
			int64		amount;
			int			nkeys = def->nhops > 0 ? def->hops[0].nkeys : def->nkeys;
			AttrNumber *attnums = def->nhops > 0 ? def->hops[0].lower_attnums : def->fk_attnums;
			int			k;

			for (k = 0; k < nkeys && !isnull; k++)
				values[k] = slot_getattr(row, attnums[k], &isnull);
			if (isnull)
				continue;
			if (def->condition_state != NULL)
			{
				Datum		result;

				econtext->ecxt_scantuple = row;
				result = ExecEvalExprSwitchContext(def->condition_state, econtext, &isnull);
				if (isnull || !DatumGetBool(result))
					continue;
			}
			if (!cf_row_amount(def, row, sign, &amount))
				continue;
			if (sum != NULL)
			{
				bool		found;
				RowSum	   *entry = rowsum_insert(sum, values[0], &found);

				entry->delta = found ? cf_delta_add(entry->delta, amount) : amount;
			}
			else if (def->nhops > 0)
				link_add(&counting->linked, def, values, amount);
			else if (to_direct[foreach_current_index(lc)])
				direct_add(&counting->direct, def, values, amount);
			else
				cf_state_add(def, values, amount, counting->number, &counting->touched);
		}
		if (econtext != NULL)
			ResetExprContext(econtext);
	}

	foreach(lc, defs)
	{
		rowsum_hash *sum = sums[foreach_current_index(lc)];
		rowsum_iterator iter;
		RowSum	   *entry;

		if (sum == NULL)
			continue;
		rowsum_start_iterate(sum, &iter);
		while ((entry = rowsum_iterate(sum, &iter)) != NULL)
		{
			if (((CounterDef *) lfirst(lc))->nhops > 0)
				link_add(&counting->linked, lfirst(lc), &entry->key, entry->delta);
			else if (to_direct[foreach_current_index(lc)])
				direct_add(&counting->direct, lfirst(lc), &entry->key, entry->delta);
			else
				cf_state_add(lfirst(lc), &entry->key, entry->delta, counting->number,
							 &counting->touched);
		}
		rowsum_destroy(sum);
	}
	pfree(sums);
	pfree(to_direct);
}

/*
 * Plans the conditions of a child's counters, as their owner, and returns
 * an expression context to run them in, or NULL when none has one.
 */
static ExprContext *
prepare_conditions(List *defs)
{
	ExprContext *econtext = NULL;
	ListCell   *lc;

	foreach(lc, defs)
	{
		CounterDef *def = lfirst(lc);

		if (def->has_condition)
		{
			cf_condition_prepare(def);
			if (econtext == NULL)
				econtext = CreateStandaloneExprContext();
		}
	}
	return econtext;
}

/*
 * Sets *map and *rootslot to convert rows of rel, a partition or inheritance
 * child, to the row type of the counted child root; to NULL if they need no
 * conversion.
 */
static void
root_map(Relation rel, Oid root, TupleConversionMap **map, TupleTableSlot **rootslot)
{
	Relation	rootrel;

	*map = NULL;
	*rootslot = NULL;
	if (RelationGetRelid(rel) == root)
		return;
	rootrel = table_open(root, AccessShareLock);
	*map = convert_tuples_by_name(RelationGetDescr(rel), RelationGetDescr(rootrel));
	if (*map != NULL)
		*rootslot = MakeSingleTupleTableSlot(RelationGetDescr(rootrel), &TTSOpsVirtual);
	table_close(rootrel, NoLock);
}

/*
 * Prepares to count rows of rel, the counted child of rc or a table under
 * it, read into slot: conditions are planned, and run as the child's owner,
 * not as the writer.
 */
static void
begin_counting(RowCounting *counting, RelCounters *rc, Relation rel, TupleTableSlot *slot)
{
	counting->defs = rc->as_child;
	counting->number = ++last_counting;
	counting->touched = NIL;
	memset(&counting->direct, 0, sizeof(DirectItems));
	memset(&counting->linked, 0, sizeof(DirectItems));
	/* Statement-mode deltas store nothing, but prune as a store would. */
	cf_state_prune();
	counting->econtext = prepare_conditions(rc->as_child);
	counting->slot = slot;
	root_map(rel, rc->root, &counting->map, &counting->rootslot);
	if (counting->econtext != NULL)
		cf_begin_as_owner(((CounterDef *) linitial(rc->as_child))->child_owner,
						  CF_OWNER_PIN_PATH, &counting->owner);
}

/*
 * Routes deltas keyed by parent keys as count_rows does: to the direct
 * items when they are applied (recorded) at the end of the statement, to
 * the state cache when they wait for commit.
 */
static void
route_items(RowCounting *counting, FlushItem *items, int nitems)
{
	bool		alone = !IsTransactionBlock();

	for (int i = 0; i < nitems; i++)
	{
		CounterDef *def = items[i].def;

		if (!def->transactional || (def->deferred && alone))
			direct_add(&counting->direct, def, items[i].values, items[i].delta);
		else
			cf_state_add(def, items[i].values, items[i].delta, counting->number,
						 &counting->touched);
	}
}

/*
 * Resolves the linked deltas of the counters with through, keyed by the
 * first intermediate's keys, to parent keys (link.c), and routes them.
 */
static void
resolve_linked(RowCounting *counting)
{
	MemoryContext cxt = CurrentMemoryContext;
	ListCell   *lc;

	if (counting->linked.n == 0)
		return;
	cf_spi_connect();
	foreach(lc, counting->defs)
	{
		CounterDef *def = lfirst(lc);
		FlushItem  *items;
		FlushItem  *resolved;
		int			n = 0;
		int			nresolved;

		if (def->nhops == 0)
			continue;
		items = MemoryContextAlloc(cxt, sizeof(FlushItem) * counting->linked.n);
		for (int i = 0; i < counting->linked.n; i++)
			if (counting->linked.items[i].def == def)
				items[n++] = counting->linked.items[i];
		resolved = cf_link_resolve(def, 0, items, n, cxt, &nresolved);
		MemoryContextSwitchTo(cxt);
		route_items(counting, resolved, nresolved);
	}
	SPI_finish();
}

/*
 * Applies the deltas collected: the statement-mode ones, those in the
 * direct items and those stored for the touched entries.  Transaction-mode
 * deltas stay in the state cache for the commit.
 */
static void
apply_counted(CounterDefs *defs, RowCounting *counting)
{
	DirectItems *direct = &counting->direct;
	FlushItem  *items = NULL;
	int			nitems = 0;

	if (counting->touched != NIL)
		items = cf_state_take(defs, counting->touched, false, false, &nitems);
	if (nitems == 0)
	{
		items = direct->items;
		nitems = direct->n;
	}
	else if (direct->n > 0)
	{
		items = repalloc(items, sizeof(FlushItem) * (nitems + direct->n));
		memcpy(items + nitems, direct->items, sizeof(FlushItem) * direct->n);
		nitems += direct->n;
	}
	if (nitems > 0)
		cf_apply(items, nitems, NULL);
}

/*
 * Ends counting and applies the deltas it collected (apply_counted), those
 * of counters with through once their parent keys are resolved.
 */
static void
end_counting(CounterDefs *defs, RowCounting *counting)
{
	if (counting->econtext != NULL)
	{
		cf_end_as_owner(&counting->owner);
		FreeExprContext(counting->econtext, true);
	}
	ExecDropSingleTupleTableSlot(counting->slot);
	if (counting->rootslot != NULL)
		ExecDropSingleTupleTableSlot(counting->rootslot);
	resolve_linked(counting);
	apply_counted(defs, counting);
}

/*
 * Counts the rows of one statement: statement-mode deltas, and a deferred
 * counter's of a statement that is its transaction, are applied (recorded)
 * at its end; the others are stored in the state cache for commit.
 */
static void
count_statement(CounterDefs *defs, RelCounters *rc, TriggerData *trigdata)
{
	RowCounting counting;

	begin_counting(&counting, rc, trigdata->tg_relation,
				   MakeSingleTupleTableSlot(RelationGetDescr(trigdata->tg_relation),
											&TTSOpsMinimalTuple));
	if (trigdata->tg_oldtable != NULL)
		count_rows(&counting, trigdata->tg_oldtable, NULL, -1);
	if (trigdata->tg_newtable != NULL)
		count_rows(&counting, trigdata->tg_newtable, NULL, 1);
	cf_inflight_counted(rc->root);
	end_counting(defs, &counting);
}

/*
 * The versions of the rows of an intermediate table, the lower table of a
 * counter's hop h, that one statement wrote: their key (the columns hop
 * h - 1 references) then their foreign key, each with its sign.
 */
typedef struct LinkRows
{
	Datum	  **rows;
	int64	   *signs;
	int			n;
	int			max;
} LinkRows;

static void
add_link_row(LinkRows *set, Datum *values, int64 sign)
{
	if (set->n == set->max)
	{
		set->max = Max(16, set->max * 2);
		set->rows = set->rows ? repalloc(set->rows, sizeof(Datum *) * set->max) :
			palloc(sizeof(Datum *) * set->max);
		set->signs = set->signs ? repalloc(set->signs, sizeof(int64) * set->max) :
			palloc(sizeof(int64) * set->max);
	}
	set->rows[set->n] = values;
	set->signs[set->n++] = sign;
}

/*
 * Reads the versions of one transition table into values of the key and
 * the foreign key of hop h's lower table; a version with a NULL in either
 * gets NULL (it counts for no parent).
 */
static Datum **
read_link_rows(CounterDef *def, int h, Tuplestorestate *rows, TupleTableSlot *slot, int *n)
{
	CounterHop *below = &def->hops[h - 1];
	CounterHop *hop = &def->hops[h];
	TupleDesc	desc = slot->tts_tupleDescriptor;
	int			readptr = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND);
	Datum	  **out = palloc(sizeof(Datum *) * Max(tuplestore_tuple_count(rows), 1));

	*n = 0;
	tuplestore_select_read_pointer(rows, readptr);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		Datum	   *values = palloc(sizeof(Datum) * (below->nkeys + hop->nkeys));
		bool		isnull = false;

		for (int c = 0; c < below->nkeys + hop->nkeys && !isnull; c++)
		{
			AttrNumber	attnum = (c < below->nkeys ? below->upper_attnums[c] :
								  hop->lower_attnums[c - below->nkeys]);
			Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);

			values[c] = slot_getattr(slot, attnum, &isnull);
			if (!isnull)
				values[c] = datumCopy(values[c], att->attbyval, att->attlen);
		}
		out[(*n)++] = isnull ? NULL : values;
	}
	return out;
}

/* Are values from to to of two versions, of columns attnums, the same bytes? */
static bool
same_values(Datum *a, Datum *b, int from, int to, TupleDesc desc, AttrNumber *attnums)
{
	for (int c = from; c < to; c++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnums[c - from] - 1);

		if (!datum_image_eq(a[c], b[c], att->attbyval, att->attlen))
			return false;
	}
	return true;
}

/*
 * Notes every parent key that the versions of rows of an intermediate table
 * (the lower table of hop h) lead to, old and new, to be counted again once
 * the outermost running statement has finished: for a statement tangled
 * with writes of the chain's child (see cf_inflight_tangled), which child
 * rows its moves should take is not told by command ids alone.  SPI is
 * connected.
 */
static void
recount_later(CounterDef *def, int h, LinkRows *moved, LinkRows *others, MemoryContext cxt)
{
	int			nkey = def->hops[h - 1].nkeys;
	int			n = moved->n + others->n;
	FlushItem  *items = palloc(sizeof(FlushItem) * n);
	FlushItem  *keys;
	int			nkeys;

	for (int i = 0; i < n; i++)
	{
		Datum	   *row = i < moved->n ? moved->rows[i] : others->rows[i - moved->n];

		items[i].counter_id = def->id;
		items[i].def = def;
		items[i].values = row + nkey;	/* the foreign key */
		items[i].delta = 0;
	}
	keys = cf_link_resolve(def, h, items, n, cxt, &nkeys);
	for (int i = 0; i < nkeys; i++)
		cf_inflight_recount_later(def, keys[i].values);
}

/*
 * Counts one statement on an intermediate table of counters with through:
 * rows that move to another row above, or come or go, move what the child
 * rows under them add up to between parents (link.c).
 *
 * A move takes the child rows that were counted through the old version
 * of the row, and no others.  An UPDATE's transition tables hold the old
 * and new version of each row in the same order.  A row whose key and
 * foreign key both stay moves nothing (counterfield's own updates of
 * counter columns, say) and costs no statement.  A row that keeps its key
 * and changes its foreign key moves its subtree as it is now, so that child
 * rows that a trigger or function of this statement wrote under it, and
 * counted for its old parent, move with it; but for the child rows of
 * statements still running whose triggers have yet to count them (they
 * will count them along the chain as it will be then), and for those this
 * statement wrote itself (a writable CTE: counted after it).  Versions of
 * rows inserted, deleted or re-keyed move their subtree as the statement
 * found it, at its own command id: the cascades that the statement caused
 * below are counted by the triggers of the tables they wrote, along the
 * chain as it now stands.  Where that is not enough, because user code
 * nests writes of the child in this statement or this statement in one
 * on the child, the parents its rows lead to are counted again once the
 * outermost statement has finished (recount_later).
 */
static void
link_statement(CounterDefs *defs, RelCounters *rc, TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	Oid			relid = RelationGetRelid(rel);
	RowCounting counting;
	TupleTableSlot *slot;
	MemoryContext cxt = CurrentMemoryContext;
	CommandId	statement_cid = (ActiveSnapshotSet() ? GetActiveSnapshot()->curcid :
								 GetCurrentCommandId(false));
	bool		connected = false;
	ListCell   *lc;

	memset(&counting, 0, sizeof(counting));
	counting.defs = rc->as_link;
	counting.number = ++last_counting;
	cf_state_prune();
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	foreach(lc, rc->as_link)
	{
		CounterDef *def = lfirst(lc);
		int			h = cf_link_hop_of(def, relid);
		int			nkey = def->hops[h - 1].nkeys;
		int			nold = 0;
		int			nnew = 0;
		Datum	  **old = (trigdata->tg_oldtable ?
						   read_link_rows(def, h, trigdata->tg_oldtable, slot, &nold) : NULL);
		Datum	  **new = (trigdata->tg_newtable ?
						   read_link_rows(def, h, trigdata->tg_newtable, slot, &nnew) : NULL);
		bool		paired = old != NULL && new != NULL && nold == nnew;
		LinkRows	moved = {0};
		LinkRows	others = {0};

		for (int i = 0; i < Max(nold, nnew); i++)
		{
			Datum	   *o = i < nold ? old[i] : NULL;
			Datum	   *n = i < nnew ? new[i] : NULL;

			if (paired && o != NULL && n != NULL &&
				same_values(o, n, 0, nkey, RelationGetDescr(rel), def->hops[h - 1].upper_attnums))
			{
				if (!same_values(o, n, nkey, nkey + def->hops[h].nkeys, RelationGetDescr(rel),
								 def->hops[h].lower_attnums))
				{
					add_link_row(&moved, o, -1);
					add_link_row(&moved, n, 1);
				}
				continue;
			}
			if (o != NULL)
				add_link_row(&others, o, -1);
			if (n != NULL)
				add_link_row(&others, n, 1);
		}

		for (int set = 0; set < 2; set++)
		{
			LinkRows   *rows = set == 0 ? &moved : &others;
			CommandId	curcid = statement_cid;
			FlushItem  *items;
			int			nitems;

			if (rows->n == 0)
				continue;
			if (set == 0 && !cf_inflight_writes_child_at(def->child_relid, statement_cid))
			{
				CommandId	running = cf_inflight_child_cid(def->child_relid);

				CommandCounterIncrement();
				curcid = GetCurrentCommandId(false);
				if (running != InvalidCommandId && running < curcid)
					curcid = running;
			}
			if (!connected)
				cf_spi_connect();
			connected = true;
			items = cf_link_moves(def, h, rows->rows, rows->signs, rows->n, curcid, cxt, &nitems);
			MemoryContextSwitchTo(cxt);
			route_items(&counting, items, nitems);
		}
		if ((moved.n > 0 || others.n > 0) &&
			cf_inflight_tangled(def->child_relid, statement_cid))
			recount_later(def, h, &moved, &others, cxt);
	}
	if (connected)
		SPI_finish();
	ExecDropSingleTupleTableSlot(slot);
	apply_counted(defs, &counting);
}

/*
 * TRUNCATE of a child: every counter it feeds becomes 0, and pending deltas
 * of those counters are cancelled.  A deferred counter records the change
 * as a delta instead, as it records any other write.
 */
static void
count_truncate(List *counters)
{
	ListCell   *lc;

	cf_spi_connect();
	foreach(lc, counters)
	{
		CounterDef *def = lfirst(lc);
		char	   *column;

		if (!cf_lock_parent(def->parent_relid))
			continue;
		if (def->deferred)
		{
			cf_ledger_truncate(def);
			continue;
		}
		column = cf_column_sql(def->parent_relid, def->counter_attnum);
		cf_state_cancel_counter(def);
		cf_parent_write(def->parent_relid, def->target->parent_owner, NULL,
						psprintf("UPDATE %s SET %s = 0 WHERE %s OPERATOR(pg_catalog.<>) 0",
								 cf_relation_sql(def->parent_relid, false), column, column),
						NULL, SPI_OK_UPDATE, InvalidSnapshot);
	}
	SPI_finish();
}

/*
 * Counts the rows that one table under a counted child holds (ONLY that
 * table: partitioned tables hold none, foreign ones are refused), and
 * applies them as deltas of the given sign, as if the rows had been
 * inserted (1) or deleted (-1): for rows that come or go without being
 * written, when a partition or inheritance child is attached, detached,
 * truncated or dropped.  The caller holds a lock that keeps writers out, so
 * a fresh snapshot sees exactly the rows that come or go.  The table is
 * scanned directly, with no privilege check and no row-level security of
 * its own, and the child's conditions run as the child's owner.
 */
void
cf_count_table_rows(CounterDefs *defs, RelCounters *rc, Oid relid, int64 sign)
{
	RowCounting counting;
	Relation	rel;
	Snapshot	snapshot;
	TableScanDesc scan;

	if (rc == NULL || rc->as_child == NIL || !cf_enabled)
		return;
	rel = table_open(relid, NoLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
	{
		table_close(rel, NoLock);
		return;
	}
	begin_counting(&counting, rc, rel, table_slot_create(rel, NULL));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	count_rows(&counting, NULL, scan, sign);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	end_counting(defs, &counting);
	table_close(rel, NoLock);
}

/* The partitioned child whose TRUNCATE is running, which resets its counters. */
static Oid	truncating_root = InvalidOid;
static LocalTransactionId truncating_lxid = InvalidLocalTransactionId;
static SubTransactionId truncating_subid = InvalidSubTransactionId;
static CommandId truncating_cid = InvalidCommandId;

/*
 * BEFORE TRUNCATE of a child or of a table under it.  TRUNCATE of a
 * partitioned child takes all its partitions with it: it is noted here, and
 * its AFTER TRUNCATE trigger sets its counters to 0, so that the partitions'
 * own triggers, which fire in the same command, have nothing to do.  A child
 * without descendants is likewise left to the AFTER trigger.  Otherwise --
 * a partition or inheritance child truncated on its own, or a child with
 * inheritance children, which TRUNCATE ONLY leaves alone -- each table
 * truncated subtracts the rows of its own that are about to go.
 */
static void
count_truncate_before(CounterDefs *defs, RelCounters *rc, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);

	if (relid == rc->root && rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		truncating_root = relid;
		truncating_lxid = CF_CURRENT_LXID();
		truncating_subid = GetCurrentSubTransactionId();
		truncating_cid = GetCurrentCommandId(false);
		return;
	}
	if (relid == rc->root && !has_subclass(relid))
		return;
	if (rc->root == truncating_root && truncating_lxid == CF_CURRENT_LXID() &&
		truncating_subid == GetCurrentSubTransactionId() &&
		truncating_cid == GetCurrentCommandId(false))
		return;
	cf_count_table_rows(defs, rc, relid, -1);
}

/* Does the AFTER TRUNCATE trigger of this relation reset its counters? */
static bool
truncate_resets(RelCounters *rc, Relation rel)
{
	return RelationGetRelid(rel) == rc->root &&
		(rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE || !has_subclass(rc->root));
}

PG_FUNCTION_INFO_V1(counterfield_child_trigger);

/* AFTER INSERT/UPDATE/DELETE/TRUNCATE FOR EACH STATEMENT on a child table. */
Datum
counterfield_child_trigger(PG_FUNCTION_ARGS)
{
	const char *funcname = "counterfield_child_trigger";
	TriggerData *trigdata = cf_trigger_context(fcinfo, funcname, false);
	TriggerEvent event;
	CounterDefs *defs;
	RelCounters *rc;
	bool		shard;

	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(event) && !TRIGGER_FIRED_BY_TRUNCATE(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER", funcname)));
	if (!TRIGGER_FIRED_FOR_STATEMENT(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired FOR EACH STATEMENT", funcname)));
	if (!TRIGGER_FIRED_BY_TRUNCATE(event) &&
		((TRIGGER_FIRED_BY_INSERT(event) && trigdata->tg_newtable == NULL) ||
		 (TRIGGER_FIRED_BY_UPDATE(event) &&
		  (trigdata->tg_oldtable == NULL || trigdata->tg_newtable == NULL)) ||
		 (TRIGGER_FIRED_BY_DELETE(event) && trigdata->tg_oldtable == NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired with transition tables", funcname)));
	shard = check_trigger_name(trigdata,
							   TRIGGER_FIRED_BY_INSERT(event) ? CF_CHILD_INSERT :
							   TRIGGER_FIRED_BY_UPDATE(event) ? CF_CHILD_UPDATE :
							   TRIGGER_FIRED_BY_DELETE(event) ? CF_CHILD_DELETE :
							   TRIGGER_FIRED_BEFORE(event) ? CF_CHILD_TRUNCATE_BEFORE :
							   CF_CHILD_TRUNCATE, NULL, true);

	if (!cf_enabled)
		return PointerGetDatum(NULL);

	defs = cf_defs_acquire();
	rc = cf_defs_for_rel(defs, RelationGetRelid(trigdata->tg_relation));
	if (shard)
		cf_citus_note_recount(RelationGetRelid(trigdata->tg_relation), rc);

	/*
	 * An intermediate table of counters with through: its TRUNCATE takes the
	 * tables below with it (their foreign keys demand it), so those counters
	 * become 0; its other writes move counts between parents.
	 */
	if (rc != NULL && rc->as_link != NIL && !TRIGGER_FIRED_BEFORE(event))
	{
		if (TRIGGER_FIRED_BY_TRUNCATE(event))
			count_truncate(rc->as_link);
		else
			link_statement(defs, rc, trigdata);
	}
	if (rc != NULL && rc->as_child != NIL)
	{
		if (TRIGGER_FIRED_BY_TRUNCATE(event) && TRIGGER_FIRED_BEFORE(event))
			count_truncate_before(defs, rc, trigdata->tg_relation);
		else if (TRIGGER_FIRED_BY_TRUNCATE(event))
		{
			if (truncate_resets(rc, trigdata->tg_relation) && !cf_citus_truncated(RelationGetRelid(trigdata->tg_relation)))
			{
				truncating_root = InvalidOid;
				count_truncate(rc->as_child);
			}
		}
		else
			count_statement(defs, rc, trigdata);
	}

	/*
	 * A node of Citus has no counters of a distributed table, only of its
	 * shards: TRUNCATE of the table there has the shards recount.
	 */
	else if (rc == NULL && TRIGGER_FIRED_BY_TRUNCATE(event) && !TRIGGER_FIRED_BEFORE(event))
		(void) cf_citus_truncated(RelationGetRelid(trigdata->tg_relation));
	cf_defs_release();
	return PointerGetDatum(NULL);
}

/*
 * Prepares "SELECT count(*) FROM child WHERE fk = $1 ... AND (condition)",
 * or the sum, or the same along the chain of a counter with through.
 */
static SPIPlanPtr
count_plan(CounterDef *def)
{
	StringInfoData sql;
	char	   *condition;

	if (cf_plan_is_current(&def->count_plan))
		return def->count_plan;
	if (def->nhops > 0)
		return cf_keep_plan(&def->count_plan, cf_link_count_sql(def), def->nkeys, def->fk_types);

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM %s WHERE ",
					 def->sum_attnum == InvalidAttrNumber ? cf_aggregate_sql(def) :
					 cf_units_sql(def, cf_aggregate_sql(def)),
					 cf_relation_sql(def->child_relid, true));
	for (int k = 0; k < def->nkeys; k++)
		cf_append_key_equal(&sql, k, cf_column_sql(def->child_relid, def->fk_attnums[k]),
							psprintf("$%d", k + 1), def->fk_types[k],
							def->target->collations[k]);
	condition = cf_condition_sql(def);
	if (condition != NULL)
		appendStringInfo(&sql, " AND (%s)", condition);

	return cf_keep_plan(&def->count_plan, sql.data, def->nkeys, def->fk_types);
}

/*
 * Counts the children of one parent key: those that other transactions have
 * committed by now, whatever the isolation level (their deltas found no row
 * to apply to, see keylock.c), and of this transaction's those that the
 * statement sees.  Rows written by the running statement are not visible,
 * their deltas come later.  For a deferred counter, *unfolded is set to the
 * sum of the key's unfolded deltas that the count sees (ledger.c): they are
 * yet to be folded in.  If since is not NULL, it is set to the xmin of the
 * count's snapshot: transactions from there on may have committed after it.
 */
static int64
cf_count_children(CounterDef *def, Datum *values, int64 *unfolded, TransactionId *since,
				  int64 *column, bool *column_null)
{
	OwnerContext owner;
	int			ret;
	bool		isnull;
	int64		count;
	CommandId	curcid = (ActiveSnapshotSet() ? GetActiveSnapshot()->curcid :
						  GetCurrentCommandId(false));

	cf_spi_connect();
	PushCopiedSnapshot(GetLatestSnapshot());
	GetActiveSnapshot()->curcid = curcid;
	if (since != NULL)
		*since = GetActiveSnapshot()->xmin;

	/*
	 * A condition's SQL names pg_catalog's functions and operators
	 * unqualified.
	 */
	cf_begin_as_owner(def->child_owner, def->has_condition ? CF_OWNER_PIN_PATH : 0, &owner);
	ret = SPI_execute_plan(count_plan(def), values, NULL, true, 1);
	cf_end_as_owner(&owner);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	count = DatumGetInt64(cf_spi_value(0, 1, &isnull));
	*unfolded = def->deferred ? cf_ledger_key_sum(def, values) : 0;
	if (column != NULL)
	{
		/* the parent's value as the same snapshot sees it, not locked */
		StringInfoData sql;
		Oid			argtypes[INDEX_MAX_KEYS];

		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT %s FROM %s AS p WHERE ",
						 cf_units_sql(def, psprintf("p.%s", cf_column_sql(def->parent_relid,
																		  def->counter_attnum))),
						 cf_relation_sql(def->parent_relid, false));
		cf_append_key_match(&sql, def->target, argtypes);
		cf_begin_as_table_owner(def->parent_relid, def->target->parent_owner, &owner);
		cf_spi_run(sql.data, def->nkeys, argtypes, values, NULL, true, SPI_OK_SELECT);
		cf_end_as_owner(&owner);
		*column_null = SPI_processed != 1;
		if (SPI_processed == 1)
			*column = DatumGetInt64(cf_spi_value(0, 1, column_null));
	}
	PopActiveSnapshot();
	SPI_finish();
	return count;
}

/*
 * The value of a counter's column for a key with the given children, as
 * counted: less the deltas still to be applied on top of it.
 * Transaction-mode deltas pending are applied at commit; a deferred
 * counter's are recorded then, and folded in with its unfolded ones.  A
 * statement-mode counter's pending deltas were kept for commit, their row
 * missing: the count includes their rows, and they are cancelled once the
 * row is in (cf_recount_key).
 */
static int64
column_value(CounterDef *def, int64 children, int64 unfolded, int64 pending)
{
	return cf_delta_sub(cf_delta_sub(children, unfolded), def->transactional ? pending : 0);
}

/*
 * Maps an attribute number of the table that holds a counter to the same
 * column of the partition a row trigger fired on.
 */
static AttrNumber
map_attnum(Oid root, Oid relid, AttrNumber attnum)
{
	if (root == relid)
		return attnum;
	return get_attnum(relid, get_attname(root, attnum, false));
}

/*
 * Locks the tables of a counter's child, as counting its rows will, before
 * the guard locks a key: DDL on them holds its lock until it commits, and
 * its commit may want the key's lock (keylock.c).  Waiting for the DDL with
 * the key locked would deadlock.  Done once per command and child.
 */
static void
lock_child_tables(CounterDef *def)
{
	static Oid	locked = InvalidOid;
	static CommandId locked_cid;
	static LocalTransactionId locked_lxid = InvalidLocalTransactionId;
	CommandId	cid = GetCurrentCommandId(false);

	if (locked == def->child_relid && locked_cid == cid && locked_lxid == CF_CURRENT_LXID())
		return;
	LockRelationOid(def->child_relid, AccessShareLock);
	if (has_subclass(def->child_relid))
		(void) find_all_inheritors(def->child_relid, AccessShareLock, NULL);
	locked = def->child_relid;
	locked_cid = cid;
	locked_lxid = CF_CURRENT_LXID();
}

/*
 * The true value of a counter for a parent row being inserted, or with
 * inserted false re-keyed.
 */
static Datum
initial_count(CounterDef *def, HeapTuple tuple, TupleDesc desc, Oid relid, bool inserted)
{
	Datum		key[INDEX_MAX_KEYS];
	Form_pg_attribute att = TupleDescAttr(desc, map_attnum(def->parent_relid, relid,
														   def->counter_attnum) - 1);
	int64		count = 0;
	int64		pending;
	int64		unfolded;
	bool		isnull = false;

	for (int k = 0; k < def->nkeys && !isnull; k++)
		key[k] = heap_getattr(tuple, map_attnum(def->parent_relid, relid, def->target->attnums[k]),
							  desc, &isnull);
	if (!isnull)
	{
		int64		children;
		TransactionId since;

		lock_child_tables(def);
		cf_keylock_guard(def->parent_relid, cf_key_hash(def->target->layout, key));

		/*
		 * An INSERT ... ON CONFLICT, and a row of the key is there, or on its
		 * way: the new row conflicts with it, or waits for it to go. Counting
		 * would be wasted, all the more on a parent with many children; the
		 * row is counted once it is in, if it gets in.
		 */
		if (inserted && cf_inflight_on_conflict(def->parent_relid) &&
			cf_keylock_key_taken(def->target, key))
		{
			cf_inflight_note(def, key, 0, false);
			cf_inflight_check(def, key, InvalidTransactionId, true);
			return cf_units_datum(def, 0, att->atttypid);
		}
		children = cf_delta_sub(cf_count_children(def, key, &unfolded, &since, NULL, NULL),
								cf_flush_in_flight(def, key));
		pending = cf_state_pending(def, key, false);
		count = column_value(def, children, unfolded, pending);
		cf_inflight_note(def, key, children, !def->transactional && pending != 0);

		/* The row may wait for another row of the key (keylock.c). */
		cf_inflight_check(def, key, since, inserted);
	}
	return cf_units_datum(def, count, att->atttypid);
}

/* Prepares "UPDATE parent p SET c = $n WHERE k = $1 ... AND c IS NOT NULL". */
static SPIPlanPtr
recount_plan(CounterDef *def)
{
	CounterTarget *target = def->target;
	char	   *column = cf_column_sql(def->parent_relid, def->counter_attnum);
	Oid			argtypes[INDEX_MAX_KEYS + 1];
	StringInfoData sql;

	if (cf_plan_is_current(&def->recount_plan))
		return def->recount_plan;
	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s AS p SET %s = $%d WHERE ",
					 cf_relation_sql(def->parent_relid, false), column, target->nkeys + 1);
	cf_append_key_match(&sql, target, argtypes);
	appendStringInfo(&sql, " AND p.%s IS NOT NULL AND p.%s OPERATOR(pg_catalog.<>) $%d",
					 column, column, target->nkeys + 1);
	argtypes[target->nkeys] = get_atttype(def->parent_relid, def->counter_attnum);
	return cf_keep_plan(&def->recount_plan, sql.data, target->nkeys + 1, argtypes);
}

/* Prepares "SELECT 1 FROM parent p WHERE k = $1 ... FOR NO KEY UPDATE". */
static SPIPlanPtr
row_lock_plan(CounterTarget *target)
{
	Oid			argtypes[INDEX_MAX_KEYS];
	StringInfoData sql;

	if (cf_plan_is_current(&target->row_lock_plan))
		return target->row_lock_plan;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT 1 FROM %s AS p WHERE ",
					 cf_relation_sql(target->parent_relid, false));
	cf_append_key_match(&sql, target, argtypes);
	appendStringInfoString(&sql, " FOR NO KEY UPDATE OF p");
	return cf_keep_plan(&target->row_lock_plan, sql.data, target->nkeys, argtypes);
}

/*
 * Sets the counter of one parent key to the truth: its children, less the
 * deltas still pending for commit and a deferred counter's unfolded ones
 * (column_value).  For a key counted while a statement on the child was
 * running, or whose count could not see counted child rows, or while a
 * statement-mode delta of the key was kept for commit because its row was
 * missing (inflight.c), once those deltas are in.  The row is locked first, so that writers that added to it have
 * committed when the count is taken, and only then counted; without a row
 * there is nothing to set, and kept deltas stay for commit.  Kept
 * statement-mode deltas are in the count, and are cancelled.  The parent is
 * read and written as its owner, as every write to the parent is.
 */
void
cf_recount_key(CounterDef *def, Datum *values)
{
	CounterTarget *target = def->target;
	Datum		params[INDEX_MAX_KEYS + 1];
	OwnerContext owner;
	SPIPlanPtr	lock;
	SPIPlanPtr	plan;
	Snapshot	snapshot;
	int64		children;
	int64		pending;
	int64		unfolded;

	if (!cf_lock_parent(def->parent_relid))
		return;
	cf_spi_connect();
	cf_begin_as_table_owner(def->parent_relid, target->parent_owner, &owner);
	lock = row_lock_plan(target);
	plan = recount_plan(def);
	cf_end_as_owner(&owner);

	/*
	 * The row as it is now, whatever the isolation level: under REPEATABLE
	 * READ the transaction's snapshot may still see a row of the key that
	 * another transaction has deleted since, which it could not lock.
	 */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	if (cf_parent_write(def->parent_relid, target->parent_owner, lock, NULL, values,
						SPI_OK_SELECT, snapshot) == 0)
	{
		UnregisterSnapshot(snapshot);
		SPI_finish();
		return;
	}
	children = cf_delta_sub(cf_count_children(def, values, &unfolded, NULL, NULL, NULL),
							cf_flush_in_flight(def, values));
	pending = cf_state_pending(def, values, !def->transactional);
	memcpy(params, values, sizeof(Datum) * target->nkeys);
	params[target->nkeys] = cf_units_datum(def, column_value(def, children, unfolded, pending),
										   def->counter_type);
	cf_parent_write(def->parent_relid, target->parent_owner, plan, NULL, params, SPI_OK_UPDATE,
					snapshot);
	UnregisterSnapshot(snapshot);
	SPI_finish();
}

/*
 * Sets a deferred counter of one parent key right without touching the
 * parent row, which its writers never lock: the difference between the
 * truth and the value the counter has (its column, its unfolded deltas and
 * this transaction's pending ones, all as one fresh snapshot sees them) is
 * recorded as one more delta.  A fold that commits meanwhile moves deltas
 * into the column atomically, and writers that commit meanwhile record
 * deltas of their own rows, so the difference stays right.  For the keys
 * that a chain's tangled statement noted (see recount_later); a NULL
 * value ("not yet counted") or a missing row is left as it is.
 */
void
cf_correct_key(CounterDef *def, Datum *values)
{
	int64		children;
	int64		unfolded;
	int64		column = 0;
	bool		column_null = true;
	int64		correction;
	List	   *touched = NIL;

	Assert(def->deferred);
	if (!cf_lock_parent(def->parent_relid))
		return;
	children = cf_delta_sub(cf_count_children(def, values, &unfolded, NULL, &column,
											  &column_null),
							cf_flush_in_flight(def, values));
	if (column_null)
		return;
	correction = cf_delta_sub(column_value(def, children, unfolded,
										   cf_state_pending(def, values, false)),
							  column);
	if (correction != 0)
		cf_state_add(def, values, correction, 0, &touched);
	list_free_deep(touched);
}

/* Has any key column of the target changed between two row versions? */
static bool
key_changed(CounterTarget *target, HeapTuple oldtuple, HeapTuple newtuple, TupleDesc desc,
			Oid relid)
{
	for (int k = 0; k < target->nkeys; k++)
	{
		AttrNumber	attnum = map_attnum(target->parent_relid, relid, target->attnums[k]);
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		oldnull;
		bool		newnull;
		Datum		oldval = heap_getattr(oldtuple, attnum, desc, &oldnull);
		Datum		newval = heap_getattr(newtuple, attnum, desc, &newnull);

		if (oldnull != newnull ||
			(!oldnull && !datum_image_eq(oldval, newval, att->attbyval, att->attlen)))
			return true;
	}
	return false;
}

/*
 * The counters whose column a table holds: its own, and on a partition
 * those of the partitioned tables above it.
 */
static List *
parent_counters(CounterDefs *defs, Oid relid, bool partition)
{
	RelCounters *rc = cf_defs_for_rel(defs, relid);
	List	   *counters = rc ? list_copy(rc->as_parent) : NIL;
	ListCell   *lc;

	if (partition)
	{
		foreach(lc, get_partition_ancestors(relid))
		{
			rc = cf_defs_for_rel(defs, lfirst_oid(lc));
			if (rc != NULL)
				counters = list_concat(counters, rc->as_parent);
		}
	}
	return counters;
}

/*
 * The attribute numbers of the counter and key columns of the counters a
 * table holds (parent_counters): the columns that no trigger may change in
 * counterfield's own update of it.
 */
Bitmapset *
cf_counted_columns(Oid relid, bool partition)
{
	CounterDefs *defs = cf_defs_acquire();
	Bitmapset  *columns = NULL;
	ListCell   *lc;

	foreach(lc, parent_counters(defs, relid, partition))
	{
		CounterDef *def = lfirst(lc);

		columns = bms_add_member(columns, map_attnum(def->parent_relid, relid,
													 def->counter_attnum));
		for (int k = 0; k < def->nkeys; k++)
			columns = bms_add_member(columns, map_attnum(def->parent_relid, relid,
														 def->target->attnums[k]));
	}
	cf_defs_release();
	return columns;
}

PG_FUNCTION_INFO_V1(counterfield_parent_trigger);

/*
 * BEFORE INSERT/UPDATE FOR EACH ROW on a parent table: new rows and rows
 * whose key changes get their true count; an UPDATE that writes a counter
 * keeps the stored value, unless it writes NULL ("not yet counted").
 */
Datum
counterfield_parent_trigger(PG_FUNCTION_ARGS)
{
	const char *funcname = "counterfield_parent_trigger";
	TriggerData *trigdata = cf_trigger_context(fcinfo, funcname, false);
	TriggerEvent event;
	Relation	rel;
	Oid			relid;
	TupleDesc	desc;
	HeapTuple	newtuple;
	CounterDefs *defs;
	List	   *counters;
	int			ncols = 0;
	int			cols[MAX_TARGET_COUNTERS];
	Datum		values[MAX_TARGET_COUNTERS];
	bool		nulls[MAX_TARGET_COUNTERS];
	ListCell   *lc;

	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_BEFORE(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE", funcname)));
	if (!TRIGGER_FIRED_FOR_ROW(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired FOR EACH ROW", funcname)));
	if (!TRIGGER_FIRED_BY_INSERT(event) && !TRIGGER_FIRED_BY_UPDATE(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired for INSERT or UPDATE", funcname)));
	if (TRIGGER_FIRED_BY_INSERT(event))
		(void) check_trigger_name(trigdata, CF_GUARD_INSERT, CF_GUARD_INSERT_0_4, false);
	else
		(void) check_trigger_name(trigdata, CF_GUARD_UPDATE, CF_GUARD_UPDATE_0_4, false);

	rel = trigdata->tg_relation;
	relid = RelationGetRelid(rel);
	desc = RelationGetDescr(rel);
	newtuple = TRIGGER_FIRED_BY_INSERT(event) ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	if (cf_is_own_guard(trigdata->tg_trigger))
	{
		cf_own_guard_fired(trigdata);
		return PointerGetDatum(newtuple);
	}
	if (TRIGGER_FIRED_BY_UPDATE(event) && cf_internal_write_to(relid))
		return PointerGetDatum(newtuple);

	/* counterfield's own update of a partitioned table above goes through */
	if (TRIGGER_FIRED_BY_UPDATE(event) && rel->rd_rel->relispartition)
	{
		foreach(lc, get_partition_ancestors(relid))
		{
			if (cf_internal_write_to(lfirst_oid(lc)))
				return PointerGetDatum(newtuple);
		}
	}
	cf_keylock_guard_row();
	defs = cf_defs_acquire();
	counters = parent_counters(defs, relid, rel->rd_rel->relispartition);

	foreach(lc, counters)
	{
		CounterDef *def = lfirst(lc);
		AttrNumber	attnum = map_attnum(def->parent_relid, relid, def->counter_attnum);
		bool		newnull;
		Datum		newval = heap_getattr(newtuple, attnum, desc, &newnull);

		if (ncols >= (int) lengthof(cols))
			elog(ERROR, "more counters than columns on relation %u", relid);
		if (TRIGGER_FIRED_BY_INSERT(event))
		{
			cols[ncols] = attnum;
			values[ncols] = initial_count(def, newtuple, desc, relid, true);
			nulls[ncols++] = false;
		}
		else
		{
			HeapTuple	oldtuple = trigdata->tg_trigtuple;
			Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
			bool		oldnull;
			Datum		oldval = heap_getattr(oldtuple, attnum, desc, &oldnull);

			if (newnull)
				continue;		/* NULL marks the value "not yet counted" */
			if (!oldnull && key_changed(def->target, oldtuple, newtuple, desc, relid))
			{
				cols[ncols] = attnum;
				values[ncols] = initial_count(def, newtuple, desc, relid, false);
				nulls[ncols++] = false;
			}
			else if (oldnull || !datum_image_eq(oldval, newval, att->attbyval, att->attlen))
			{
				cols[ncols] = attnum;
				values[ncols] = oldval;
				nulls[ncols++] = oldnull;
			}
		}
	}
	cf_defs_release();

	if (ncols > 0)
		newtuple = heap_modify_tuple_by_cols(newtuple, desc, ncols, cols, values, nulls);
	return PointerGetDatum(newtuple);
}
