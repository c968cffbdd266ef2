/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  Updating the parent row of one key without SPI.
 *
 * Most flushes change one parent row: a statement that wrote one child row.
 * Run through SPI, that UPDATE pays for a plan check, executor start-up and
 * shut-down of a plan tree, and a portal, more than the update itself.
 * Where the parent table lets it, the row is instead found through the
 * parent's unique index on the key and updated the way the executor updates
 * a row, with the table's constraints, indexes, replica identity and AFTER
 * row triggers honoured as by an UPDATE statement.
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
 * the command counter is advanced.  A row updated concurrently is, under
 * READ COMMITTED, locked in its latest version, its key checked again, and
 * updated; under REPEATABLE READ and SERIALIZABLE it is a serialization
 * failure, as for an UPDATE.
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

/*
 * Deals with a row that could not be updated or locked as an UPDATE does:
 * an error, or false if the row is gone (deleted, or already updated by
 * this command), or true if a newer version is to be locked and updated
 * (READ COMMITTED only).
 */
static bool
settle_failure(TM_Result result, TM_FailureData *tmfd, CommandId cid)
{
	switch (result)
	{
		case TM_SelfModified:
			if (tmfd->cmax != cid)
				ereport(ERROR,
						(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
						 errmsg("tuple to be updated was already modified by an operation triggered by the current command"),
						 errhint("Consider using an AFTER trigger instead of a BEFORE trigger to propagate changes to other rows.")));
			return false;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent %s",
								result == TM_Deleted ? "delete" : "update")));
			return result == TM_Updated;
		default:
			elog(ERROR, "unexpected table AM result: %u", result);
			return false;
	}
}

/*
 * Locks the latest version of the row in slot, under READ COMMITTED, after
 * a concurrent update: found there, and still with the same key, as
 * EvalPlanQual checks.  Returns false if there is no row to update any
 * more.
 */
static bool
lock_row(CounterTarget *target, Relation rel, TupleTableSlot *slot, Snapshot snapshot,
		 CommandId cid, LockTupleMode mode, FmgrInfo *eq)
{
	TM_FailureData tmfd;
	TM_Result	result;
	Datum		key[INDEX_MAX_KEYS];
	TupleDesc	desc = RelationGetDescr(rel);

	for (int k = 0; k < target->nkeys; k++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, target->attnums[k] - 1);
		bool		isnull;

		key[k] = datumCopy(slot_getattr(slot, target->attnums[k], &isnull), att->attbyval,
						   att->attlen);
	}
	result = table_tuple_lock(rel, &slot->tts_tid, snapshot, slot, cid, mode, LockWaitBlock,
							  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	if (result != TM_Ok)
	{
		/* A row moved to another partition, or gone: nothing to follow. */
		(void) settle_failure(result == TM_Updated ? TM_Deleted : result, &tmfd, cid);
		return false;
	}
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
 * Fires the AFTER UPDATE row triggers of a row whose old version was at
 * otid, as an UPDATE does.
 */
static void
after_update(EState *estate, ResultRelInfo *rri, ItemPointer otid, TupleTableSlot *slot,
			 List *recheck)
{
#if PG_VERSION_NUM >= 150000
	ExecARUpdateTriggers(estate, rri, NULL, NULL, otid, NULL, slot, recheck, NULL, false);
#else
	ExecARUpdateTriggers(estate, rri, otid, NULL, slot, recheck, NULL);
#endif
}

/*
 * Adds the deltas to the row version in found and stores it, as an UPDATE
 * does, with the table's constraints and indexes.  A row updated
 * concurrently is followed to its latest version under READ COMMITTED
 * (lock_row).  Returns false if there is no row to update any more.
 */
static bool
update_row(CounterTarget *target, ResultRelInfo *rri, EState *estate, TupleTableSlot *found,
		   TupleTableSlot *newslot, int64 *deltas, FmgrInfo *eq)
{
	Relation	rel = rri->ri_RelationDesc;

	for (;;)
	{
		TM_FailureData tmfd;
		LockTupleMode lockmode;
		bool		update_indexes;
		TM_Result	result;

		add_deltas(target, found, newslot, deltas);
		if (RelationGetDescr(rel)->constr != NULL)
			ExecConstraints(rri, newslot, estate);
		if (rel->rd_rel->relispartition)
			ExecPartitionCheck(rri, newslot, estate, true);
		result = table_tuple_update(rel, &found->tts_tid, newslot, estate->es_output_cid,
									estate->es_snapshot, InvalidSnapshot, true, &tmfd,
									&lockmode, &update_indexes);
		if (result == TM_Ok)
		{
			List	   *recheck = NIL;

			if (update_indexes && rri->ri_NumIndices > 0)
				recheck = ExecInsertIndexTuples(rri, newslot, estate, true, false, NULL, NIL);
			after_update(estate, rri, &found->tts_tid, newslot, recheck);
			list_free(recheck);
			return true;
		}
		if (!settle_failure(result, &tmfd, estate->es_output_cid) ||
			!lock_row(target, rel, found, estate->es_snapshot, estate->es_output_cid, lockmode,
					  eq))
			return false;
	}
}

/*
 * Updates the rows of one key of a target, run as the parent's owner by
 * the caller.  Returns false if the parent does not allow it (see above)
 * or a counter column is numeric; else sets *updated to the rows updated.  The rows are read with the given
 * snapshot, or with InvalidSnapshot as any statement of the transaction
 * reads.
 */
bool
cf_direct_update(CounterTarget *target, Datum *key, int64 *deltas, Snapshot snapshot,
				 int64 *updated)
{
	Relation	rel;
	ScanKeyData skey[INDEX_MAX_KEYS];
	Relation	index;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot *found;
	TupleTableSlot *newslot;
	IndexScanDesc scan;
	FmgrInfo	eq[INDEX_MAX_KEYS];
	ListCell   *lc;

	/*
	 * Numeric counter columns are added to by SQL, which rounds and checks
	 * them.
	 */
	if (target->numeric)
		return false;
	rel = table_open(target->parent_relid, RowExclusiveLock);
	if (!direct_possible(rel))
	{
		table_close(rel, NoLock);
		return false;
	}

	estate = CreateExecutorState();
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

	/* The row is found through one of the indexes the update maintains. */
	index = NULL;
	for (int i = 0; i < rri->ri_NumIndices && index == NULL; i++)
		if (cf_index_fits_key(target, rel, rri->ri_IndexRelationDescs[i], key, skey))
			index = rri->ri_IndexRelationDescs[i];
	if (index == NULL)
	{
		ExecCloseResultRelations(estate);
		FreeExecutorState(estate);
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
	estate->es_snapshot = snapshot = GetActiveSnapshot();
	estate->es_output_cid = GetCurrentCommandId(true);
	AfterTriggerBeginQuery();

	for (int k = 0; k < target->nkeys; k++)
		fmgr_info(get_opcode(cf_equality_operator(target->types[k])), &eq[k]);
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
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
		if (update_row(target, rri, estate, found, newslot, deltas, eq))
			(*updated)++;
	index_endscan(scan);

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
