/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  Deferred counters: the ledger of their unfolded deltas, and folding.
 *
 * A deferred counter's writers never touch the parent row.  Its deltas wait
 * in the state cache as transaction-mode ones do, and the flush at commit
 * that would update the parent (cf_apply) inserts them, one per parent key
 * for the whole transaction, into counterfield.ledger instead, as part of
 * the writing transaction: writers of one hot parent do not wait for each
 * other, and a crash or a rollback takes their deltas with their rows.  A
 * transaction that reads the ledger records its own pending deltas first
 * (cf_ledger_read).
 *
 * fold() claims a counter's deltas by deleting them and applies them as a
 * commit applies transaction-mode deltas: each parent key once, in key
 * order, in the same transaction as the deletion, so that each delta is
 * applied exactly once; keys whose parent row is missing are looked for
 * again with the key locked (keylock.c), then dropped.  Folds of one
 * counter take turns; a fold locks the parent before the counter.
 *
 * A counter's value is its column plus its unfolded deltas.  A new parent
 * row is counted as its children less the unfolded deltas of its key that
 * the count sees and the transaction's pending ones, since those are still
 * to be folded into it (trigger.c);
 * verify() and unfolded() add them to the column.
 *
 * Keys are kept as the text of each key column, written and read with fixed
 * output settings (key_io_begin), so that one table holds keys of every
 * type and a dump restores them; key_hash, the key's hash by its types' own
 * hash functions, finds the rows of one key, whose decoded values are then
 * compared as the key's type compares them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "counterfield.h"

/* Lock tag field of the lock that folds of one counter take turns on. */
#define CF_LOCK_FOLD	0x4348	/* 17224 */

/* The OID of counterfield.ledger, or InvalidOid before version 0.6. */
Oid
cf_ledger_relid(void)
{
	Oid			nsp = get_namespace_oid(CF_SCHEMA, true);

	return OidIsValid(nsp) ? get_relname_relid("ledger", nsp) : InvalidOid;
}

/*
 * The transaction that last recorded deltas, and whether the committing one
 * did (see cf_ledger_committed).
 */
static LocalTransactionId wrote_lxid = InvalidLocalTransactionId;
static bool committing_wrote = false;

/* Runs what follows as the ledger's owner, until cf_end_as_owner. */
static void
begin_as_ledger_owner(OwnerContext *owner)
{
	Oid			relid = cf_ledger_relid();

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deferred counters need version 0.6 of the counterfield extension"),
				 errhint("Update the extension with ALTER EXTENSION counterfield UPDATE.")));
	cf_begin_as_owner(cf_relation_owner(relid), 0, owner);
}

/*
 * Is a type's text form read and written by built-in code alone, whatever
 * the settings: a built-in type that is not a domain, whose text depends on
 * no setting?
 */
static bool
key_io_is_fixed(Oid type)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/*
 * While keys of a target are written or read as text (key_io_begin to
 * key_io_end): unless all its key types are fixed ones, the parent's owner
 * runs their input and output functions in a security-restricted operation
 * (a domain's CHECK, a type's own functions are the owner's code, never the
 * caller's, who may be the background worker's superuser), with
 * search_path pg_catalog, pg_temp (regclass and its kind print and read
 * names by it) and the settings that text forms depend on fixed, as
 * pg_dump fixes them.
 */
typedef struct KeyIO
{
	bool		active;
	OwnerContext owner;
} KeyIO;

static void
key_io_begin(CounterTarget *target, KeyIO *io)
{
	static const char *const settings[][2] = {
		{"DateStyle", "ISO, YMD"},
		{"IntervalStyle", "postgres"},
		{"extra_float_digits", "3"},
		{"bytea_output", "hex"},
		{"lc_monetary", "C"},
	};
	int			k;

	for (k = 0; k < target->nkeys && key_io_is_fixed(target->types[k]); k++)
		;
	io->active = (k < target->nkeys);
	if (!io->active)
		return;
	cf_begin_as_owner(target->parent_owner, CF_OWNER_PIN_PATH, &io->owner);
	for (size_t i = 0; i < lengthof(settings); i++)
		(void) set_config_option(settings[i][0], settings[i][1], PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
}

static void
key_io_end(KeyIO *io)
{
	if (io->active)
		cf_end_as_owner(&io->owner);
}

/*
 * Is a key type's hash the same in every database, so that the key_hash of
 * a ledger row still finds it after a dump and restore?  Not for enums and
 * the OID types, whose hashes hash OIDs, nor for composite types and types
 * of users, which may contain them.
 */
static bool
hash_is_portable(Oid type)
{
	Oid			base = getBaseType(type);
	char		typtype = get_typtype(base);

	switch (base)
	{
		case OIDOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCLASSOID:
		case REGTYPEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGROLEOID:
#if PG_VERSION_NUM >= 130000
		case REGCOLLATIONOID:
#endif
			return false;
		default:
			return base < FirstNormalObjectId && typtype != TYPTYPE_COMPOSITE &&
				typtype != TYPTYPE_ENUM;
	}
}

/*
 * Does the ledger hold the hashes of keys of these types?  Only if all are
 * portable; else it holds 0 as their key_hash, and keys are told apart by
 * their values alone.  Kept in CounterTarget.ledger_hashed.
 */
bool
cf_ledger_hashes(int nkeys, Oid *types)
{
	for (int k = 0; k < nkeys; k++)
		if (!hash_is_portable(types[k]))
			return false;
	return true;
}

/* The text of one key column. */
static Datum
key_text(Oid type, Datum value)
{
	Oid			output;
	bool		varlena;

	getTypeOutputInfo(type, &output, &varlena);
	return CStringGetTextDatum(OidOutputFunctionCall(output, value));
}

/* Reads a ledger key back into values, allocated in the current context. */
static void
key_values(CounterTarget *target, Datum array, Datum *values)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n != target->nkeys)
		elog(ERROR, "ledger key has %d columns, not %d", n, target->nkeys);
	for (int k = 0; k < n; k++)
	{
		Oid			input;
		Oid			ioparam;

		if (nulls[k])
			elog(ERROR, "ledger key has a null column");
		getTypeInputInfo(target->types[k], &input, &ioparam);
		values[k] = OidInputFunctionCall(input, TextDatumGetCString(elems[k]), ioparam, -1);
	}
}

/* Prepares the INSERT of a target's deltas into the ledger, from arrays. */
static SPIPlanPtr
ledger_plan(CounterTarget *target)
{
	Oid			argtypes[INDEX_MAX_KEYS + 3];
	StringInfoData sql;

	if (cf_plan_is_current(&target->ledger_plan))
		return target->ledger_plan;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "INSERT INTO counterfield.ledger (counter_id, key_hash, key, delta)"
						   " SELECT u.i, u.h, ARRAY[");
	for (int k = 0; k < target->nkeys; k++)
		appendStringInfo(&sql, "%su.k%d", k > 0 ? ", " : "", k + 1);
	appendStringInfoString(&sql, "], u.d FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), ");
	for (int k = 0; k < target->nkeys; k++)
		appendStringInfo(&sql, "pg_catalog.unnest($%d), ", k + 3);
	appendStringInfo(&sql, "pg_catalog.unnest($%d)) AS u(i, h, ", target->nkeys + 3);
	for (int k = 0; k < target->nkeys; k++)
		appendStringInfo(&sql, "k%d, ", k + 1);
	appendStringInfoString(&sql, "d)");
	argtypes[0] = INT4ARRAYOID;
	argtypes[1] = INT4ARRAYOID;
	for (int k = 0; k < target->nkeys; k++)
		argtypes[k + 2] = TEXTARRAYOID;
	argtypes[target->nkeys + 2] = INT8ARRAYOID;
	return cf_keep_plan(&target->ledger_plan, sql.data, target->nkeys + 3, argtypes);
}

#if PG_VERSION_NUM >= 140000
/*
 * The ledger as open for inserts, kept from one deferred write to the next
 * within a transaction: opening the ledger and its index, and building the
 * index's information, costs more than inserting a row.  Opened under the
 * resource owner and in the memory of the (sub)transaction that first
 * writes, as a statement would, so that its failure lets go of it; closed
 * when that subtransaction commits, or before the transaction commits or
 * prepares (cf_ledger_close).  What a failed (sub)transaction left is
 * forgotten, not closed.  A relcache invalidation of the ledger (or of all
 * relations) marks it stale, to be opened anew.
 */
typedef struct LedgerInserts
{
	LocalTransactionId lxid;	/* of the transaction it is open in */
	SubTransactionId subid;		/* of the subtransaction that opened it */
	ResourceOwner owner;		/* that subtransaction's */
	Oid			relid;
	bool		stale;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
} LedgerInserts;

static LedgerInserts inserts = {.lxid = InvalidLocalTransactionId};
static bool inserts_callbacks = false;

static void
ledger_invalidated(Datum arg pg_attribute_unused(), Oid relid)
{
	if (!OidIsValid(relid) || relid == inserts.relid)
		inserts.stale = true;
}

/* Is the ledger open, by this transaction and a subtransaction still live? */
static bool
inserts_open(void)
{
	return inserts.rel != NULL && inserts.lxid == CF_CURRENT_LXID() &&
		cf_subxact_is_live(inserts.subid);
}

/* Closes the ledger kept open, under the resource owner it was opened by. */
static void
close_inserts(void)
{
	ResourceOwner saved = CurrentResourceOwner;

	CurrentResourceOwner = inserts.owner;
	ExecCloseIndices(inserts.rri);
	ExecResetTupleTable(inserts.estate->es_tupleTable, false);
	FreeExecutorState(inserts.estate);
	table_close(inserts.rel, NoLock);
	CurrentResourceOwner = saved;
	inserts.rel = NULL;
}

/* A subtransaction that opened the ledger closes it when it commits. */
static void
ledger_subxact(SubXactEvent event, SubTransactionId mySubid,
			   SubTransactionId parentSubid pg_attribute_unused(), void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_PRE_COMMIT_SUB && inserts_open() && inserts.subid == mySubid)
		close_inserts();
}

/*
 * Opens the ledger for inserts, or finds it open; returns false if it has
 * triggers, rules or CHECK constraints after all, or is not as counterfield
 * made it.
 */
static bool
open_inserts(void)
{
	static const Oid types[] = {INT4OID, INT4OID, TEXTARRAYOID, INT8OID};
	ResourceOwner saved = CurrentResourceOwner;
	MemoryContext oldcxt;
	Relation	rel;
	TupleDesc	desc;
	bool		plain;

	if (!inserts_open())
		inserts.rel = NULL;
	if (inserts.rel != NULL && inserts.stale)
		close_inserts();
	if (inserts.rel != NULL)
		return true;
	if (!inserts_callbacks)
	{
		CacheRegisterRelcacheCallback(ledger_invalidated, (Datum) 0);
		RegisterSubXactCallback(ledger_subxact, NULL);
		inserts_callbacks = true;
	}

	CurrentResourceOwner = CurTransactionResourceOwner;
	rel = table_open(cf_ledger_relid(), RowExclusiveLock);
	desc = RelationGetDescr(rel);
	plain = rel->trigdesc == NULL && rel->rd_rules == NULL &&
		rel->rd_rel->relkind == RELKIND_RELATION && desc->natts == lengthof(types) &&
		(desc->constr == NULL || desc->constr->num_check == 0);
	for (int a = 0; a < desc->natts && plain; a++)
		plain = !TupleDescAttr(desc, a)->attisdropped && TupleDescAttr(desc, a)->atttypid == types[a];
	if (!plain)
	{
		table_close(rel, NoLock);
		CurrentResourceOwner = saved;
		return false;
	}
	oldcxt = MemoryContextSwitchTo(CurTransactionContext);
	inserts.estate = CreateExecutorState();
	inserts.rri = makeNode(ResultRelInfo);
	InitResultRelInfo(inserts.rri, rel, 1, NULL, 0);
	ExecOpenIndices(inserts.rri, false);
	inserts.slot = table_slot_create(rel, &inserts.estate->es_tupleTable);
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = saved;
	inserts.rel = rel;
	inserts.relid = RelationGetRelid(rel);
	inserts.owner = CurTransactionResourceOwner;
	inserts.subid = GetCurrentSubTransactionId();
	inserts.lxid = CF_CURRENT_LXID();
	inserts.stale = false;
	return true;
}
#endif

/*
 * Closes the ledger kept open for inserts: before DDL, and before commit or
 * prepare, after the last deferred write; with committed, once the
 * transaction has committed or prepared (its local id gone by then), should
 * a write have come after all since the pre-commit.  Without committed, it
 * also sees whether the transaction recorded deltas (cf_ledger_committed).
 */
void
cf_ledger_close(bool committed)
{
	static LocalTransactionId committing = InvalidLocalTransactionId;

	if (!committed)
	{
		committing = CF_CURRENT_LXID();
		committing_wrote = wrote_lxid == committing;
	}
#if PG_VERSION_NUM >= 140000
	if (!committed)
	{
		if (inserts_open())
			close_inserts();
	}
	else if (inserts.rel != NULL && inserts.lxid == committing &&
			 inserts.subid == TopSubTransactionId)
		close_inserts();
	inserts.rel = NULL;
#endif
}

/*
 * Once a transaction has committed: if it recorded deltas (as its
 * pre-commit saw, cf_ledger_close), notes its database for the background
 * fold.
 */
void
cf_ledger_committed(void)
{
	if (committing_wrote)
		cf_worker_note(MyDatabaseId);
	committing_wrote = false;
}

/*
 * Inserts n rows into the ledger without SPI, as an INSERT would into a
 * table with no triggers, rules or CHECK constraints, such as the ledger;
 * texts[k][i] is the text of key column k of row i.  Returns false, having
 * done nothing, if the ledger has any of these after all, or is not as
 * counterfield made it.
 */
static bool
insert_direct(int n, Datum *ids, Datum *hashes, Datum **texts, int nkeys, Datum *values)
{
#if PG_VERSION_NUM >= 140000
	TupleTableSlot *slot;
	CommandId	cid;

	if (!open_inserts())
		return false;
	slot = inserts.slot;
	cid = GetCurrentCommandId(true);
	for (int i = 0; i < n; i++)
	{
		Datum		key[INDEX_MAX_KEYS];

		for (int k = 0; k < nkeys; k++)
			key[k] = texts[k][i];
		ExecClearTuple(slot);
		slot->tts_values[0] = ids[i];
		slot->tts_values[1] = hashes[i];
		slot->tts_values[2] = PointerGetDatum(construct_array(key, nkeys, TEXTOID, -1, false,
															  TYPALIGN_INT));
		slot->tts_values[3] = values[i];
		memset(slot->tts_isnull, 0, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		ExecStoreVirtualTuple(slot);
		table_tuple_insert(inserts.rel, slot, cid, 0, NULL);
		if (inserts.rri->ri_NumIndices > 0)
#if PG_VERSION_NUM >= 160000
			(void) ExecInsertIndexTuples(inserts.rri, slot, inserts.estate, false, false, NULL,
										 NIL, false);
#else
			(void) ExecInsertIndexTuples(inserts.rri, slot, inserts.estate, false, false, NULL,
										 NIL);
#endif
	}
	ExecClearTuple(slot);

	/* Seen by what follows, as after a statement that SPI runs. */
	CommandCounterIncrement();
	return true;
#else
	return false;
#endif
}

/*
 * Records the deltas of a deferred target's keys in the ledger: deltas holds
 * one row of list_length(target->counters) deltas per key, as apply_target
 * sums them.  SPI is connected.
 */
void
cf_ledger_write(CounterTarget *target, Datum **keys, int64 *deltas, int ngroups)
{
	int			ncounters = list_length(target->counters);
	int			max = ngroups * ncounters;
	Datum	   *ids = palloc(sizeof(Datum) * max);
	Datum	   *hashes = palloc(sizeof(Datum) * max);
	Datum	   *texts[INDEX_MAX_KEYS];
	Datum	   *values = palloc(sizeof(Datum) * max);
	Datum		params[INDEX_MAX_KEYS + 3];
	OwnerContext owner;
	KeyIO		io;
	int			n = 0;
	int			ret;

	wrote_lxid = CF_CURRENT_LXID();

	for (int k = 0; k < target->nkeys; k++)
		texts[k] = palloc(sizeof(Datum) * max);
	key_io_begin(target, &io);
	for (int g = 0; g < ngroups; g++)
	{
		uint32		hash = target->ledger_hashed ? cf_key_hash(target->layout, keys[g]) : 0;
		ListCell   *lc;

		foreach(lc, target->counters)
		{
			int64		delta = deltas[g * ncounters + foreach_current_index(lc)];

			if (delta == 0)
				continue;
			ids[n] = Int32GetDatum(((CounterDef *) lfirst(lc))->id);
			hashes[n] = Int32GetDatum((int32) hash);
			for (int k = 0; k < target->nkeys; k++)
				texts[k][n] = key_text(target->types[k], keys[g][k]);
			values[n++] = Int64GetDatum(delta);
		}
	}
	key_io_end(&io);
	if (n == 0 || insert_direct(n, ids, hashes, texts, target->nkeys, values))
		return;

	params[0] = PointerGetDatum(construct_array(ids, n, INT4OID, 4, true, TYPALIGN_INT));
	params[1] = PointerGetDatum(construct_array(hashes, n, INT4OID, 4, true, TYPALIGN_INT));
	for (int k = 0; k < target->nkeys; k++)
		params[k + 2] = PointerGetDatum(construct_array(texts[k], n, TEXTOID, -1, false,
														TYPALIGN_INT));
	params[target->nkeys + 2] = PointerGetDatum(construct_array(values, n, INT8OID, 8,
																FLOAT8PASSBYVAL,
																TYPALIGN_DOUBLE));
	begin_as_ledger_owner(&owner);
	ret = SPI_execute_plan(ledger_plan(target), params, NULL, false, 0);
	cf_end_as_owner(&owner);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/*
 * Reads the deltas of a counter that the active snapshot sees, or, with
 * claim, deletes them, returning what was deleted; the items, allocated in
 * cxt, are one per spelling of a key in the ledger (summed there, however
 * many rows it has), so an equal key may come more than once, in no order.
 * The transaction's own pending deltas of the counter are recorded first,
 * and read with the rest.  SPI is connected.
 */
FlushItem *
cf_ledger_read(CounterDef *def, bool claim, MemoryContext cxt, int *nitems)
{
	Oid			types[1] = {INT4OID};
	Datum		params[1];
	OwnerContext owner;
	FlushItem  *items;
	FlushItem  *pending;
	int			npending;
	bool		pushed = false;
	KeyIO		io;
	MemoryContext oldcxt;

	/*
	 * The transaction's own deltas, which wait for commit, are recorded
	 * first.
	 */
	pending = cf_state_take_counter(def, &npending);
	if (npending > 0)
	{
		cf_apply(pending, npending, NULL);
		CommandCounterIncrement();
		if (!claim && ActiveSnapshotSet())
		{
			PushCopiedSnapshot(GetActiveSnapshot());
			GetActiveSnapshot()->curcid = GetCurrentCommandId(false);
			pushed = true;
		}
	}

	params[0] = Int32GetDatum(def->id);
	begin_as_ledger_owner(&owner);
	cf_spi_run(claim ?
			   "WITH claimed AS (DELETE FROM counterfield.ledger"
			   " WHERE counter_id OPERATOR(pg_catalog.=) $1 RETURNING key, delta)"
			   " SELECT key, CAST(pg_catalog.sum(delta) AS pg_catalog.int8) FROM claimed GROUP BY key" :
			   "SELECT key, CAST(pg_catalog.sum(delta) AS pg_catalog.int8) FROM counterfield.ledger"
			   " WHERE counter_id OPERATOR(pg_catalog.=) $1 GROUP BY key",
			   1, types, params, NULL, !claim, SPI_OK_SELECT);
	cf_end_as_owner(&owner);
	if (pushed)
		PopActiveSnapshot();

	*nitems = (int) SPI_processed;
	oldcxt = MemoryContextSwitchTo(cxt);
	items = palloc(sizeof(FlushItem) * Max(*nitems, 1));
	key_io_begin(def->target, &io);
	for (int i = 0; i < *nitems; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;

		items[i].counter_id = def->id;
		items[i].def = def;
		items[i].values = palloc(sizeof(Datum) * def->nkeys);
		key_values(def->target, SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull),
				   items[i].values);
		items[i].delta = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
	}
	key_io_end(&io);
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);
	return items;
}

/*
 * The sum of a counter's unfolded deltas of one parent key that the active
 * snapshot sees.  SPI is connected.
 */
int64
cf_ledger_key_sum(CounterDef *def, Datum *key)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		params[2];
	Datum		values[INDEX_MAX_KEYS];
	OwnerContext owner;
	int64		sum = 0;
	KeyIO		io;

	params[0] = Int32GetDatum(def->id);
	params[1] = Int32GetDatum(def->target->ledger_hashed ?
							  (int32) cf_key_hash(def->target->layout, key) : 0);
	begin_as_ledger_owner(&owner);
	cf_spi_run("SELECT key, delta FROM counterfield.ledger"
			   " WHERE counter_id OPERATOR(pg_catalog.=) $1"
			   " AND key_hash OPERATOR(pg_catalog.=) $2",
			   2, types, params, NULL, true, SPI_OK_SELECT);
	cf_end_as_owner(&owner);
	key_io_begin(def->target, &io);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		bool		isnull;

		key_values(def->target, SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull), values);
		if (cf_compare_keys(def->target, values, key) == 0)
			sum = cf_delta_add(sum, DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2,
																&isnull)));
	}
	key_io_end(&io);
	SPI_freetuptable(SPI_tuptable);
	return sum;
}

/*
 * Deletes every delta of a counter (of every counter, for 0) that is
 * committed by now, whatever the isolation level: reinit, which keeps
 * writers out, recomputes the counter from the rows committed by now, and
 * a counter dropped takes its deltas with it.  SPI is connected.
 */
void
cf_ledger_discard(int32 counter_id)
{
	Oid			types[1] = {INT4OID};
	Datum		params[1];
	OwnerContext owner;
	SPIPlanPtr	plan;
	Snapshot	snapshot;
	int			ret;

	if (!OidIsValid(cf_ledger_relid()))
		return;
	params[0] = Int32GetDatum(counter_id);
	begin_as_ledger_owner(&owner);
	plan = SPI_prepare(counter_id != 0 ?
					   "DELETE FROM counterfield.ledger WHERE counter_id OPERATOR(pg_catalog.=) $1" :
					   "DELETE FROM counterfield.ledger WHERE $1 IS NOT NULL",
					   1, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ret = SPI_execute_snapshot(plan, params, NULL, snapshot, InvalidSnapshot, false, true, 0);
	UnregisterSnapshot(snapshot);
	SPI_freeplan(plan);
	cf_end_as_owner(&owner);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(ret));
}

static int
compare_items_of(const void *a, const void *b, void *arg)
{
	return cf_compare_keys((CounterTarget *) arg, ((const FlushItem *) a)->values,
						   ((const FlushItem *) b)->values);
}

/*
 * The unfolded deltas of a counter that the active snapshot sees, one item
 * per key in key order, keys whose deltas cancel out left out.  SPI is
 * connected; the items are allocated in cxt.
 */
FlushItem *
cf_ledger_unfolded(CounterDef *def, MemoryContext cxt, int *nitems)
{
	int			n;
	int			kept = 0;
	FlushItem  *items = cf_ledger_read(def, false, cxt, &n);

	if (n > 1)
		qsort_arg(items, n, sizeof(FlushItem), compare_items_of, def->target);
	for (int i = 0, j; i < n; i = j)
	{
		int64		sum = 0;

		for (j = i; j < n && cf_compare_keys(def->target, items[i].values, items[j].values) == 0; j++)
			sum = cf_delta_add(sum, items[j].delta);
		if (sum != 0)
		{
			items[kept] = items[i];
			items[kept++].delta = sum;
		}
	}
	*nitems = kept;
	return items;
}

/*
 * Records a TRUNCATE of a deferred counter's child: every value the counter
 * has, its column plus its unfolded deltas as one snapshot sees them, is
 * taken back by a delta.  The caller holds the child exclusively, so no
 * writer adds to them meanwhile; a fold that commits meanwhile moves deltas
 * from the ledger to the column, which leaves their sum as it was.  SPI is
 * connected.
 */
void
cf_ledger_truncate(CounterDef *def)
{
	CounterTarget *target = def->target;
	StringInfoData sql;
	OwnerContext owner;
	FlushItem  *unfolded;
	FlushItem  *items;
	int			nunfolded;
	int			n;
	char	   *column = cf_column_sql(def->parent_relid, def->counter_attnum);

	PushActiveSnapshot(GetLatestSnapshot());
	unfolded = cf_ledger_read(def, false, CurrentMemoryContext, &nunfolded);

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < target->nkeys; k++)
		appendStringInfo(&sql, "p.%s, ", cf_column_sql(def->parent_relid, target->attnums[k]));
	appendStringInfo(&sql, "%s FROM %s AS p WHERE p.%s OPERATOR(pg_catalog.<>) 0",
					 cf_units_sql(def, psprintf("p.%s", column)),
					 cf_relation_sql(def->parent_relid, false), column);
	cf_begin_as_table_owner(def->parent_relid, target->parent_owner, &owner);
	cf_spi_run(sql.data, 0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	cf_end_as_owner(&owner);
	PopActiveSnapshot();

	n = (int) SPI_processed;
	items = palloc(sizeof(FlushItem) * (n + nunfolded + 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;

		items[i].counter_id = def->id;
		items[i].def = def;
		items[i].values = palloc(sizeof(Datum) * def->nkeys);
		for (int k = 0; k < def->nkeys; k++)
			items[i].values[k] = SPI_getbinval(tuple, SPI_tuptable->tupdesc, k + 1, &isnull);
		items[i].delta = cf_delta_sub(0, DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc,
																	 def->nkeys + 1, &isnull)));
	}
	for (int i = 0; i < nunfolded; i++)
	{
		items[n] = unfolded[i];
		items[n++].delta = cf_delta_sub(0, unfolded[i].delta);
	}
	cf_apply(items, n, NULL);
}

/* Takes the lock that folds of one counter take turns on, until commit. */
static void
lock_counter_fold(int32 counter_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) counter_id, 0, CF_LOCK_FOLD);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Folds the unfolded deltas of the given deferred counters into their
 * parents; returns how many parent rows changed.  Each parent is locked
 * before its counter's fold lock: reinit and drop_counter, which lock the
 * parent against writers, then wait for a running fold, and a fold for
 * them, in one order.
 */
int64
cf_fold(List *defs)
{
	FlushItem  *items = NULL;
	int			nitems = 0;
	int			max = 0;
	ListCell   *lc;
	int64		changed;

	cf_spi_connect();
	foreach(lc, defs)
	{
		CounterDef *def = lfirst(lc);
		FlushItem  *claimed;
		int			n;

		if (!cf_lock_parent(def->parent_relid))
			continue;
		lock_counter_fold(def->id);
		claimed = cf_ledger_read(def, true, CurrentMemoryContext, &n);
		if (n == 0)
			continue;
		if (nitems + n > max)
		{
			max = Max(nitems + n, max * 2);
			items = items ? repalloc(items, sizeof(FlushItem) * max) :
				palloc(sizeof(FlushItem) * max);
		}
		memcpy(items + nitems, claimed, sizeof(FlushItem) * n);
		nitems += n;
	}
	changed = nitems > 0 ? cf_apply_fold(items, nitems) : 0;
	SPI_finish();
	return changed;
}

/*
 * Folds one counter in a subtransaction of its own; returns whether it did.
 * A fold that fails (a parent's constraint or trigger refuses the new
 * value, a lock held elsewhere, a key that no longer reads back) is
 * reported as a warning and leaves the deltas where they were: the
 * background worker tries again at its next round, and DDL goes on.
 */
bool
cf_fold_guarded(CounterDef *def, bool before_ddl)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool folded = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		(void) cf_fold(list_make1(def));
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg(before_ddl ?
						"counterfield could not fold counter \"%s\" of table \"%s\" before the command" :
						"counterfield could not fold counter \"%s\" of table \"%s\"",
						get_attname(def->parent_relid, def->counter_attnum, false),
						get_rel_name(def->parent_relid)),
				 errdetail("%s", edata->message),
				 before_ddl ?
				 errhint("Its column lacks the deltas not folded; if the counter remains, counterfield.reinit() recomputes it.") :
				 errhint("It is tried again at the next round; until then its column lags.")));
		FreeErrorData(edata);
		folded = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return folded;
}

/*
 * Does DDL that drops the column attnum of relid (or the whole table, with
 * InvalidAttrNumber) drop the counter?  A column of its child's key or one
 * its condition may use, or of its parent's key; for a counter with
 * through, any column of the child or an intermediate table.
 */
static bool
drops_counter(CounterDef *def, Oid relid, AttrNumber attnum)
{
	/*
	 * Through intermediate tables: any column of the chain's tables may be a
	 * key.
	 */
	if (def->nhops > 0 && (relid == def->child_relid || cf_link_hop_of(def, relid) > 0))
		return true;
	if (relid == def->child_relid)
	{
		if (attnum == InvalidAttrNumber || def->has_condition)
			return true;
		for (int k = 0; k < def->nkeys; k++)
			if (def->fk_attnums[k] == attnum)
				return true;
	}
	if (relid == def->parent_relid)
	{
		if (attnum == InvalidAttrNumber)
			return true;
		for (int k = 0; k < def->nkeys; k++)
			if (def->target->attnums[k] == attnum)
				return true;
	}
	return false;
}

/*
 * Before DDL (see fold_before_ddl): folds the deferred counters that the
 * command drops, the table relids[i] or its column attnums[i]
 * (InvalidAttrNumber for the table), after locking that table as the
 * command will, so that writers still running commit their deltas first;
 * and those with a key column of the type given (or a domain over it); or,
 * with all, every deferred counter.  A table no deferred counter needs is
 * not locked here: the command locks it in its own order.
 */
void
cf_fold_before_ddl(List *relids, List *attnums, Oid type, bool all)
{
	CounterDefs *defs;
	List	   *fold = NIL;
	ListCell   *lc;

	if (!OidIsValid(cf_ledger_relid()))
		return;
	defs = cf_defs_acquire();
	for (int i = 0; i < defs->ncounters; i++)
	{
		CounterDef *def = &defs->counters[i];
		bool		match = all;
		ListCell   *la;

		if (!def->deferred)
			continue;
		for (int k = 0; k < def->nkeys && OidIsValid(type); k++)
			match |= getBaseType(def->target->types[k]) == type;
		forboth(lc, relids, la, attnums)
		{
			if (drops_counter(def, lfirst_oid(lc), (AttrNumber) lfirst_int(la)))
			{
				LockRelationOid(lfirst_oid(lc), AccessExclusiveLock);
				match = true;
			}
		}
		if (match)
			fold = lappend(fold, def);
	}
	foreach(lc, fold)
		cf_fold_guarded(lfirst(lc), true);
	cf_defs_release();
}

/*
 * The deferred counters of a call's arguments: those of the parent named
 * (the one on the column named), or every one, that the caller may act on.
 */
static List *
deferred_counters(CounterDefs *defs, CounterFilter *filter, bool (*allowed) (CounterDef *def))
{
	List	   *list = NIL;

	if (OidIsValid(filter->parent) && filter->column != NULL)
		(void) cf_lookup_counter(defs, filter->parent, filter->column);
	for (int i = 0; i < defs->ncounters; i++)
	{
		CounterDef *def = &defs->counters[i];

		if (def->deferred && cf_filter_includes(filter, def) && allowed(def))
			list = lappend(list, def);
	}
	return list;
}

/* May the caller fold a counter: does it own the parent? */
static bool
may_fold(CounterDef *def)
{
	return cf_owns_relation(def->parent_relid);
}

/* May the caller see a counter's deltas: may it read both its tables? */
static bool
may_read(CounterDef *def)
{
	return cf_may_read_table(def->parent_relid) && cf_may_read_table(def->child_relid);
}

PG_FUNCTION_INFO_V1(counterfield_fold);

/*
 * fold(parent, counter_column): folds the unfolded deltas of deferred
 * counters into their parents, those of the parent (and column) named or,
 * with none named, of every parent the caller owns; returns how many parent
 * rows changed.
 */
Datum
counterfield_fold(PG_FUNCTION_ARGS)
{
	CounterFilter filter;
	CounterDefs *defs;
	int64		changed;

	/* Ownership first, before anything locks a table. */
	cf_filter_args(fcinfo, &filter);
	if (OidIsValid(filter.parent) && !cf_owns_relation(filter.parent))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(filter.parent)),
					   get_rel_name(filter.parent));
	defs = cf_defs_acquire();
	changed = cf_fold(deferred_counters(defs, &filter, may_fold));
	cf_defs_release();
	PG_RETURN_INT64(changed);
}

/*
 * Prepares "SELECT p.k1, ... FROM parent p WHERE p.k1 = $1 ..." for a
 * target: the parent's own spelling of a key (numeric 1 for a delta
 * recorded as 1.0, 'Ann' for 'ANN' under a case-insensitive collation).
 */
static SPIPlanPtr
spelling_plan(CounterTarget *target)
{
	StringInfoData sql;
	Oid			argtypes[INDEX_MAX_KEYS];
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < target->nkeys; k++)
		appendStringInfo(&sql, "%sp.%s", k > 0 ? ", " : "",
						 cf_column_sql(target->parent_relid, target->attnums[k]));
	appendStringInfo(&sql, " FROM %s AS p WHERE ", cf_relation_sql(target->parent_relid, false));
	cf_append_key_match(&sql, target, argtypes);
	appendStringInfoString(&sql, " LIMIT 1");
	plan = SPI_prepare(sql.data, target->nkeys, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/* Refuses the unfolded deltas of a parent whose tables the caller may not read. */
static void
refuse_unfolded(Oid parent)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to read the unfolded deltas of table \"%s\"",
					get_rel_name(parent)),
			 errdetail("Only a role that owns both tables of a counter, or may read them with no row-level security in the way, may read its deltas.")));
}

PG_FUNCTION_INFO_V1(counterfield_unfolded);

/*
 * unfolded(parent, counter_column): per deferred counter and parent key, the
 * sum of the deltas not yet folded that the caller's snapshot sees, of the
 * counters whose tables the caller may read.
 */
Datum
counterfield_unfolded(PG_FUNCTION_ARGS)
{
	CounterFilter filter;
	TupleDesc	desc;
	Tuplestorestate *store = cf_report_begin(fcinfo, &desc, &filter, refuse_unfolded);
	CounterDefs *defs = cf_defs_acquire();
	List	   *list = deferred_counters(defs, &filter, may_read);
	ListCell   *lc;

	cf_spi_connect();
	foreach(lc, list)
	{
		CounterDef *def = lfirst(lc);
		char	   *name = get_attname(def->parent_relid, def->counter_attnum, false);
		int			n;
		FlushItem  *items = cf_ledger_unfolded(def, CurrentMemoryContext, &n);
		SPIPlanPtr	plan = NULL;
		int			nestlevel = 0;

		/*
		 * A key is rendered as its parent row spells it, if the row is there
		 * (the caller may read the whole table), so that the key joins with
		 * the row's own rendering; else as the ledger spells it.
		 */
		if (n > 0)
		{
			nestlevel = cf_pin_search_path();
			plan = spelling_plan(def->target);
		}
		for (int i = 0; i < n; i++)
		{
			Datum		out[4];
			bool		nulls[4] = {false, false, false, false};
			Datum	   *key = items[i].values;
			Datum		spelled[INDEX_MAX_KEYS];

			if (SPI_execute_plan(plan, items[i].values, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "SPI_execute_plan failed");
			if (SPI_processed == 1)
			{
				for (int k = 0; k < def->nkeys; k++)
				{
					bool		isnull;

					spelled[k] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											   k + 1, &isnull);
				}
				key = spelled;
			}
			out[0] = ObjectIdGetDatum(def->parent_relid);
			out[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
			out[2] = CStringGetTextDatum(cf_key_text(def->nkeys, def->target->types, key));
			out[3] = cf_units_numeric(def, items[i].delta);
			tuplestore_putvalues(store, desc, out, nulls);
			SPI_freetuptable(SPI_tuptable);
		}
		if (plan != NULL)
		{
			SPI_freeplan(plan);
			AtEOXact_GUC(true, nestlevel);
		}
	}
	SPI_finish();
	cf_defs_release();
	return (Datum) 0;
}
