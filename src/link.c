/*-------------------------------------------------------------------------
 *
 * link.c
 *	  Counters through intermediate tables (add_counter's through).
 *
 * A counter with through counts the child's rows per parent key along a
 * chain of hops, each a foreign key: child -> first intermediate -> ... ->
 * parent (product -> category -> company).  Deltas are still keyed by the
 * parent's key; what differs is how a row finds its parent key, and that
 * writes of an intermediate move counts too.
 *
 * - A child statement sums its rows' deltas per key of the first
 *   intermediate (the child's foreign key values), and resolves those keys
 *   to parent keys along the chain as it stands now, one table at a time
 *   with a fresh snapshot each, locking the intermediate rows FOR SHARE
 *   until the transaction ends: a transaction that moves one of them waits,
 *   or is waited for, so a writer and a mover never both miss each other's
 *   rows.
 *
 * - A statement on an intermediate moves what the child rows under each
 *   written row add up to (its subtree) from the parent its old version
 *   led to, to the one its new version leads to: one delta per affected
 *   parent key, not per descendant.  Which child rows are in a subtree is
 *   decided by the command id its snapshot reads at (see link_statement in
 *   trigger.c): those counted through the old version of the row, so that
 *   writes of the tables below that the statement caused (ON DELETE
 *   CASCADE, SET NULL, ON UPDATE CASCADE), which count themselves along the
 *   chain as it now stands, are not counted twice.  Deleting an
 *   intermediate row thus takes its subtree from its parent once, whichever
 *   way the foreign keys below act.  Where user code nests writes of the
 *   child and of an intermediate, the parents concerned are counted again
 *   when the outermost statement ends (recount_later in trigger.c).
 *
 * The child and the intermediates have one owner; the SQL here runs as
 * that owner, in a security-restricted operation with search_path pinned,
 * the child's condition included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_constraint.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "counterfield.h"

/*
 * Refuses to follow a chain whose intermediate tables no longer all belong
 * to the child's owner (ALTER TABLE ... OWNER TO since add_counter): the
 * SQL that reads them runs as the child's owner, and would run the other
 * owner's row-level security policies with the child owner's privileges.
 */
void
cf_link_check_owners(CounterDef *def)
{
	for (int h = 1; h < def->nhops; h++)
		if (cf_relation_owner(def->hops[h].lower) != def->child_owner)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("intermediate table \"%s\" of counter \"%s\" has another owner than child table \"%s\"",
							get_rel_name(def->hops[h].lower),
							get_attname(def->parent_relid, def->counter_attnum, false),
							get_rel_name(def->child_relid)),
					 errdetail("A child's rows are followed up the chain as the child's owner."),
					 errhint("Give the child and the intermediate tables one owner again.")));
}

/*
 * Runs what follows as the child's owner (see the file's opening comment),
 * with JIT off: the statements here run once per statement that writes a
 * chain's table, often over a few rows, where compiling would cost more
 * than running.  cf_end_as_owner undoes both.
 */
static void
begin_link_sql(CounterDef *def, OwnerContext *owner)
{
	cf_link_check_owners(def);
	cf_begin_as_owner(def->child_owner, CF_OWNER_PIN_PATH, owner);
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
							 false);
}

/* Reads an int2[] column of a pg_constraint row into attnums; returns the count. */
static int
constraint_attnums(HeapTuple tuple, AttrNumber column, AttrNumber *attnums)
{
	bool		isnull;
	Datum		value = SysCacheGetAttr(CONSTROID, tuple, column, &isnull);

	if (isnull)
		return 0;
	return cf_read_attnums(value, attnums);
}

/*
 * Reads the hops of a counter with through from the catalog row's arrays
 * of intermediate tables and foreign key OIDs, into memory of cxt.
 * Returns false if a foreign key is gone or not there yet (during a
 * restore), no longer joins the tables it joined, or compares key columns
 * of types that are not binary compatible (after ALTER COLUMN TYPE): such a
 * counter counts nothing until DDL mends it or drops it.
 */
bool
cf_link_load(CounterDef *def, Datum through, Datum fk_oids, MemoryContext cxt)
{
	Datum	   *tables;
	Datum	   *fks;
	bool	   *nulls;
	int			ntables;
	int			nfks;

	deconstruct_array(DatumGetArrayTypeP(through), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &tables, &nulls, &ntables);
	deconstruct_array(DatumGetArrayTypeP(fk_oids), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &fks, &nulls, &nfks);
	/* A restore that has yet to create a foreign key left its OID 0. */
	if (nfks != ntables + 1)
		return false;
	for (int h = 0; h < nfks; h++)
		if (!OidIsValid(DatumGetObjectId(fks[h])))
			return false;
	def->nhops = nfks;
	def->hops = MemoryContextAllocZero(cxt, sizeof(CounterHop) * nfks);
	for (int h = 0; h < nfks; h++)
	{
		CounterHop *hop = &def->hops[h];
		HeapTuple	tuple = SearchSysCache1(CONSTROID, fks[h]);
		Form_pg_constraint con;

		if (!HeapTupleIsValid(tuple))
			return false;
		con = (Form_pg_constraint) GETSTRUCT(tuple);
		hop->constraint = DatumGetObjectId(fks[h]);
		hop->lower = h == 0 ? def->child_relid : DatumGetObjectId(tables[h - 1]);
		hop->upper = h == ntables ? def->parent_relid : DatumGetObjectId(tables[h]);
		hop->nkeys = constraint_attnums(tuple, Anum_pg_constraint_conkey, hop->lower_attnums);
		if (con->contype != CONSTRAINT_FOREIGN || con->conrelid != hop->lower ||
			con->confrelid != hop->upper || hop->nkeys == 0 ||
			constraint_attnums(tuple, Anum_pg_constraint_confkey,
							   hop->upper_attnums) != hop->nkeys)
		{
			ReleaseSysCache(tuple);
			return false;
		}
		ReleaseSysCache(tuple);
		for (int k = 0; k < hop->nkeys; k++)
		{
			int32		typmod;
			Oid			collation;

			get_atttypetypmodcoll(hop->lower, hop->lower_attnums[k], &hop->lower_types[k],
								  &typmod, &collation);
			get_atttypetypmodcoll(hop->upper, hop->upper_attnums[k], &hop->upper_types[k],
								  &typmod, &hop->collations[k]);
			get_typlenbyval(hop->lower_types[k], &hop->lower_typlen[k], &hop->lower_byval[k]);
			if (hop->lower_types[k] != hop->upper_types[k] &&
				!(IsBinaryCoercible(hop->lower_types[k], hop->upper_types[k]) &&
				  IsBinaryCoercible(hop->upper_types[k], hop->lower_types[k])))
				return false;
		}
	}
	return true;
}

/* Is relid one of the intermediate tables of a counter with through? */
int
cf_link_hop_of(CounterDef *def, Oid relid)
{
	for (int h = 1; h < def->nhops; h++)
		if (def->hops[h].lower == relid)
			return h;
	return -1;
}

/* The k-th column of hop's foreign key in the FROM item of append_chain(..., hop). */
static char *
link_lower_sql(CounterDef *def, int hop, int k)
{
	if (hop == 0)
		return psprintf("h0.cf_f%d", k + 1);
	return psprintf("h%d.%s", hop, cf_column_sql(def->hops[hop].lower,
												 def->hops[hop].lower_attnums[k]));
}

/*
 * Appends the counted rows of a counter with through, joined along the
 * chain up to the lower table of hop upto:
 *
 *   (SELECT k1 AS cf_f1, ..., s AS cf_a FROM child WHERE k1 IS NOT NULL
 *    AND ... AND (condition)) AS h0 JOIN upper0 AS h1 ON h1.key = h0.cf_f1
 *   ... JOIN upper(upto-1) AS h<upto> ON ...
 *
 * The child's rows come from relation (SQL for FROM), or from the child with
 * its descendants.  The condition is checked in the subquery, where only the
 * child's columns are in scope.  link_lower_sql names the columns of hop
 * upto's foreign key in this FROM item.
 */
static void
append_chain(StringInfo sql, CounterDef *def, int upto, const char *relation)
{
	CounterHop *first = &def->hops[0];
	char	   *condition = cf_condition_sql(def);

	appendStringInfoString(sql, "(SELECT ");
	for (int k = 0; k < first->nkeys; k++)
		appendStringInfo(sql, "%s AS cf_f%d, ", cf_column_sql(def->child_relid,
															  first->lower_attnums[k]), k + 1);
	if (def->sum_attnum != InvalidAttrNumber)
		appendStringInfo(sql, "%s AS cf_a", cf_column_sql(def->child_relid, def->sum_attnum));
	else
		appendStringInfoString(sql, "1 AS cf_a");
	appendStringInfo(sql, " FROM %s WHERE ",
					 relation ? relation : cf_relation_sql(def->child_relid, true));
	for (int k = 0; k < first->nkeys; k++)
		appendStringInfo(sql, "%s%s IS NOT NULL", k > 0 ? " AND " : "",
						 cf_column_sql(def->child_relid, first->lower_attnums[k]));
	if (condition != NULL)
		appendStringInfo(sql, " AND (%s)", condition);
	appendStringInfoString(sql, ") AS h0");
	for (int h = 0; h < upto; h++)
	{
		CounterHop *hop = &def->hops[h];

		appendStringInfo(sql, " JOIN %s AS h%d ON ", cf_relation_sql(hop->upper, false), h + 1);
		for (int k = 0; k < hop->nkeys; k++)
			cf_append_key_equal(sql, k,
								psprintf("h%d.%s", h + 1,
										 cf_column_sql(hop->upper, hop->upper_attnums[k])),
								link_lower_sql(def, h, k), hop->upper_types[k],
								hop->collations[k]);
	}
}

/* What the joined rows of append_chain add up to, in bigint units. */
static char *
link_units_sql(CounterDef *def)
{
	if (def->sum_attnum == InvalidAttrNumber)
		return "pg_catalog.count(*)";
	return cf_units_sql(def, "COALESCE(pg_catalog.sum(h0.cf_a), 0)");
}

/*
 * "SELECT <units> FROM <chain> WHERE <top foreign key> = $1 ...": what the
 * counted rows of one parent key add up to, in units (see count_plan).
 */
char *
cf_link_count_sql(CounterDef *def)
{
	StringInfoData sql;
	int			top = def->nhops - 1;

	cf_link_check_owners(def);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM ", link_units_sql(def));
	append_chain(&sql, def, top, NULL);
	appendStringInfoString(&sql, " WHERE ");
	for (int k = 0; k < def->nkeys; k++)
		cf_append_key_equal(&sql, k, link_lower_sql(def, top, k), psprintf("$%d", k + 1),
							def->target->types[k], def->target->collations[k]);
	return sql.data;
}

/*
 * "SELECT <top foreign key> AS cf_k1, ..., <value> AS cf_n FROM <chain>
 * GROUP BY ...": the true value of every parent key with counted rows, as
 * cf_counts_sql returns it.
 */
char *
cf_link_counts_sql(CounterDef *def, const char *relation)
{
	StringInfoData sql;
	StringInfoData group;
	int			top = def->nhops - 1;

	cf_link_check_owners(def);
	initStringInfo(&sql);
	initStringInfo(&group);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < def->nkeys; k++)
	{
		appendStringInfo(&sql, "%s%s AS cf_k%d, ", link_lower_sql(def, top, k),
						 cf_collate_sql(def->target->collations[k]), k + 1);
		appendStringInfo(&group, "%s%d", k > 0 ? ", " : "", k + 1);
	}
	if (def->sum_attnum == InvalidAttrNumber)
		appendStringInfoString(&sql, "pg_catalog.count(*) AS cf_n FROM ");
	else
		appendStringInfoString(&sql, "CAST(COALESCE(pg_catalog.sum(h0.cf_a), 0)"
							   " AS pg_catalog.numeric) AS cf_n FROM ");
	append_chain(&sql, def, top, relation);
	appendStringInfo(&sql, " GROUP BY %s", group.data);
	return sql.data;
}

/* The types of the values of hop's foreign key: those of the upper key. */
static Oid *
hop_key_types(CounterHop *hop)
{
	return hop->upper_types;
}

/*
 * Prepares the statement of one step up a chain: the rows of hop h's upper
 * table (an intermediate) whose keys are the values given ($1 ... arrays
 * of each key column), locked FOR SHARE, with their own foreign key (that
 * of hop h + 1) and the position of the value they match:
 *
 *   SELECT d.cf_n, u.f1, ... FROM ROWS FROM (unnest($1), ...)
 *     WITH ORDINALITY AS d(cf_v1, ..., cf_n)
 *   JOIN upper AS u ON u.key = d.cf_v1 ... FOR SHARE OF u
 *
 * One table a step: a row that the lock waits for and finds moved is read
 * again as it is now, which a join of several tables would not do for the
 * rows it joined to the old version.
 */
static SPIPlanPtr
resolve_plan(CounterDef *def, int h)
{
	CounterHop *hop = &def->hops[h];
	CounterHop *next = &def->hops[h + 1];
	StringInfoData sql;
	Oid			argtypes[INDEX_MAX_KEYS];

	if (cf_plan_is_current(&hop->resolve_plan))
		return hop->resolve_plan;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT d.cf_n");
	for (int k = 0; k < next->nkeys; k++)
		appendStringInfo(&sql, ", u.%s", cf_column_sql(next->lower, next->lower_attnums[k]));
	appendStringInfoString(&sql, " FROM ROWS FROM (");
	for (int k = 0; k < hop->nkeys; k++)
		appendStringInfo(&sql, "%spg_catalog.unnest($%d)", k > 0 ? ", " : "", k + 1);
	appendStringInfoString(&sql, ") WITH ORDINALITY AS d(");
	for (int k = 0; k < hop->nkeys; k++)
		appendStringInfo(&sql, "cf_v%d, ", k + 1);
	appendStringInfo(&sql, "cf_n) JOIN %s AS u ON ", cf_relation_sql(hop->upper, false));
	for (int k = 0; k < hop->nkeys; k++)
	{
		cf_append_key_equal(&sql, k,
							psprintf("u.%s", cf_column_sql(hop->upper, hop->upper_attnums[k])),
							psprintf("d.cf_v%d", k + 1), hop->upper_types[k], hop->collations[k]);
		argtypes[k] = get_array_type(hop->upper_types[k]);
		if (!OidIsValid(argtypes[k]))
			elog(ERROR, "type %s has no array type", format_type_be(hop->upper_types[k]));
	}
	appendStringInfoString(&sql, " FOR SHARE OF u");
	return cf_keep_plan(&hop->resolve_plan, sql.data, hop->nkeys, argtypes);
}

/*
 * Runs the statement that prepare() makes for hop h, as the child's owner,
 * with a fresh snapshot: at command id curcid, read-only, or with
 * InvalidCommandId at a new command id.  Its rows are left in SPI_tuptable;
 * returns room for a FlushItem per row, in cxt.
 */
static FlushItem *
run_link_sql(CounterDef *def, int h, SPIPlanPtr (*prepare) (CounterDef *def, int h),
			 Datum *params, CommandId curcid, MemoryContext cxt)
{
	OwnerContext owner;
	SPIPlanPtr	plan;
	int			ret;

	begin_link_sql(def, &owner);
	plan = prepare(def, h);
	if (curcid == InvalidCommandId)
	{
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());

		ret = SPI_execute_snapshot(plan, params, NULL, snapshot, InvalidSnapshot, false, false,
								   0);
		UnregisterSnapshot(snapshot);
	}
	else
	{
		PushCopiedSnapshot(GetLatestSnapshot());
		GetActiveSnapshot()->curcid = curcid;
		ret = SPI_execute_plan(plan, params, NULL, true, 0);
		PopActiveSnapshot();
	}
	cf_end_as_owner(&owner);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	return MemoryContextAlloc(cxt, sizeof(FlushItem) * Max(SPI_processed, 1));
}

/*
 * Turns deltas keyed by values of hop h's foreign key into deltas keyed by
 * the parent keys those values lead to now, one step up the chain at a
 * time, each with a fresh snapshot, locking the intermediate rows on the
 * way FOR SHARE until the transaction ends.  Values that lead to no row
 * (the row is gone, or a foreign key above is NULL) add to no parent.
 * Returns the new items, in cxt (items themselves for the last hop, whose
 * values are parent keys); SPI is connected.
 */
FlushItem *
cf_link_resolve(CounterDef *def, int h, FlushItem *items, int nitems, MemoryContext cxt,
				int *nresolved)
{
	for (; h < def->nhops - 1 && nitems > 0; h++)
	{
		CounterHop *hop = &def->hops[h];
		CounterHop *next = &def->hops[h + 1];
		bool		top = h + 1 == def->nhops - 1;
		Datum		params[INDEX_MAX_KEYS + 1];
		FlushItem  *up;
		int			nup = 0;

		cf_item_arrays(hop->nkeys, hop_key_types(hop), items, nitems, params);
		up = run_link_sql(def, h, resolve_plan, params, InvalidCommandId, cxt);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];
			int64		n;
			Datum		key[INDEX_MAX_KEYS];
			bool		isnull = false;

			n = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull));
			for (int k = 0; k < next->nkeys && !isnull; k++)
				key[k] = SPI_getbinval(tuple, SPI_tuptable->tupdesc, k + 2, &isnull);
			if (isnull)
				continue;		/* a NULL foreign key: no parent */
			up[nup] = items[n - 1];
			if (top)
				up[nup].values = cf_copy_key(def, key, cxt);
			else
			{
				MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

				up[nup].values = palloc(sizeof(Datum) * next->nkeys);
				for (int k = 0; k < next->nkeys; k++)
					up[nup].values[k] = datumCopy(key[k], next->lower_byval[k],
												  next->lower_typlen[k]);
				MemoryContextSwitchTo(oldcxt);
			}
			nup++;
		}
		SPI_freetuptable(SPI_tuptable);
		items = up;
		nitems = nup;
	}
	*nresolved = nitems;
	return items;
}

/*
 * Prepares the statement that turns the old (-1) and new (1) versions of
 * rows of the lower table of hop h (an intermediate) into deltas keyed by
 * values of its foreign key: $1 ... are arrays of the rows' keys (the
 * columns hop h-1 references), then of their foreign key values, then of
 * the signs.  Versions whose key and foreign key are the same cancel out;
 * each remaining one adds or takes what the child rows under it add up to,
 * read once per key (t is materialized: a move has two versions of a key):
 *
 *   WITH m AS (SELECT v.., w.., sum(s) AS s FROM unnest(...) GROUP BY ...
 *              HAVING sum(s) <> 0),
 *        t AS MATERIALIZED (SELECT k.v.., <units> AS a FROM <chain up to
 *              hop h-1> JOIN (SELECT DISTINCT v.. FROM m) AS k ON ...
 *              GROUP BY k.v..)
 *   SELECT m.w.., sum(m.s * t.a) FROM m JOIN t ON ... GROUP BY m.w..
 */
static SPIPlanPtr
subtree_plan(CounterDef *def, int h)
{
	CounterHop *hop = &def->hops[h];
	CounterHop *below = &def->hops[h - 1];
	StringInfoData sql;
	StringInfoData list;
	Oid			argtypes[2 * INDEX_MAX_KEYS + 1];
	int			nargs = 0;

	if (cf_plan_is_current(&hop->subtree_plan))
		return hop->subtree_plan;
	initStringInfo(&list);
	for (int k = 0; k < below->nkeys; k++)
		appendStringInfo(&list, "cf_v%d, ", k + 1);
	for (int k = 0; k < hop->nkeys; k++)
		appendStringInfo(&list, "cf_w%d, ", k + 1);

	initStringInfo(&sql);
	appendStringInfo(&sql, "WITH m AS (SELECT %spg_catalog.sum(cf_s) AS cf_s"
					 " FROM ROWS FROM (", list.data);
	for (int i = 0; i < below->nkeys + hop->nkeys + 1; i++)
		appendStringInfo(&sql, "%spg_catalog.unnest($%d)", i > 0 ? ", " : "", i + 1);
	appendStringInfo(&sql, ") AS u(%scf_s) GROUP BY ", list.data);
	for (int i = 0; i < below->nkeys + hop->nkeys; i++)
		appendStringInfo(&sql, "%s%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoString(&sql, " HAVING pg_catalog.sum(cf_s) OPERATOR(pg_catalog.<>) 0),"
						   " t AS MATERIALIZED (SELECT ");
	for (int k = 0; k < below->nkeys; k++)
		appendStringInfo(&sql, "k.cf_v%d, ", k + 1);
	appendStringInfo(&sql, "%s AS cf_a FROM ", link_units_sql(def));
	append_chain(&sql, def, h - 1, NULL);
	appendStringInfoString(&sql, " JOIN (SELECT DISTINCT ");
	for (int k = 0; k < below->nkeys; k++)
		appendStringInfo(&sql, "%scf_v%d", k > 0 ? ", " : "", k + 1);
	appendStringInfoString(&sql, " FROM m) AS k ON ");
	for (int k = 0; k < below->nkeys; k++)
		cf_append_key_equal(&sql, k, link_lower_sql(def, h - 1, k), psprintf("k.cf_v%d", k + 1),
							below->upper_types[k], below->collations[k]);
	appendStringInfoString(&sql, " GROUP BY ");
	for (int k = 0; k < below->nkeys; k++)
		appendStringInfo(&sql, "%sk.cf_v%d", k > 0 ? ", " : "", k + 1);
	appendStringInfoString(&sql, ") SELECT ");
	for (int k = 0; k < hop->nkeys; k++)
		appendStringInfo(&sql, "m.cf_w%d, ", k + 1);
	appendStringInfoString(&sql, "CAST(pg_catalog.sum(m.cf_s OPERATOR(pg_catalog.*) t.cf_a)"
						   " AS pg_catalog.int8) FROM m JOIN t ON ");
	for (int k = 0; k < below->nkeys; k++)
		cf_append_key_equal(&sql, k, psprintf("m.cf_v%d", k + 1), psprintf("t.cf_v%d", k + 1),
							below->upper_types[k], InvalidOid);
	appendStringInfoString(&sql, " GROUP BY ");
	for (int k = 0; k < hop->nkeys; k++)
		appendStringInfo(&sql, "%sm.cf_w%d", k > 0 ? ", " : "", k + 1);

	for (int k = 0; k < below->nkeys; k++)
		argtypes[nargs++] = get_array_type(below->upper_types[k]);
	for (int k = 0; k < hop->nkeys; k++)
		argtypes[nargs++] = get_array_type(hop->upper_types[k]);
	argtypes[nargs++] = INT8ARRAYOID;
	for (int i = 0; i < nargs; i++)
		if (!OidIsValid(argtypes[i]))
			elog(ERROR, "a key column of counter %d has no array type", def->id);
	return cf_keep_plan(&hop->subtree_plan, sql.data, nargs, argtypes);
}

/*
 * Turns the old (sign -1) and new (sign 1) versions of the rows of an
 * intermediate table, the lower table of hop h, written by the running
 * statement, into deltas of parent keys: each moves what the child rows
 * under it add up to, read with a fresh snapshot at command id curcid (see
 * link_statement in trigger.c), to or from the parent its foreign key
 * leads to now.  rows holds nrows versions, each its key columns then its
 * foreign key columns; versions with a NULL in either were left out by the
 * caller.  Returns the deltas in cxt; SPI is connected.
 */
FlushItem *
cf_link_moves(CounterDef *def, int h, Datum **rows, int64 *signs, int nrows, CommandId curcid,
			  MemoryContext cxt, int *nitems)
{
	CounterHop *hop = &def->hops[h];
	CounterHop *below = &def->hops[h - 1];
	int			ncols = below->nkeys + hop->nkeys;
	Datum		params[2 * INDEX_MAX_KEYS + 1];
	Datum	   *elems = palloc(sizeof(Datum) * Max(nrows, 1));
	FlushItem  *moved;
	int			nmoved = 0;

	*nitems = 0;
	if (nrows == 0)
		return NULL;
	for (int c = 0; c <= ncols; c++)
	{
		for (int i = 0; i < nrows; i++)
			elems[i] = c < ncols ? rows[i][c] : Int64GetDatum(signs[i]);
		params[c] = cf_array_of(c < below->nkeys ? below->upper_types[c] :
								c < ncols ? hop->upper_types[c - below->nkeys] : INT8OID,
								elems, nrows);
	}

	/* The rows under them: a fresh snapshot, at the command id given. */
	moved = run_link_sql(def, h, subtree_plan, params, curcid, cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		bool		isnull;
		int64		delta = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc,
														hop->nkeys + 1, &isnull));

		if (isnull || delta == 0)
			continue;
		moved[nmoved].counter_id = def->id;
		moved[nmoved].def = def;
		moved[nmoved].values = MemoryContextAlloc(cxt, sizeof(Datum) * hop->nkeys);
		for (int k = 0; k < hop->nkeys; k++)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

			moved[nmoved].values[k] = datumCopy(SPI_getbinval(tuple, SPI_tuptable->tupdesc,
															  k + 1, &isnull),
												hop->lower_byval[k], hop->lower_typlen[k]);
			MemoryContextSwitchTo(oldcxt);
		}
		moved[nmoved++].delta = delta;
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(elems);
	return cf_link_resolve(def, h, moved, nmoved, cxt, nitems);
}
