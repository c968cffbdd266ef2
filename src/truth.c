/*-------------------------------------------------------------------------
 *
 * truth.c
 *	  The truth a counter is checked against and recomputed from: the SQL
 *	  that counts (or sums) the child per parent key, counterfield.counts(),
 *	  which reads it as the child's owner, the locks that keep writers out
 *	  meanwhile, and reinit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_func.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "counterfield.h"


/*
 * Returns "SELECT fk1 AS cf_k1, ..., count(*) AS cf_n FROM child WHERE ...
 * GROUP BY ...": the true count (bigint) or sum (numeric) of every key
 * that has counted children, in
 * the child with its descendants, or in the given relation (SQL for FROM),
 * a descendant whose columns have the child's names.  Keys are grouped
 * under the parent's collations, as the parent's unique index tells keys
 * apart.
 */
char *
cf_counts_sql(CounterDef *def, const char *relation)
{
	StringInfoData sql;
	StringInfoData group;
	char	   *condition;

	if (def->nhops > 0)
		return cf_link_counts_sql(def, relation);
	condition = cf_condition_sql(def);
	initStringInfo(&sql);
	initStringInfo(&group);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < def->nkeys; k++)
	{
		appendStringInfo(&sql, "%s%s AS cf_k%d, ",
						 cf_column_sql(def->child_relid, def->fk_attnums[k]),
						 cf_collate_sql(def->target->collations[k]), k + 1);
		appendStringInfo(&group, "%s%d", k > 0 ? ", " : "", k + 1);
	}
	appendStringInfo(&sql, "%s AS cf_n FROM %s WHERE ",
					 def->sum_attnum == InvalidAttrNumber ? cf_aggregate_sql(def) :
					 psprintf("CAST(%s AS pg_catalog.numeric)", cf_aggregate_sql(def)),
					 relation ? relation : cf_relation_sql(def->child_relid, true));
	for (int k = 0; k < def->nkeys; k++)
		appendStringInfo(&sql, "%s%s IS NOT NULL", k > 0 ? " AND " : "",
						 cf_column_sql(def->child_relid, def->fk_attnums[k]));
	if (condition != NULL)
		appendStringInfo(&sql, " AND (%s)", condition);
	appendStringInfo(&sql, " GROUP BY %s", group.data);
	return sql.data;
}

/*
 * Returns the join condition between parent alias p and counts alias s.  Keys
 * compare under the parent column's collation, which its unique index uses:
 * a child column of another collation would leave the comparison without one.
 */
char *
cf_key_join_sql(CounterDef *def, const char *p, const char *s)
{
	StringInfoData sql;

	initStringInfo(&sql);
	for (int k = 0; k < def->nkeys; k++)
		cf_append_key_equal(&sql, k,
							psprintf("%s.%s", p,
									 cf_column_sql(def->parent_relid, def->target->attnums[k])),
							psprintf("%s.cf_k%d", s, k + 1),
							def->target->types[k], def->target->collations[k]);
	return sql.data;
}

/*
 * The counter whose counts counterfield.counts() may return, while
 * counterfield itself reads them, and when: counts() is for no other caller.
 */
static int32 counts_counter = 0;
static LocalTransactionId counts_lxid = InvalidLocalTransactionId;
static SubTransactionId counts_subid = InvalidSubTransactionId;

/* Prepares to read a counter's true values (see Truth). */
void
cf_truth_begin(CounterDef *def, Truth *truth)
{
	StringInfoData sql;
	Oid			argtype = INT4OID;

	/*
	 * Before the update to 0.4 there is no counts(): the counting query is
	 * read inline, as the owner of both tables, search_path pinned.
	 */
	if (!OidIsValid(LookupFuncName(list_make2(makeString(CF_SCHEMA), makeString("counts")),
								   1, &argtype, true)))
	{
		if (def->child_owner != def->target->parent_owner)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("counter \"%s\" has tables of two owners",
							get_attname(def->parent_relid, def->counter_attnum, false)),
					 errhint("Update the extension with ALTER EXTENSION counterfield UPDATE.")));
		truth->relation = psprintf("(%s) AS c", cf_counts_sql(def, NULL));
		cf_begin_as_owner(def->child_owner, CF_OWNER_PIN_PATH, &truth->owner);
		return;
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "counterfield.counts(%d) AS c(", def->id);
	for (int k = 0; k < def->nkeys; k++)
		appendStringInfo(&sql, "cf_k%d %s, ", k + 1, format_type_be_qualified(def->fk_types[k]));
	appendStringInfo(&sql, "cf_n pg_catalog.%s)",
					 def->sum_attnum == InvalidAttrNumber ? "int8" : "numeric");
	truth->relation = sql.data;
	counts_counter = def->id;
	counts_lxid = CF_CURRENT_LXID();
	counts_subid = GetCurrentSubTransactionId();
	cf_begin_as_table_owner(def->parent_relid, def->target->parent_owner, &truth->owner);
}

PG_FUNCTION_INFO_V1(counterfield_counts);

/*
 * counts(counter): the true count of every parent key of a counter that has
 * counted children, as its child's owner sees them.  Only counterfield's
 * own reinit and verify may call it, between truth_begin and truth_end.
 */
Datum
counterfield_counts(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	TupleDesc	desc;
	Tuplestorestate *store;
	CounterDefs *defs;
	CounterDef *def;
	OwnerContext owner;
	Portal		portal;

	if (id == 0 || id != counts_counter || counts_lxid != CF_CURRENT_LXID() ||
		counts_subid != GetCurrentSubTransactionId())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("counterfield.counts() is for counterfield's own use"),
				 errhint("Use counterfield.verify() or counterfield.reinit().")));
	/* One call: the statement reads all counts before any trigger fires. */
	counts_counter = 0;
	store = cf_srf_begin(fcinfo, &desc);
	defs = cf_defs_acquire();
	def = cf_defs_counter(defs, id);
	if (def == NULL || desc->natts != def->nkeys + 1)
		elog(ERROR, "counts of counter %d asked for with the wrong columns", id);

	cf_spi_connect();
	cf_begin_as_owner(def->child_owner, CF_OWNER_PIN_PATH, &owner);
	portal = SPI_cursor_open_with_args(NULL, cf_counts_sql(def, NULL), 0, NULL, NULL, NULL,
									   true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			Datum		values[INDEX_MAX_KEYS + 1];
			bool		nulls[INDEX_MAX_KEYS + 1];

			heap_deform_tuple(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, values, nulls);
			/* A sum of NaN or infinity could never be taken back by a delta. */
			if (def->sum_type == NUMERICOID && !nulls[def->nkeys])
				cf_check_finite(def, values[def->nkeys]);
			tuplestore_putvalues(store, desc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	cf_end_as_owner(&owner);
	SPI_finish();
	cf_defs_release();
	return (Datum) 0;
}

/* Prepares a statement that reads the truth; SPI frees it at SPI_finish. */
SPIPlanPtr
cf_truth_plan(const char *sql)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/* Returns to the caller's user and settings. */
void
cf_truth_end(Truth *truth)
{
	counts_counter = 0;
	cf_end_as_owner(&truth->owner);
}

/* Locks a table and the tables under it in SHARE ROW EXCLUSIVE mode. */
static void
lock_tree(Oid relid)
{
	LockRelationOid(relid, ShareRowExclusiveLock);
	(void) find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
}

/*
 * Locks the child and the parent of a counter, each with the tables under
 * it, in SHARE ROW EXCLUSIVE mode, the lock that DDL on triggers takes and
 * that keeps writers out, the child first: counted writes lock the child,
 * then the parent when their deltas flush, so they and this wait for each
 * other in one order and never deadlock, as with ADD FOREIGN KEY.  A
 * transaction that writes the parent and then the child meanwhile can
 * deadlock with it, as with ADD FOREIGN KEY; PostgreSQL then fails one of
 * the two.  The child is locked even when the caller holds the parent
 * exclusively: writers whose deltas do not include this counter (it is new,
 * or was paused) may still be writing it.  Fails as a table that does not
 * exist does if one was dropped meanwhile.
 */
void
cf_lock_counter_tables(Oid child, Oid parent)
{
	lock_tree(child);
	lock_tree(parent);
	for (int i = 0; i < 2; i++)
	{
		Oid			relid = i == 0 ? child : parent;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table with OID %u was dropped while counterfield waited for it",
							relid)));
	}
}

/*
 * Sets every value of a counter to the truth; returns how many parent rows
 * changed (between distributed tables of Citus: 0, the shards recount).  Pending deltas of the counter are cancelled, since the truth
 * already includes their rows.  Child and parent, with the tables under
 * them, are locked against writers (lock_counter_tables): a parent row
 * that another transaction updated meanwhile would drop out of the UPDATE,
 * which finds the rows by ctid.  The truth is read and written with a
 * snapshot taken after the locks, as PostgreSQL validates a foreign key:
 * under REPEATABLE READ the transaction's snapshot could miss rows
 * committed before the locks were granted.
 */
int64
cf_reinit_counter(CounterDef *def)
{
	char	   *column;
	char	   *parent;
	Truth		truth;
	int64		changed;
	Snapshot	snapshot;

	/* Between distributed tables of Citus, the shards recount at commit. */
	if (cf_citus_recount_shards(def))
		return 0;
	cf_lock_counter_tables(def->child_relid, def->parent_relid);
	column = cf_column_sql(def->parent_relid, def->counter_attnum);
	parent = cf_relation_sql(def->parent_relid, false);
	cf_state_cancel_counter(def);
	cf_spi_connect();
	/* The truth includes the rows of a deferred counter's unfolded deltas. */
	if (def->deferred)
		cf_ledger_discard(def->id);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	cf_truth_begin(def, &truth);
	changed = cf_parent_write(def->parent_relid, def->target->parent_owner,
							  cf_truth_plan(
											psprintf("UPDATE %1$s AS p SET %2$s = s.n"
													 " FROM (SELECT q.tableoid AS r, q.ctid AS t,"
													 " COALESCE(c.cf_n, 0) AS n"
													 " FROM %3$s AS q LEFT JOIN %4$s ON %5$s) AS s"
													 " WHERE p.tableoid OPERATOR(pg_catalog.=) s.r"
													 " AND p.ctid OPERATOR(pg_catalog.=) s.t"
													 " AND (p.%6$s IS NULL"
													 " OR p.%6$s OPERATOR(pg_catalog.<>) s.n)",
													 parent, column, parent, truth.relation,
													 cf_key_join_sql(def, "q", "c"), column)),
							  NULL, NULL, SPI_OK_UPDATE, snapshot);
	cf_truth_end(&truth);
	UnregisterSnapshot(snapshot);
	SPI_finish();
	return changed;
}
