/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  Updating the parent row of one key without SPI.
 *
 * Most flushes change one parent row: a statement that wrote one child row.
 * Run through SPI, that UPDATE pays for a plan check, executor start-up and
 * shut-down of a plan tree, and a portal, several times the work of the
 * update itself.  Where the parent table lets it, the row is instead found
 * through the parent's unique index on the key, locked, and updated the
 * way PostgreSQL's logical replication applies a change: the table's
 * constraints, indexes, replica identity and AFTER row triggers are
 * honoured as by an UPDATE statement.
 *
 * What an UPDATE statement would do that this does not, the table must not
 * have: rules, statement-level or transition-table UPDATE triggers, BEFORE
 * UPDATE row triggers other than counterfield's guard (which only lets
 * counterfield's own write through), stored generated columns; nor be
 * partitioned or foreign.  Then, and for many keys at once, the UPDATE
 * runs through SPI as before (flush.c).
 *
 * The row is read as the UPDATE would read it: with the transaction's
 * snapshot, or a new one per statement under READ COMMITTED, taken after
 * the command counter is advanced; a row updated concurrently is followed
 * to its latest version and its key checked again under READ COMMITTED,
 * and is a serialization failure under REPEATABLE READ and SERIALIZABLE.
 * It is locked FOR NO KEY UPDATE unless a counter column is part of a key
 * that foreign keys can reference, as PostgreSQL's own UPDATE decides.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "counterfield.h"

#ifdef CF_DIRECT_UPDATE

/*
 * Can counterfield's update of a row of this table go without an UPDATE
 * statement (see above)?
 */
static bool
direct_possible(Relation rel)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL ||
		(constr != NULL && constr->has_generated_stored))
		return false;
	if (trigdesc == NULL)
		return true;
	if (trigdesc->trig_update_before_statement || trigdesc->trig_update_after_statement ||
		trigdesc->trig_update_instead_row || trigdesc->trig_update_new_table ||
		trigdesc->trig_update_old_table)
		return false;
	for (int i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];

		if (TRIGGER_TYPE_MATCHES(trigger->tgtype, TRIGGER_TYPE_ROW, TRIGGER_TYPE_BEFORE,
								 TRIGGER_TYPE_UPDATE) &&
			!cf_is_guard(trigger))
			return false;
	}
	return true;
}

/* Raises a serialization failure, as an UPDATE under a snapshot does. */
static void
serialization_failure(TM_Result result)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent %s",
					result == TM_Deleted ? "delete" : "update")));
}

/*
 * Locks the row version in slot for update, following it to its latest
 * version under READ COMMITTED.  Returns false if there is no row to update
 * any more (deleted, or its key changed meanwhile).
 */
static bool
lock_row(CounterTarget *target, Relation rel, TupleTableSlot *slot, Snapshot snapshot,
		 CommandId cid, LockTupleMode mode, FmgrInfo *eq)
{
	TM_FailureData tmfd;
	TM_Result	result;
	bool		xact_snapshot = IsolationUsesXactSnapshot();
	Datum		key[INDEX_MAX_KEYS];

	/* The key as found, to check the latest version against. */
	for (int k = 0; k < target->nkeys; k++)
	{
		bool		isnull;

		key[k] = datumCopy(slot_getattr(slot, target->attnums[k], &isnull),
						   TupleDescAttr(RelationGetDescr(rel), target->attnums[k] - 1)->attbyval,
						   TupleDescAttr(RelationGetDescr(rel), target->attnums[k] - 1)->attlen);
	}
	result = table_tuple_lock(rel, &slot->tts_tid, snapshot, slot, cid, mode, LockWaitBlock,
							  xact_snapshot ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_SelfModified:
			if (tmfd.cmax != cid)
				ereport(ERROR,
						(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
						 errmsg("tuple to be updated was already modified by an operation triggered by the current command"),
						 errhint("Consider using an AFTER trigger instead of a BEFORE trigger to propagate changes to other rows.")));
			return false;
		case TM_Deleted:
			if (xact_snapshot)
				serialization_failure(result);
			return false;
		case TM_Updated:
			serialization_failure(result);
			return false;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
			return false;
	}
	if (!tmfd.traversed)
		return true;

	/* A newer version: is it still the key's row, as EvalPlanQual checks? */
	for (int k = 0; k < target->nkeys; k++)
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, target->attnums[k], &isnull);

		if (isnull ||
			!DatumGetBool(FunctionCall2Coll(&eq[k], target->collations[k], value, key[k])))
			return false;
	}
	return true;
}

/*
 * Adds the deltas of the target's counters to the row in locked, into
 * newslot, checked as adding a bigint and storing into the column's type
 * is.
 */
static void
add_deltas(CounterTarget *target, TupleTableSlot *locked, TupleTableSlot *newslot,
		   int64 *deltas)
{
	TupleDesc	desc = locked->tts_tupleDescriptor;
	ListCell   *lc;

	slot_getallattrs(locked);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, locked->tts_values, sizeof(Datum) * desc->natts);
	memcpy(newslot->tts_isnull, locked->tts_isnull, sizeof(bool) * desc->natts);
	foreach(lc, target->counters)
	{
		CounterDef *def = lfirst(lc);
		int			i = def->counter_attnum - 1;
		Oid			type = TupleDescAttr(desc, i)->atttypid;
		int64		value;

		if (newslot->tts_isnull[i])
			continue;
		value = type == INT2OID ? DatumGetInt16(newslot->tts_values[i]) :
			type == INT4OID ? DatumGetInt32(newslot->tts_values[i]) :
			DatumGetInt64(newslot->tts_values[i]);
		if (pg_add_s64_overflow(value, deltas[foreach_current_index(lc)], &value))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("bigint out of range")));
		if (type == INT2OID && (value < PG_INT16_MIN || value > PG_INT16_MAX))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("smallint out of range")));
		if (type == INT4OID && (value < PG_INT32_MIN || value > PG_INT32_MAX))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("integer out of range")));
		newslot->tts_values[i] = type == INT2OID ? Int16GetDatum((int16) value) :
			type == INT4OID ? Int32GetDatum((int32) value) : Int64GetDatum(value);
	}
	ExecStoreVirtualTuple(newslot);
}

/*
 * The lock an UPDATE of the counter columns takes on a row: FOR UPDATE if
 * one is part of a key that a foreign key can reference, else FOR NO KEY
 * UPDATE.
 */
static LockTupleMode
update_lock_mode(CounterTarget *target, Relation rel)
{
	Bitmapset  *keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_KEY);
	ListCell   *lc;

	foreach(lc, target->counters)
	{
		CounterDef *def = lfirst(lc);

		if (bms_is_member(def->counter_attnum - FirstLowInvalidHeapAttributeNumber, keys))
			return LockTupleExclusive;
	}
	return LockTupleNoKeyExclusive;
}

/*
 * Updates the rows of one key of a target, run as the parent's owner by
 * the caller.  Returns false if the parent does not allow it (see above);
 * else sets *updated to the rows updated.  The rows are read with the given
 * snapshot, or with InvalidSnapshot as any statement of the transaction
 * reads.
 */
bool
cf_direct_update(CounterTarget *target, Datum *key, int64 *deltas, Snapshot snapshot,
				 int64 *updated)
{
	Relation	rel = table_open(target->parent_relid, RowExclusiveLock);
	ScanKeyData skey[INDEX_MAX_KEYS];
	Relation	index;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot *found;
	TupleTableSlot *newslot;
	IndexScanDesc scan;
	FmgrInfo	eq[INDEX_MAX_KEYS];
	LockTupleMode mode;
	CommandId	cid;
	ListCell   *lc;

	if (!direct_possible(rel) ||
		(index = cf_key_index(target, rel, key, skey)) == NULL)
	{
		table_close(rel, NoLock);
		return false;
	}

	/* As SPI runs a statement that writes. */
	CommandCounterIncrement();
	if (snapshot != InvalidSnapshot)
		PushCopiedSnapshot(snapshot);
	else
		PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	snapshot = GetActiveSnapshot();

	estate = CreateExecutorState();
	estate->es_output_cid = cid = GetCurrentCommandId(true);
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	foreach(lc, target->counters)
		rte->updatedCols = bms_add_member(rte->updatedCols,
										  ((CounterDef *) lfirst(lc))->counter_attnum -
										  FirstLowInvalidHeapAttributeNumber);
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	cf_drop_guard(rri, 0, estate->es_query_cxt);
	estate->es_opened_result_relations = list_make1(rri);
	ExecOpenIndices(rri, false);
	AfterTriggerBeginQuery();

	for (int k = 0; k < target->nkeys; k++)
		fmgr_info(get_opcode(cf_equality_operator(target->types[k])), &eq[k]);
	mode = update_lock_mode(target, rel);
	found = table_slot_create(rel, &estate->es_tupleTable);
	newslot = table_slot_create(rel, &estate->es_tupleTable);
	*updated = 0;
#if PG_VERSION_NUM >= 180000
	scan = index_beginscan(rel, index, snapshot, NULL, target->nkeys, 0);
#else
	scan = index_beginscan(rel, index, snapshot, target->nkeys, 0);
#endif
	index_rescan(scan, skey, target->nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, found))
	{
		if (!lock_row(target, rel, found, snapshot, cid, mode, eq))
			continue;
		add_deltas(target, found, newslot, deltas);
		ExecSimpleRelationUpdate(rri, estate, NULL, found, newslot);
		(*updated)++;
	}
	index_endscan(scan);
	index_close(index, AccessShareLock);

	/* The parent's AFTER triggers fire as at the end of an UPDATE. */
	AfterTriggerEndQuery(estate);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	PopActiveSnapshot();
	CommandCounterIncrement();
	table_close(rel, NoLock);
	return true;
}

#else							/* !CF_DIRECT_UPDATE */

bool
cf_direct_update(CounterTarget *target pg_attribute_unused(),
				 Datum *key pg_attribute_unused(),
				 int64 *deltas pg_attribute_unused(),
				 Snapshot snapshot pg_attribute_unused(),
				 int64 *updated pg_attribute_unused())
{
	return false;
}

#endif							/* CF_DIRECT_UPDATE */
