/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  Backend-local cache of counter definitions.
 *
 * All counters are loaded at once from counterfield.counter into one
 * "generation" that lives in its own memory context under TopMemoryContext.
 * A relcache invalidation of any table that a counter involves, or of the
 * catalog table itself, only marks the generation invalid; the next user
 * loads a new one.  A generation that is still in use further up the stack
 * (a trigger fired by counterfield's own UPDATE, say) is retired and freed
 * once nothing uses it any more.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_attribute.h"
#include "executor/executor.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "counterfield.h"

static CounterDefs *current_defs = NULL;
static bool defs_valid = false;
static List *retired_defs = NIL;
static int	defs_pins = 0;
static LocalTransactionId defs_pins_lxid = InvalidLocalTransactionId;
static Oid	loaded_catalog_relid = InvalidOid;
static uint64 last_generation = 0;

/*
 * Marks the definitions invalid when a table they involve changes, and
 * forgets what counterfield found out about a table it writes.
 */
static void
cf_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	cf_forget_written_table(relid);
	if (current_defs == NULL || !defs_valid)
		return;
	if (!OidIsValid(relid) || relid == loaded_catalog_relid ||
		hash_search(current_defs->by_rel, &relid, HASH_FIND, NULL) != NULL)
		defs_valid = false;
}

/*
 * Marks the definitions invalid when a function changes, if a condition may
 * call it: a condition's expression state checks its owner's privilege to
 * run its functions when it is built, and a REVOKE must take effect.
 */
static void
cf_proc_callback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
				 uint32 hashvalue pg_attribute_unused())
{
	if (current_defs != NULL && defs_valid && current_defs->has_conditions)
		defs_valid = false;
}

/* Registers the invalidation callbacks, once per backend. */
void
cf_cache_init(void)
{
	CacheRegisterRelcacheCallback(cf_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, cf_proc_callback, (Datum) 0);
}

/* Returns the OID of counterfield.counter. */
Oid
cf_catalog_relid(bool missing_ok)
{
	Oid			nsp = get_namespace_oid(CF_SCHEMA, missing_ok);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(CF_CATALOG, nsp) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"counterfield\" is not installed in this database")));
	return relid;
}

/* Does the catalog have the columns of version 0.3 (names, condition text)? */
bool
cf_catalog_is_current(Oid catalog)
{
	return get_attnum(catalog, "condition_system") != InvalidAttrNumber;
}

/* Does the catalog have the columns of version 0.7 (sums, through)? */
bool
cf_catalog_has_sums(Oid catalog)
{
	return get_attnum(catalog, "sum_attnum") != InvalidAttrNumber;
}

/*
 * Returns the query that reads every counter with the columns of
 * CatalogColumn.  Before ALTER EXTENSION ... UPDATE to 0.3, the catalog has
 * no names or condition text yet; those columns are then null.
 */
char *
cf_catalog_query(Oid catalog)
{
	return psprintf("SELECT id, parent::pg_catalog.oid, counter_attnum, child::pg_catalog.oid,"
					" fk_attnums, parent_attnums, condition,"
					" flush OPERATOR(pg_catalog.=) 'transaction', %s,"
					" flush OPERATOR(pg_catalog.=) 'deferred', %s"
					" FROM counterfield.counter ORDER BY id",
					cf_catalog_is_current(catalog) ?
					"counter_column, fk_columns, parent_columns, condition_sql, condition_system" :
					"NULL::pg_catalog.name, NULL::pg_catalog.name[], NULL::pg_catalog.name[],"
					" NULL::pg_catalog.text, NULL::pg_catalog.int8",
					cf_catalog_has_sums(catalog) ?
					"sum_attnum, sum_column, through::pg_catalog.oid[], through_fks,"
					" through_fk_oids" :
					"NULL::pg_catalog.int2, NULL::pg_catalog.name, NULL::pg_catalog.oid[],"
					" NULL::pg_catalog.name[], NULL::pg_catalog.oid[]");
}

/* Frees a generation and the plans it holds. */
static void
free_defs(CounterDefs *defs)
{
	for (int i = 0; i < defs->ncounters; i++)
	{
		if (defs->counters[i].count_plan)
			SPI_freeplan(defs->counters[i].count_plan);
		if (defs->counters[i].recount_plan)
			SPI_freeplan(defs->counters[i].recount_plan);
		for (int h = 0; h < defs->counters[i].nhops; h++)
		{
			if (defs->counters[i].hops[h].resolve_plan)
				SPI_freeplan(defs->counters[i].hops[h].resolve_plan);
			if (defs->counters[i].hops[h].subtree_plan)
				SPI_freeplan(defs->counters[i].hops[h].subtree_plan);
		}
	}
	for (int i = 0; i < defs->ntargets; i++)
	{
		CounterTarget *target = &defs->targets[i];

		if (target->update_plan)
			SPI_freeplan(target->update_plan);
		if (target->lock_plan)
			SPI_freeplan(target->lock_plan);
		if (target->batch_plan)
			SPI_freeplan(target->batch_plan);
		if (target->ledger_plan)
			SPI_freeplan(target->ledger_plan);
	}
	MemoryContextDelete(defs->cxt);
}

/* Reads an int2[] of attribute numbers; returns the number of elements. */
int
cf_read_attnums(Datum array, AttrNumber *attnums)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(DatumGetArrayTypeP(array), INT2OID, 2, true, TYPALIGN_SHORT,
					  &elems, &nulls, &n);
	if (n < 1 || n > INDEX_MAX_KEYS)
		elog(ERROR, "invalid array of attribute numbers");
	for (int i = 0; i < n; i++)
		attnums[i] = DatumGetInt16(elems[i]);
	return n;
}

/* Does the relation still have this live column? */
bool
cf_column_exists(Oid relid, AttrNumber attnum)
{
	HeapTuple	tuple;
	bool		result;

	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tuple))
		return false;
	result = !((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped;
	ReleaseSysCache(tuple);
	return result;
}

/*
 * Are the parent and child of a row of cf_catalog_query(), its counter
 * column and its key columns still there?
 */
bool
cf_counter_columns_exist(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Oid			parent = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_PARENT, &isnull));
	Oid			child = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_CHILD, &isnull));
	AttrNumber	attnums[INDEX_MAX_KEYS];
	int			n;

	Datum		sum_attnum;

	if (get_rel_name(parent) == NULL || get_rel_name(child) == NULL ||
		!cf_column_exists(parent, DatumGetInt16(SPI_getbinval(tuple, desc, CF_COL_COUNTER_ATTNUM,
															  &isnull))))
		return false;
	sum_attnum = SPI_getbinval(tuple, desc, CF_COL_SUM_ATTNUM, &isnull);
	if (!isnull && !cf_column_exists(child, DatumGetInt16(sum_attnum)))
		return false;
	n = cf_read_attnums(SPI_getbinval(tuple, desc, CF_COL_PARENT_ATTNUMS, &isnull), attnums);
	for (int k = 0; k < n; k++)
		if (!cf_column_exists(parent, attnums[k]))
			return false;
	n = cf_read_attnums(SPI_getbinval(tuple, desc, CF_COL_FK_ATTNUMS, &isnull), attnums);
	for (int k = 0; k < n; k++)
		if (!cf_column_exists(child, attnums[k]))
			return false;
	return true;
}

/* Returns the RelCounters of relid in defs, creating it. */
static RelCounters *
rel_entry(CounterDefs *defs, Oid relid)
{
	bool		found;
	RelCounters *rc = hash_search(defs->by_rel, &relid, HASH_ENTER, &found);

	if (!found)
	{
		rc->root = InvalidOid;
		rc->as_child = NIL;
		rc->as_parent = NIL;
		rc->as_link = NIL;
	}
	return rc;
}

/* Finds or adds the target of def (same parent, key columns and deferral). */
static CounterTarget *
attach_target(CounterDefs *defs, CounterDef *def, AttrNumber *parent_attnums)
{
	CounterTarget *target = NULL;

	for (int i = 0; i < defs->ntargets && target == NULL; i++)
	{
		CounterTarget *t = &defs->targets[i];

		if (t->parent_relid == def->parent_relid && t->nkeys == def->nkeys &&
			t->deferred == def->deferred &&
			memcmp(t->attnums, parent_attnums, sizeof(AttrNumber) * def->nkeys) == 0)
			target = t;
	}

	if (target == NULL)
	{
		target = &defs->targets[defs->ntargets++];
		target->parent_relid = def->parent_relid;
		target->parent_owner = cf_relation_owner(def->parent_relid);
		target->nkeys = def->nkeys;
		target->deferred = def->deferred;
		for (int k = 0; k < def->nkeys; k++)
		{
			int32		typmod;
			TypeCacheEntry *typentry;

			target->attnums[k] = parent_attnums[k];
			get_atttypetypmodcoll(def->parent_relid, parent_attnums[k],
								  &target->types[k], &typmod, &target->collations[k]);
			typentry = lookup_type_cache(target->types[k], TYPECACHE_LT_OPR);
			if (!OidIsValid(typentry->lt_opr))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_FUNCTION),
						 errmsg("could not identify an ordering operator for type %s",
								format_type_be(target->types[k]))));
			memset(&target->sort[k], 0, sizeof(SortSupportData));
			target->sort[k].ssup_cxt = defs->cxt;
			target->sort[k].ssup_collation = target->collations[k];
			PrepareSortSupportFromOrderingOp(typentry->lt_opr, &target->sort[k]);
		}
		target->layout = cf_key_layout(target->nkeys, target->types, target->collations);
		target->ledger_hashed = target->deferred &&
			cf_ledger_hashes(target->nkeys, target->types);
		target->counters = NIL;
	}

	def->target = target;
	target->numeric |= def->counter_type == NUMERICOID;
	def->target_slot = list_length(target->counters);
	target->counters = lappend(target->counters, def);
	return target;
}

/*
 * Gives the partitions and inheritance children of every counted child the
 * child's counters, so that writes naming them are counted too.  They are
 * tracked like the child, so that attaching, detaching or creating one
 * (which invalidates the child) loads the definitions again.
 */
static void
add_descendants(CounterDefs *defs)
{
	HASH_SEQ_STATUS status;
	RelCounters *rc;
	List	   *roots = NIL;
	ListCell   *lc;

	hash_seq_init(&status, defs->by_rel);
	while ((rc = hash_seq_search(&status)) != NULL)
		if (rc->as_child != NIL)
			roots = lappend_oid(roots, rc->relid);

	foreach(lc, roots)
	{
		Oid			root = lfirst_oid(lc);
		RelCounters *root_rc = cf_defs_for_rel(defs, root);
		ListCell   *dc;

		root_rc->root = root;
		if (!has_subclass(root))
			continue;
		foreach(dc, find_all_inheritors(root, NoLock, NULL))
		{
			RelCounters *drc;

			if (lfirst_oid(dc) == root)
				continue;
			drc = rel_entry(defs, lfirst_oid(dc));
			/* A table under two counted children counts for the first. */
			if (drc->as_child != NIL)
				continue;
			drc->root = root;
			drc->as_child = root_rc->as_child;
		}
	}
}

/* Loads every counter definition into a new generation. */
static CounterDefs *
load_defs(void)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	CounterDefs *defs;
	HASHCTL		ctl;
	Oid			catalog;
	int			ret;

	cxt = AllocSetContextCreate(TopMemoryContext, "counterfield definitions",
								ALLOCSET_SMALL_SIZES);
	defs = MemoryContextAllocZero(cxt, sizeof(CounterDefs));
	defs->cxt = cxt;
	defs->generation = ++last_generation;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelCounters);
	ctl.hcxt = cxt;
	defs->by_rel = hash_create("counterfield relations", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	catalog = cf_catalog_relid(true);
	loaded_catalog_relid = catalog;
	if (!OidIsValid(catalog))
		return defs;

	/*
	 * The definitions outlive the transaction: read them as they are now, not
	 * as an older REPEATABLE READ snapshot of this transaction has them, as
	 * PostgreSQL's own caches read the system catalogs.
	 */
	cf_spi_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	ret = SPI_execute(cf_catalog_query(catalog), true, 0);
	PopActiveSnapshot();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));

	oldcxt = MemoryContextSwitchTo(cxt);
	defs->counters = palloc0(sizeof(CounterDef) * Max(SPI_processed, 1));
	defs->targets = palloc0(sizeof(CounterTarget) * Max(SPI_processed, 1));

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CounterDef *def = &defs->counters[defs->ncounters];
		AttrNumber	parent_attnums[INDEX_MAX_KEYS];
		bool		isnull;
		bool		usable = true;
		bool		through_null;
		Datum		through;
		int			n;

		memset(def, 0, sizeof(CounterDef));
		def->id = DatumGetInt32(SPI_getbinval(tuple, desc, CF_COL_ID, &isnull));
		def->parent_relid = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_PARENT, &isnull));
		def->counter_attnum = DatumGetInt16(SPI_getbinval(tuple, desc, CF_COL_COUNTER_ATTNUM,
														  &isnull));
		def->child_relid = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_CHILD, &isnull));
		def->nkeys = cf_read_attnums(SPI_getbinval(tuple, desc, CF_COL_FK_ATTNUMS, &isnull),
									 def->fk_attnums);
		n = cf_read_attnums(SPI_getbinval(tuple, desc, CF_COL_PARENT_ATTNUMS, &isnull),
							parent_attnums);
		def->deferred = DatumGetBool(SPI_getbinval(tuple, desc, CF_COL_DEFERRED, &isnull));
		def->sum_attnum = DatumGetInt16(SPI_getbinval(tuple, desc, CF_COL_SUM_ATTNUM, &isnull));
		if (isnull)
			def->sum_attnum = InvalidAttrNumber;
		/* A deferred counter records its deltas at commit (ledger.c). */
		def->transactional = def->deferred ||
			DatumGetBool(SPI_getbinval(tuple, desc, CF_COL_TRANSACTIONAL, &isnull));

		/* Track its tables, so that DDL that mends this counter reloads it. */
		rel_entry(defs, def->parent_relid);
		rel_entry(defs, def->child_relid);
		through = SPI_getbinval(tuple, desc, CF_COL_THROUGH, &through_null);
		if (!through_null)
		{
			ListCell   *lc;

			foreach(lc, cf_oid_list(through))
				rel_entry(defs, lfirst_oid(lc));
		}

		/*
		 * A counter whose table or column is gone counts nothing, nor does
		 * one whose column changed type where no event trigger could refuse
		 * it (single-user mode).
		 */
		if ((through_null && n != def->nkeys) || !cf_counter_columns_exist(tuple, desc) ||
			!cf_check_counter_types(def->parent_relid, def->counter_attnum, def->child_relid,
									def->sum_attnum, 0))
			continue;

		def->child_owner = cf_relation_owner(def->child_relid);
		if (!through_null)
		{
			CounterHop *top;

			/*
			 * Through intermediate tables: the child's own key columns are
			 * those of the first hop; the deltas are keyed as the last hop's
			 * foreign key references the parent.
			 */
			if (!cf_link_load(def, through,
							  SPI_getbinval(tuple, desc, CF_COL_THROUGH_FK_OIDS, &isnull), cxt))
				continue;
			top = &def->hops[def->nhops - 1];
			if (top->nkeys != n ||
				memcmp(top->upper_attnums, parent_attnums, sizeof(AttrNumber) * n) != 0)
				continue;
			def->nkeys = n;
			memset(def->fk_attnums, 0, sizeof(def->fk_attnums));
			for (int k = 0; k < n; k++)
			{
				def->fk_types[k] = top->lower_types[k];
				def->fk_typlen[k] = top->lower_typlen[k];
				def->fk_typbyval[k] = top->lower_byval[k];
			}
		}
		else
		{
			for (int k = 0; k < def->nkeys; k++)
			{
				int32		typmod;
				Oid			collation;

				get_atttypetypmodcoll(def->child_relid, def->fk_attnums[k],
									  &def->fk_types[k], &typmod, &collation);
				get_typlenbyval(def->fk_types[k], &def->fk_typlen[k], &def->fk_typbyval[k]);
			}
			/* After ALTER COLUMN TYPE the key types may no longer match. */
			for (int k = 0; k < def->nkeys && usable; k++)
			{
				Oid			parent_type = get_atttype(def->parent_relid, parent_attnums[k]);

				usable = def->fk_types[k] == parent_type ||
					(IsBinaryCoercible(def->fk_types[k], parent_type) &&
					 IsBinaryCoercible(parent_type, def->fk_types[k]));
			}
			if (!usable)
				continue;
		}
		/* A condition is prepared when it is first needed, as its owner. */
		def->cxt = cxt;
		cf_sum_prepare(def);
		def->has_condition = cf_catalog_has_condition(tuple, desc, &def->condition_tree,
													  &def->condition_sql);
		defs->has_conditions |= def->has_condition;
		attach_target(defs, def, parent_attnums);
		def->layout = cf_key_layout(def->nkeys, def->fk_types, def->target->collations);
		rel_entry(defs, def->child_relid)->as_child =
			lappend(rel_entry(defs, def->child_relid)->as_child, def);
		rel_entry(defs, def->parent_relid)->as_parent =
			lappend(rel_entry(defs, def->parent_relid)->as_parent, def);
		for (int h = 1; h < def->nhops; h++)
			rel_entry(defs, def->hops[h].lower)->as_link =
				lappend(rel_entry(defs, def->hops[h].lower)->as_link, def);
		defs->ncounters++;
	}
	add_descendants(defs);

	MemoryContextSwitchTo(oldcxt);
	SPI_finish();
	elog(DEBUG1, "counterfield loaded counter definitions: %d", defs->ncounters);
	return defs;
}

/*
 * Plans a counter's condition and builds its expression state, once per
 * definitions generation, as the child's owner in a security-restricted
 * operation: planning folds constants, which runs the owner's functions,
 * and building the state checks the owner's privilege to run them.  So a
 * condition is prepared only when a write, a new parent, reinit or verify
 * of its own counter needs it, never for a role that loads the definitions
 * for another counter, and a condition that fails affects its counter only.
 */
void
cf_condition_prepare(CounterDef *def)
{
	OwnerContext owner;
	MemoryContext oldcxt;
	Expr	   *expr;

	if (!def->has_condition || def->condition_state != NULL)
		return;
	cf_begin_as_owner(def->child_owner, CF_OWNER_PIN_PATH, &owner);
	oldcxt = MemoryContextSwitchTo(def->cxt);
	if (def->condition_tree != NULL)
		expr = stringToNode(def->condition_tree);
	else
	{
		Relation	child = table_open(def->child_relid, AccessShareLock);

		expr = (Expr *) cf_parse_condition(child, InvalidAttrNumber, def->condition_sql);
		table_close(child, NoLock);
	}
	expr = expression_planner(expr);
	def->condition_state = ExecInitExpr(expr, NULL);
	def->condition = expr;
	MemoryContextSwitchTo(oldcxt);
	cf_end_as_owner(&owner);
}

/*
 * Returns the current definitions, loading them if needed, and pins them
 * until cf_defs_release.
 */
CounterDefs *
cf_defs_acquire(void)
{
	LocalTransactionId lxid = CF_CURRENT_LXID();

	/* Pins left by an error belong to a finished transaction. */
	if (defs_pins_lxid != lxid)
	{
		defs_pins = 0;
		defs_pins_lxid = lxid;
	}
	if (defs_pins == 0 && retired_defs != NIL)
	{
		ListCell   *lc;

		foreach(lc, retired_defs)
			free_defs((CounterDefs *) lfirst(lc));
		list_free(retired_defs);
		retired_defs = NIL;
	}

	/* Definitions loaded while the extension was gone wait for its catalog. */
	if (current_defs != NULL && defs_valid && !OidIsValid(loaded_catalog_relid) &&
		OidIsValid(cf_catalog_relid(true)))
		defs_valid = false;
	if (current_defs == NULL || !defs_valid)
	{
		CounterDefs *old = current_defs;
		CounterDefs *fresh;

		defs_valid = true;
		PG_TRY();
		{
			fresh = load_defs();
		}
		PG_CATCH();
		{
			defs_valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
		current_defs = fresh;

		if (old != NULL)
		{
			if (defs_pins == 0)
				free_defs(old);
			else
			{
				MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

				retired_defs = lappend(retired_defs, old);
				MemoryContextSwitchTo(oldcxt);
			}
		}
	}

	defs_pins++;
	return current_defs;
}

/*
 * Has the next cf_defs_acquire load the definitions again, with the
 * catalog as it stands then, whether or not an invalidation told this
 * backend of a change yet.
 */
void
cf_defs_invalidate(void)
{
	defs_valid = false;
}

/* The number of the current definitions generation, loading it if needed. */
uint64
cf_defs_generation(void)
{
	uint64		generation = cf_defs_acquire()->generation;

	cf_defs_release();
	return generation;
}

/* Releases a pin taken by cf_defs_acquire. */
void
cf_defs_release(void)
{
	if (defs_pins > 0)
		defs_pins--;
}

/* Returns the counters involving relid, or NULL if there are none. */
RelCounters *
cf_defs_for_rel(CounterDefs *defs, Oid relid)
{
	return hash_search(defs->by_rel, &relid, HASH_FIND, NULL);
}

/* Returns the counter with this id, or NULL if it no longer exists. */
CounterDef *
cf_defs_counter(CounterDefs *defs, int32 id)
{
	int			lo = 0;
	int			hi = defs->ncounters - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (defs->counters[mid].id == id)
			return &defs->counters[mid];
		if (defs->counters[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}
