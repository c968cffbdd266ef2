/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The SQL functions of the extension: add_counter (checking a new
 *	  counter's definition), drop_counter, reinit, verify and
 *	  condition_text, and the trigger that tells every backend when the
 *	  catalog changes.
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

#if PG_VERSION_NUM >= 140000
#define cf_raw_parser(str) raw_parser((str), RAW_PARSE_DEFAULT)
#else
#define cf_raw_parser(str) raw_parser(str)
#endif


/* A counter's definition as add_counter resolves it. */
typedef struct NewCounter
{
	Relation	parent;
	Relation	child;
	AttrNumber	counter_attnum;
	int			nkeys;
	AttrNumber	fk_attnums[INDEX_MAX_KEYS];
	AttrNumber	parent_attnums[INDEX_MAX_KEYS];
	AttrNumber	sum_attnum;		/* or InvalidAttrNumber */
	int			nthrough;		/* intermediate tables, with through */
	Oid			through[INDEX_MAX_KEYS];
	char	   *through_fks[INDEX_MAX_KEYS + 1];	/* foreign key of each hop */
	int			nfk;			/* the child's key columns of the first hop */
	AttrNumber	first_attnums[INDEX_MAX_KEYS];
} NewCounter;

/*
 * Refuses a caller that does not own a table (or is no superuser), from the
 * system cache alone: called before any lock is taken on the table, so that
 * no other role can queue a lock behind the table's users.
 */
static void
check_owner(Oid relid)
{
	if (!cf_owns_relation(relid))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/* Refuses relations that cannot hold or feed counters, and non-owners. */
static void
check_table(Relation rel, bool is_child)
{
	char		relkind = rel->rd_rel->relkind;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Counters are kept between ordinary or partitioned tables.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counters cannot be kept on temporary table \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("A temporary table goes with its session, and no event trigger sees it go.")));
	if (is_child && rel->rd_rel->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot count the rows of partition \"%s\"",
						RelationGetRelationName(rel)),
				 errhint("Use the partitioned table as the child instead.")));
	if (!cf_owns_relation(RelationGetRelid(rel)))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(relkind),
					   RelationGetRelationName(rel));
	if (!is_child)
		cf_check_update_rules(rel);
}

/*
 * Fills in fk and parent key columns from the foreign key constraints of the
 * child that reference the parent.  With fk columns given, only a constraint
 * on exactly those columns is taken; returns whether one was found.
 */
static bool
keys_from_foreign_key(NewCounter *nc, bool fk_given)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2];
	int			found = 0;

	values[0] = ObjectIdGetDatum(RelationGetRelid(nc->child));
	values[1] = ObjectIdGetDatum(RelationGetRelid(nc->parent));
	cf_spi_run("SELECT conkey, confkey FROM pg_catalog.pg_constraint"
			   " WHERE contype OPERATOR(pg_catalog.=) 'f'"
			   " AND conrelid OPERATOR(pg_catalog.=) $1"
			   " AND confrelid OPERATOR(pg_catalog.=) $2"
			   " AND conparentid OPERATOR(pg_catalog.=) 0"
			   " ORDER BY oid",
			   2, types, values, NULL, true, SPI_OK_SELECT);

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		bool		isnull;
		AttrNumber	conkey[INDEX_MAX_KEYS];
		AttrNumber	confkey[INDEX_MAX_KEYS];
		int			n = cf_read_attnums(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull), conkey);

		cf_read_attnums(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull), confkey);
		if (fk_given &&
			(n != nc->nkeys || memcmp(conkey, nc->fk_attnums, sizeof(AttrNumber) * n) != 0))
			continue;
		if (++found == 1)
		{
			nc->nkeys = n;
			memcpy(nc->fk_attnums, conkey, sizeof(AttrNumber) * n);
			memcpy(nc->parent_attnums, confkey, sizeof(AttrNumber) * n);
		}
	}

	if (found > 1 && !fk_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("table \"%s\" has more than one foreign key to table \"%s\"",
						RelationGetRelationName(nc->child), RelationGetRelationName(nc->parent)),
				 errhint("Choose one with fk_columns.")));
	return found > 0;
}

/* Fills in the parent's primary key columns as the referenced key. */
static void
keys_from_primary_key(NewCounter *nc)
{
	Oid			pkindex;
	Relation	index;

	RelationGetIndexList(nc->parent);
	pkindex = nc->parent->rd_pkindex;
	if (!OidIsValid(pkindex))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(nc->parent)),
				 errhint("Name the referenced columns with parent_columns.")));
	index = index_open(pkindex, AccessShareLock);
	if (index->rd_index->indnkeyatts != nc->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("number of fk_columns does not match the primary key of table \"%s\"",
						RelationGetRelationName(nc->parent)),
				 errhint("Name the referenced columns with parent_columns.")));
	for (int k = 0; k < nc->nkeys; k++)
		nc->parent_attnums[k] = index->rd_index->indkey.values[k];
	index_close(index, AccessShareLock);
}

/* Are the first n key columns of an index these columns, in any order? */
static bool
index_leads_with(Form_pg_index form, int n, AttrNumber *attnums)
{
	for (int k = 0; k < n; k++)
	{
		bool		found = false;

		for (int i = 0; i < n && i < form->indnkeyatts; i++)
			found |= (form->indkey.values[i] == attnums[k]);
		if (!found)
			return false;
	}
	return true;
}

/*
 * Says so when no index of a table (the child, or an intermediate table of
 * a counter with through, moves) leads with its key columns: counting a
 * new parent, or one whose key changes, then reads the whole table.
 */
static void
notice_unindexed_keys(Relation rel, int nkeys, AttrNumber *attnums, bool moves)
{
	ListCell   *lc;

	foreach(lc, RelationGetIndexList(rel))
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		bool		leads = (index->rd_index->indnkeyatts >= nkeys &&
							 index_leads_with(index->rd_index, nkeys, attnums));

		index_close(index, AccessShareLock);
		if (leads)
			return;
	}
	ereport(NOTICE,
			(errmsg("no index of table \"%s\" leads with its key columns",
					RelationGetRelationName(rel)),
			 moves ?
			 errdetail("Counting a new parent row, or moving a row of a table above, reads the whole table.") :
			 errdetail("Counting a new parent row, or one whose key changes, reads the whole table."),
			 errhint("Create an index on the key columns of table \"%s\".",
					 RelationGetRelationName(rel))));
}

/*
 * Does each column of the index compare as counterfield compares keys, with
 * its type's equality operator under the column's collation?  An index with
 * another equality (record_image_ops), or another collation where the
 * column's is nondeterministic, would let in two rows whose keys
 * counterfield takes for equal, and a child row would count on both.  Under
 * a deterministic collation equal means equal bytes whatever the index's
 * collation, so that makes no difference.
 */
static bool
index_compares_as_type(Relation index, TupleDesc desc)
{
	Form_pg_index form = index->rd_index;

	for (int i = 0; i < form->indnkeyatts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, form->indkey.values[i] - 1);
		Oid			eq = get_opfamily_member(index->rd_opfamily[i], index->rd_opcintype[i],
											 index->rd_opcintype[i], BTEqualStrategyNumber);

		if (eq != cf_equality_operator(att->atttypid))
			return false;
		if (index->rd_indcollation[i] != att->attcollation && OidIsValid(att->attcollation) &&
			!get_collation_isdeterministic(att->attcollation))
			return false;
	}
	return true;
}

/*
 * Requires a unique index on exactly the parent key columns, comparing them
 * as counterfield does.
 */
static void
check_parent_key_unique(NewCounter *nc)
{
	List	   *indexes = RelationGetIndexList(nc->parent);
	ListCell   *lc;
	bool		other_comparison = false;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool		match = (form->indisunique && form->indnkeyatts == nc->nkeys &&
							 RelationGetIndexExpressions(index) == NIL &&
							 RelationGetIndexPredicate(index) == NIL &&
							 index_leads_with(form, nc->nkeys, nc->parent_attnums));

		if (match && !index_compares_as_type(index, RelationGetDescr(nc->parent)))
		{
			match = false;
			other_comparison = true;
		}
		index_close(index, AccessShareLock);
		if (match)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_FOREIGN_KEY),
			 errmsg("there is no unique constraint matching given keys for referenced table \"%s\"",
					RelationGetRelationName(nc->parent)),
			 other_comparison ?
			 errdetail("A unique index counts only if it compares its columns with their types' equality operators, under the columns' own collations where those are nondeterministic.") : 0,
			 errhint("Counters need parent_columns that are unique, as a foreign key does.")));
}

/* Checks that each fk column can be compared with its parent column. */
static void
check_key_types(NewCounter *nc)
{
	for (int k = 0; k < nc->nkeys; k++)
	{
		Form_pg_attribute fk = TupleDescAttr(RelationGetDescr(nc->child), nc->fk_attnums[k] - 1);
		Form_pg_attribute pk = TupleDescAttr(RelationGetDescr(nc->parent), nc->parent_attnums[k] - 1);

		if (fk->atttypid != pk->atttypid &&
			!(IsBinaryCoercible(fk->atttypid, pk->atttypid) &&
			  IsBinaryCoercible(pk->atttypid, fk->atttypid)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("key columns \"%s\" and \"%s\" are of incompatible types: %s and %s",
							NameStr(fk->attname), NameStr(pk->attname),
							format_type_be(fk->atttypid), format_type_be(pk->atttypid)),
					 errhint("Counter keys must have the same type in child and parent.")));
		cf_equality_operator(fk->atttypid);
		cf_equality_operator(pk->atttypid);
		if (nc->parent_attnums[k] == nc->counter_attnum)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("counter column \"%s\" cannot be part of the parent key",
							NameStr(pk->attname))));
		if (RelationGetRelid(nc->child) == RelationGetRelid(nc->parent) &&
			nc->fk_attnums[k] == nc->counter_attnum)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("counter column \"%s\" cannot be a foreign key column",
							NameStr(fk->attname))));
	}
	cf_check_parent_tables(RelationGetRelid(nc->parent), nc->nkeys, nc->parent_attnums,
						   RelationGetRelid(nc->parent));
}

/* The most intermediate tables a counter may count through. */
#define MAX_THROUGH INDEX_MAX_KEYS


/*
 * Finds the one foreign key of lower that references upper, for hop h of a
 * counter with through; fills in its name and columns and checks that they
 * compare as counterfield compares keys.
 */
static void
find_hop_key(NewCounter *nc, int h, Oid lower, Oid upper, AttrNumber *conkey,
			 AttrNumber *confkey, int *nkeys)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(lower), ObjectIdGetDatum(upper)};
	bool		isnull;

	cf_spi_run("SELECT conname, conkey, confkey FROM pg_catalog.pg_constraint"
			   " WHERE contype OPERATOR(pg_catalog.=) 'f'"
			   " AND conrelid OPERATOR(pg_catalog.=) $1"
			   " AND confrelid OPERATOR(pg_catalog.=) $2"
			   " AND conparentid OPERATOR(pg_catalog.=) 0",
			   2, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 SPI_processed == 0 ?
				 errmsg("table \"%s\" has no foreign key to table \"%s\"",
						get_rel_name(lower), get_rel_name(upper)) :
				 errmsg("table \"%s\" has more than one foreign key to table \"%s\"",
						get_rel_name(lower), get_rel_name(upper)),
				 errdetail("Each hop of through follows the one foreign key between its two tables."),
				 errhint("Give through the chain of tables from the child up to the parent.")));
	nc->through_fks[h] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*nkeys = cf_read_attnums(cf_spi_value(0, 2, &isnull), conkey);
	cf_read_attnums(cf_spi_value(0, 3, &isnull),
					confkey);
	for (int k = 0; k < *nkeys; k++)
	{
		Oid			lower_type = get_atttype(lower, conkey[k]);
		Oid			upper_type = get_atttype(upper, confkey[k]);

		if (lower_type != upper_type &&
			!(IsBinaryCoercible(lower_type, upper_type) &&
			  IsBinaryCoercible(upper_type, lower_type)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("key columns \"%s\" and \"%s\" are of incompatible types: %s and %s",
							get_attname(lower, conkey[k], false),
							get_attname(upper, confkey[k], false),
							format_type_be(lower_type), format_type_be(upper_type)),
					 errhint("Counter keys must have the same type in child and parent.")));
		cf_equality_operator(upper_type);
		if (!OidIsValid(get_array_type(upper_type)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a counter with through cannot have a key column of type %s",
							format_type_be(upper_type))));
	}
}

/*
 * Resolves and checks through: the intermediate tables, ordinary tables of
 * the child's owner (the SQL that follows the chain runs as that owner),
 * each table once, and the one foreign key of each hop.  Sets the child's
 * key columns of the first hop and the parent key of the last.
 */
static void
resolve_through(NewCounter *nc, ArrayType *through)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Oid			child = RelationGetRelid(nc->child);
	Oid			parent = RelationGetRelid(nc->parent);
	AttrNumber	conkey[INDEX_MAX_KEYS];
	AttrNumber	confkey[INDEX_MAX_KEYS];
	int			nkeys;

	deconstruct_array(through, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n < 1 || n > MAX_THROUGH || ARR_NDIM(through) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("through must name from 1 to %d intermediate tables", MAX_THROUGH)));
	for (int i = 0; i < n; i++)
	{
		Oid			relid = nulls[i] ? InvalidOid : DatumGetObjectId(elems[i]);

		if (nulls[i] || get_rel_name(relid) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("through names a table that does not exist")));
		check_owner(relid);
		nc->through[i] = relid;
	}
	nc->nthrough = n;
	for (int i = 0; i < n; i++)
	{
		Oid			relid = nc->through[i];
		char	   *name = get_rel_name(relid);

		LockRelationOid(relid, ShareRowExclusiveLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table with OID %u was dropped while counterfield waited for it",
							relid)));
		if (get_rel_relkind(relid) != RELKIND_RELATION || get_rel_relispartition(relid) ||
			has_subclass(relid) || has_superclass(relid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("intermediate table \"%s\" must be an ordinary table without partitions or inheritance",
							name)));
		if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("intermediate table \"%s\" cannot be temporary", name)));
		if (cf_relation_owner(relid) != cf_relation_owner(child))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("intermediate table \"%s\" has another owner than child table \"%s\"",
							name, RelationGetRelationName(nc->child)),
					 errdetail("A child's rows are followed up the chain as the child's owner."),
					 errhint("Give the child and the intermediate tables one owner.")));
		if (relid == child || relid == parent)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" appears more than once in the chain", name)));
		for (int j = 0; j < i; j++)
			if (nc->through[j] == relid)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("table \"%s\" appears more than once in the chain", name)));
	}
	if (child == parent)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" appears more than once in the chain",
						RelationGetRelationName(nc->child))));

	for (int h = 0; h <= n; h++)
	{
		Oid			lower = h == 0 ? child : nc->through[h - 1];
		Oid			upper = h == n ? parent : nc->through[h];

		find_hop_key(nc, h, lower, upper, conkey, confkey, &nkeys);
		if (h < n)
		{
			Relation	rel = h == 0 ? nc->child : table_open(lower, NoLock);

			notice_unindexed_keys(rel, nkeys, conkey, true);
			if (h > 0)
				table_close(rel, NoLock);
		}
		if (h == 0)
		{
			nc->nfk = nkeys;
			memcpy(nc->first_attnums, conkey, sizeof(AttrNumber) * nkeys);
		}
		if (h == n)
		{
			nc->nkeys = nkeys;
			memcpy(nc->parent_attnums, confkey, sizeof(AttrNumber) * nkeys);
			for (int k = 0; k < nkeys; k++)
				if (confkey[k] == nc->counter_attnum)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("counter column \"%s\" cannot be part of the parent key",
									get_attname(parent, confkey[k], false))));
		}
	}
	check_parent_key_unique(nc);
	cf_check_parent_tables(parent, nc->nkeys, nc->parent_attnums, parent);
}

/* Resolves and checks fk_columns and parent_columns. */
static void
resolve_keys(NewCounter *nc, ArrayType *fk_columns, ArrayType *parent_columns)
{
	if (fk_columns != NULL)
		nc->nkeys = cf_names_to_attnums(nc->child, fk_columns, "fk_columns", nc->fk_attnums);

	if (parent_columns != NULL)
	{
		int			n = cf_names_to_attnums(nc->parent, parent_columns, "parent_columns",
											nc->parent_attnums);

		if (fk_columns == NULL)
		{
			AttrNumber	given[INDEX_MAX_KEYS];

			memcpy(given, nc->parent_attnums, sizeof(given));
			nc->nkeys = n;
			if (!keys_from_foreign_key(nc, false) ||
				memcmp(given, nc->parent_attnums, sizeof(AttrNumber) * n) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_FOREIGN_KEY),
						 errmsg("no foreign key from table \"%s\" to the given columns of table \"%s\"",
								RelationGetRelationName(nc->child),
								RelationGetRelationName(nc->parent)),
						 errhint("Name the child columns with fk_columns.")));
		}
		else if (n != nc->nkeys)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_FOREIGN_KEY),
					 errmsg("fk_columns and parent_columns must name the same number of columns")));
	}
	else if (fk_columns == NULL)
	{
		if (!keys_from_foreign_key(nc, false))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_FOREIGN_KEY),
					 errmsg("table \"%s\" has no foreign key to table \"%s\"",
							RelationGetRelationName(nc->child),
							RelationGetRelationName(nc->parent)),
					 errhint("Name the columns with fk_columns and parent_columns.")));
	}
	else if (!keys_from_foreign_key(nc, true))
		keys_from_primary_key(nc);

	check_parent_key_unique(nc);
	check_key_types(nc);
}

/* Opens parent and child of a counter, locked by lock_counter_tables. */
static void
open_tables(NewCounter *nc, Oid parent, Oid child)
{
	cf_lock_counter_tables(child, parent);
	nc->child = table_open(child, NoLock);
	nc->parent = (child == parent) ? nc->child : table_open(parent, NoLock);
}

/* Closes what open_tables opened, keeping the locks. */
static void
close_tables(NewCounter *nc)
{
	if (nc->child != nc->parent)
		table_close(nc->child, NoLock);
	table_close(nc->parent, NoLock);
}

/*
 * Refuses a counter that sums a counter column of its child, or whose
 * column another counter sums: counterfield's own updates of one counter
 * would be counted as writes of the other.
 */
static void
check_summed_counters(NewCounter *nc)
{
	Oid			types[2] = {OIDOID, INT2OID};
	Datum		values[2];

	if (nc->sum_attnum != InvalidAttrNumber &&
		((nc->child == nc->parent && nc->sum_attnum == nc->counter_attnum) ||
		 cf_find_counter(RelationGetRelid(nc->child), nc->sum_attnum, NULL) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sum column \"%s\" is a counter column",
						get_attname(RelationGetRelid(nc->child), nc->sum_attnum, false)),
				 errdetail("counterfield does not sum the columns it keeps.")));
	if (!cf_catalog_has_sums(cf_catalog_relid(false)))
		return;
	values[0] = ObjectIdGetDatum(RelationGetRelid(nc->parent));
	values[1] = Int16GetDatum(nc->counter_attnum);
	if (cf_catalog_has("child OPERATOR(pg_catalog.=) $1 AND sum_attnum OPERATOR(pg_catalog.=) $2",
					   2, types, values, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of table \"%s\" is summed by another counter",
						get_attname(RelationGetRelid(nc->parent), nc->counter_attnum, false),
						RelationGetRelationName(nc->parent)),
				 errdetail("counterfield does not sum the columns it keeps.")));
}

PG_FUNCTION_INFO_V1(counterfield_add_counter);

/*
 * Refuses a deferred counter on a key column of a type that has no array
 * type (an array type itself): verify() passes the unfolded deltas as
 * arrays of the key's types.
 */
static void
check_deferred_keys(NewCounter *nc)
{
	for (int k = 0; k < nc->nkeys; k++)
	{
		Oid			type = get_atttype(RelationGetRelid(nc->parent), nc->parent_attnums[k]);

		if (!OidIsValid(get_array_type(type)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a deferred counter cannot have a key column of type %s",
							format_type_be(type)),
					 errhint("Use flush => 'statement' or flush => 'transaction'.")));
	}
}

/*
 * add_counter(parent, counter_column, child, fk_columns, parent_columns,
 *			   condition, flush, initialize, sum_column)
 */
Datum
counterfield_add_counter(PG_FUNCTION_ARGS)
{
	NewCounter	nc;
	char	   *counter_column;
	char	   *sum_column;
	ArrayType  *through;
	char	   *flush;
	Node	   *condition = NULL;
	bool		initialize;
	int32		id;
	Oid			types[10] = {REGCLASSOID, REGCLASSOID, NAMEOID, NAMEARRAYOID, NAMEARRAYOID,
	TEXTOID, TEXTOID, NAMEOID, OIDARRAYOID, NAMEARRAYOID};
	Datum		values[10];
	char		nulls[10] = "          ";

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(6) || PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("parent, counter_column, child, flush and initialize must not be null")));
	counter_column = NameStr(*PG_GETARG_NAME(1));
	/* sum_column and through are there from 0.7 on */
	sum_column = PG_NARGS() > 8 && !PG_ARGISNULL(8) ? NameStr(*PG_GETARG_NAME(8)) : NULL;
	through = PG_NARGS() > 9 && !PG_ARGISNULL(9) ? PG_GETARG_ARRAYTYPE_P(9) : NULL;
	flush = text_to_cstring(PG_GETARG_TEXT_PP(6));
	initialize = PG_GETARG_BOOL(7);
	if (strcmp(flush, "statement") != 0 && strcmp(flush, "transaction") != 0 &&
		strcmp(flush, "deferred") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid flush mode \"%s\"", flush),
				 errhint("Valid flush modes are \"statement\", \"transaction\" and \"deferred\".")));
	if (strcmp(flush, "deferred") == 0 && !OidIsValid(cf_ledger_relid()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deferred counters need version 0.6 of the counterfield extension"),
				 errhint("Update the extension with ALTER EXTENSION counterfield UPDATE.")));

	if ((sum_column != NULL || through != NULL) && !cf_catalog_has_sums(cf_catalog_relid(false)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sums and through need version 0.7 of the counterfield extension"),
				 errhint("Update the extension with ALTER EXTENSION counterfield UPDATE.")));

	memset(&nc, 0, sizeof(nc));
	check_owner(PG_GETARG_OID(0));
	check_owner(PG_GETARG_OID(2));
	if (through != NULL && (!PG_ARGISNULL(3) || !PG_ARGISNULL(4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fk_columns and parent_columns must be null with through"),
				 errdetail("Each hop of through follows the one foreign key between its two tables.")));
	open_tables(&nc, PG_GETARG_OID(0), PG_GETARG_OID(2));
	check_table(nc.parent, false);
	check_table(nc.child, true);

	nc.counter_attnum = cf_column_attnum(RelationGetRelid(nc.parent), counter_column);
	if (sum_column != NULL)
		nc.sum_attnum = cf_column_attnum(RelationGetRelid(nc.child), sum_column);
	cf_check_counter_types(RelationGetRelid(nc.parent), nc.counter_attnum,
						   RelationGetRelid(nc.child), nc.sum_attnum, ERROR);
	if (TupleDescAttr(RelationGetDescr(nc.parent), nc.counter_attnum - 1)->attgenerated)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("counter column \"%s\" cannot be a generated column", counter_column)));

	cf_spi_connect();
	if (through != NULL)
		resolve_through(&nc, through);
	else
	{
		resolve_keys(&nc, PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
					 PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4));
		notice_unindexed_keys(nc.child, nc.nkeys, nc.fk_attnums, false);
	}
	cf_citus_check_counter(RelationGetRelid(nc.parent), RelationGetRelid(nc.child), nc.through,
						   nc.nthrough, through ? 0 : nc.nkeys, nc.fk_attnums, nc.parent_attnums,
						   strcmp(flush, "deferred") == 0);
	if (strcmp(flush, "deferred") == 0)
		check_deferred_keys(&nc);
	if (!PG_ARGISNULL(5))
		condition = cf_parse_condition(nc.child,
									   nc.child == nc.parent ? nc.counter_attnum : InvalidAttrNumber,
									   text_to_cstring(PG_GETARG_TEXT_PP(5)));

	if (cf_find_counter(RelationGetRelid(nc.parent), nc.counter_attnum, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("counter \"%s\" on table \"%s\" already exists",
						counter_column, RelationGetRelationName(nc.parent)),
				 errhint("Drop it with drop_counter first.")));
	check_summed_counters(&nc);

	/*
	 * The catalog row is written by names and condition text; its BEFORE
	 * INSERT trigger resolves them, as it does for rows that a restore loads.
	 * A catalog not yet updated to 0.3 takes numbers and the tree.
	 */
	values[0] = ObjectIdGetDatum(RelationGetRelid(nc.parent));
	values[1] = ObjectIdGetDatum(RelationGetRelid(nc.child));
	values[6] = CStringGetTextDatum(flush);
	nulls[5] = condition ? ' ' : 'n';
	if (cf_catalog_is_current(cf_catalog_relid(false)))
	{
		values[2] = DirectFunctionCall1(namein, CStringGetDatum(counter_column));
		/* With through, the child's key columns are those of the first hop. */
		values[3] = through ?
			cf_attnames_array(RelationGetRelid(nc.child), nc.first_attnums, nc.nfk) :
			cf_attnames_array(RelationGetRelid(nc.child), nc.fk_attnums, nc.nkeys);
		values[4] = cf_attnames_array(RelationGetRelid(nc.parent), nc.parent_attnums, nc.nkeys);
		if (condition)
			values[5] = CStringGetTextDatum(cf_deparse_condition(condition,
																 RelationGetRelid(nc.child)));
		nulls[7] = sum_column ? ' ' : 'n';
		if (sum_column != NULL)
			values[7] = DirectFunctionCall1(namein, CStringGetDatum(sum_column));
		nulls[8] = nulls[9] = through ? ' ' : 'n';
		if (through != NULL)
		{
			Datum		elems[INDEX_MAX_KEYS + 1];

			for (int i = 0; i < nc.nthrough; i++)
				elems[i] = ObjectIdGetDatum(nc.through[i]);
			values[8] = PointerGetDatum(construct_array(elems, nc.nthrough, OIDOID,
														sizeof(Oid), true, TYPALIGN_INT));
			for (int h = 0; h <= nc.nthrough; h++)
				elems[h] = DirectFunctionCall1(namein, CStringGetDatum(nc.through_fks[h]));
			values[9] = PointerGetDatum(construct_array(elems, nc.nthrough + 1, NAMEOID,
														NAMEDATALEN, false, TYPALIGN_CHAR));
		}
		cf_catalog_write(sum_column != NULL || through != NULL ?
						 "INSERT INTO counterfield.counter"
						 " (parent, child, counter_column, fk_columns, parent_columns,"
						 " condition_sql, flush, sum_column, through, through_fks)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
						 " $9::pg_catalog.oid[]::pg_catalog.regclass[], $10)" :
						 "INSERT INTO counterfield.counter"
						 " (parent, child, counter_column, fk_columns, parent_columns,"
						 " condition_sql, flush)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7)",
						 sum_column != NULL || through != NULL ? 10 : 7, types, values, nulls,
						 SPI_OK_INSERT);
	}
	else
	{
		Oid			old_types[7] = {REGCLASSOID, REGCLASSOID, INT2OID, INT2ARRAYOID,
		INT2ARRAYOID, TEXTOID, TEXTOID};

		values[2] = Int16GetDatum(nc.counter_attnum);
		values[3] = cf_attnums_array(nc.fk_attnums, nc.nkeys);
		values[4] = cf_attnums_array(nc.parent_attnums, nc.nkeys);
		if (condition)
			values[5] = CStringGetTextDatum(nodeToString(condition));
		cf_catalog_write("INSERT INTO counterfield.counter"
						 " (parent, child, counter_attnum, fk_attnums, parent_attnums,"
						 " condition, flush)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7)",
						 7, old_types, values, nulls, SPI_OK_INSERT);
	}
	id = cf_find_counter(RelationGetRelid(nc.parent), nc.counter_attnum, NULL);

	cf_sync_triggers(RelationGetRelid(nc.child));
	if (nc.child != nc.parent)
		cf_sync_triggers(RelationGetRelid(nc.parent));
	for (int i = 0; i < nc.nthrough; i++)
		cf_sync_triggers(nc.through[i]);
	CommandCounterIncrement();

	if (initialize)
	{
		CounterDefs *defs = cf_defs_acquire();
		CounterDef *def = cf_defs_counter(defs, id);

		if (def == NULL)
			elog(ERROR, "counter %d was not loaded", id);
		cf_reinit_counter(def);
		cf_defs_release();
	}
	SPI_finish();
	close_tables(&nc);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(counterfield_drop_counter);

/* drop_counter(parent, counter_column) */
Datum
counterfield_drop_counter(PG_FUNCTION_ARGS)
{
	Oid			parent = PG_GETARG_OID(0);
	char	   *counter_column = NameStr(*PG_GETARG_NAME(1));
	NewCounter	nc;
	Oid			child = InvalidOid;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	CounterDefs *defs;
	CounterDef *def;
	List	   *through;
	ListCell   *lc;

	/* Ownership first, before anything locks a table. */
	check_owner(parent);
	nc.counter_attnum = cf_column_attnum(parent, counter_column);

	cf_spi_connect();
	values[0] = Int32GetDatum(cf_find_counter(parent, nc.counter_attnum, &child));
	if (DatumGetInt32(values[0]) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("counter \"%s\" on table \"%s\" does not exist",
						counter_column, get_rel_name(parent))));
	check_owner(child);
	open_tables(&nc, parent, child);
	check_table(nc.parent, false);
	check_table(nc.child, true);

	/* A deferred counter's column keeps its value: its deltas are folded. */
	defs = cf_defs_acquire();
	def = cf_defs_counter(defs, DatumGetInt32(values[0]));
	if (def != NULL && def->deferred)
		(void) cf_fold(list_make1(def));

	cf_defs_release();

	/*
	 * The nodes of Citus drop their rows of a counter between distributed
	 * tables.
	 */
	if (cf_citus_distributed(child))
		cf_citus_forget_counter(parent, nc.counter_attnum, child);

	through = cf_catalog_through(DatumGetInt32(values[0]));
	cf_catalog_write("DELETE FROM counterfield.counter WHERE id OPERATOR(pg_catalog.=) $1",
					 1, types, values, NULL, SPI_OK_DELETE);
	cf_sync_triggers(child);
	if (child != parent)
		cf_sync_triggers(parent);
	foreach(lc, through)
		cf_sync_triggers(lfirst_oid(lc));
	SPI_finish();
	close_tables(&nc);
	PG_RETURN_VOID();
}

/* Finds the loaded counter on (parent, column name), or fails. */
CounterDef *
cf_lookup_counter(CounterDefs *defs, Oid parent, const char *column)
{
	RelCounters *rc = cf_defs_for_rel(defs, parent);
	ListCell   *lc;

	foreach(lc, rc ? rc->as_parent : NIL)
	{
		CounterDef *def = lfirst(lc);
		char	   *name = get_attname(parent, def->counter_attnum, true);

		if (name != NULL && strcmp(name, column) == 0)
			return def;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("counter \"%s\" on table \"%s\" does not exist",
					column, get_rel_name(parent))));
	return NULL;				/* keep compiler quiet */
}

PG_FUNCTION_INFO_V1(counterfield_reinit);

/* reinit(parent, counter_column): recompute; returns parent rows changed. */
Datum
counterfield_reinit(PG_FUNCTION_ARGS)
{
	CounterDefs *defs;
	CounterDef *def;
	int64		changed = 0;
	bool		distributed;

	/* Ownership first, before anything locks a table. */
	check_owner(PG_GETARG_OID(0));
	defs = cf_defs_acquire();
	def = cf_lookup_counter(defs, PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)));
	check_owner(def->child_relid);
	cf_spi_connect();
	distributed = cf_citus_distributed(def->parent_relid);
	if (distributed)
	{
		/*
		 * The shards recount at commit: this counts the rows they will
		 * change.
		 */
		Oid			types[2] = {REGCLASSOID, NAMEOID};
		Datum		values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
		bool		isnull;

		cf_spi_run("SELECT pg_catalog.count(*) FROM counterfield.verify($1, $2)", 2, types,
				   values, NULL, true, SPI_OK_SELECT);
		changed = DatumGetInt64(cf_spi_value(0, 1, &isnull));
	}
	SPI_finish();
	if (distributed)
		(void) cf_reinit_counter(def);
	else
		changed = cf_reinit_counter(def);

	cf_defs_release();
	PG_RETURN_INT64(changed);
}

/* Refuses to verify the counters of a parent whose tables the caller may not read. */
static void
refuse_verify(Oid parent)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to verify the counters of table \"%s\"",
					get_rel_name(parent)),
			 errdetail("Only a role that owns both tables of a counter, or may read them with no row-level security in the way, may verify it.")));
}

/*
 * The unfolded deltas of a deferred counter as parameters of a statement:
 * an array of each key column, then one of the deltas.  Returns how many.
 */
static int
unfolded_params(CounterDef *def, Oid *types, Datum *params)
{
	int			n;
	FlushItem  *items = cf_ledger_unfolded(def, CurrentMemoryContext, &n);

	for (int k = 0; k <= def->nkeys; k++)
	{
		types[k] = get_array_type(k < def->nkeys ? def->target->types[k] : INT8OID);
		if (!OidIsValid(types[k]))
			elog(ERROR, "type %s has no array type", format_type_be(def->target->types[k]));
	}
	cf_item_arrays(def->nkeys, def->target->types, items, n, params);
	return def->nkeys + 1;
}

/*
 * Warns of the counters of the catalog that the definitions left out, which
 * count nothing and so are not verified (a key column retyped on one side
 * only, say), among those verify() was asked for and the caller may see.
 * SPI is connected.
 */
static void
warn_paused(CounterDefs *defs, Oid parent, const char *column)
{
	if (!cf_catalog_is_current(cf_catalog_relid(false)))
		return;
	cf_spi_run("SELECT id, parent::pg_catalog.oid, child::pg_catalog.oid, counter_column"
			   " FROM counterfield.counter ORDER BY id",
			   0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull));
		Oid			relid = DatumGetObjectId(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2,
														   &isnull));
		Oid			child = DatumGetObjectId(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 3,
														   &isnull));
		char	   *name = SPI_getvalue(tuple, SPI_tuptable->tupdesc, 4);

		if (cf_defs_counter(defs, id) != NULL || (OidIsValid(parent) && relid != parent) ||
			(column != NULL && strcmp(column, name) != 0) ||
			get_rel_name(relid) == NULL || get_rel_name(child) == NULL ||
			!cf_may_read_table(relid) || !cf_may_read_table(child))
			continue;
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("counter \"%s\" on table \"%s\" is not counting",
						name, get_rel_name(relid)),
				 errdetail("Its tables no longer fit its definition: key columns of types that are not binary compatible, say."),
				 errhint("Make them fit again, which recomputes the counter, or drop it.")));
	}
}

PG_FUNCTION_INFO_V1(counterfield_verify);

/* verify(parent, counter_column): initialized values that differ from the truth. */
Datum
counterfield_verify(PG_FUNCTION_ARGS)
{
	CounterFilter filter;
	TupleDesc	desc;
	Tuplestorestate *store = cf_report_begin(fcinfo, &desc, &filter, refuse_verify);
	CounterDefs *defs = cf_defs_acquire();

	cf_spi_connect();
	warn_paused(defs, filter.parent, filter.column);
	if (OidIsValid(filter.parent) && filter.column != NULL)
		cf_lookup_counter(defs, filter.parent, filter.column);

	for (int i = 0; i < defs->ncounters; i++)
	{
		CounterDef *def = &defs->counters[i];
		char	   *name = get_attname(def->parent_relid, def->counter_attnum, false);
		StringInfoData sql;
		Truth		truth;
		Oid			types[INDEX_MAX_KEYS + 1];
		Datum		params[INDEX_MAX_KEYS + 1];
		int			nparams;

		if (!cf_filter_includes(&filter, def))
			continue;
		if (!cf_may_read_table(def->parent_relid) || !cf_may_read_table(def->child_relid))
		{
			if (!OidIsValid(filter.parent))
				continue;		/* all counters: those the caller may see */
			refuse_verify(filter.parent);
		}

		nparams = def->deferred ? unfolded_params(def, types, params) : 0;
		cf_truth_begin(def, &truth);
		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT CAST(ROW(");
		for (int k = 0; k < def->nkeys; k++)
			appendStringInfo(&sql, "%sq.%s", k > 0 ? ", " : "",
							 cf_column_sql(def->parent_relid, def->target->attnums[k]));
		appendStringInfo(&sql, ") AS pg_catalog.text), s.n,"
						 " CAST(COALESCE(c.cf_n, 0) AS pg_catalog.numeric)"
						 " FROM %1$s AS q LEFT JOIN %2$s ON %3$s",
						 cf_relation_sql(def->parent_relid, false), truth.relation,
						 cf_key_join_sql(def, "q", "c"));
		if (def->deferred)
		{
			/* A deferred counter's value includes its unfolded deltas. */
			appendStringInfoString(&sql, " LEFT JOIN ROWS FROM (");
			for (int k = 0; k <= def->nkeys; k++)
				appendStringInfo(&sql, "%spg_catalog.unnest($%d)", k > 0 ? ", " : "", k + 1);
			appendStringInfoString(&sql, ") AS u(");
			for (int k = 0; k < def->nkeys; k++)
				appendStringInfo(&sql, "cf_k%d, ", k + 1);
			appendStringInfo(&sql, "cf_d) ON %s", cf_key_join_sql(def, "q", "u"));
		}
		appendStringInfo(&sql, ", LATERAL (SELECT CAST(q.%s AS pg_catalog.numeric)%s AS n) AS s"
						 " WHERE s.n IS NOT NULL"
						 " AND s.n OPERATOR(pg_catalog.<>) COALESCE(c.cf_n, 0)"
						 " ORDER BY 1",
						 cf_column_sql(def->parent_relid, def->counter_attnum),
						 def->deferred ?
						 psprintf(" OPERATOR(pg_catalog.+) COALESCE(%s, 0)",
								  cf_value_sql(def, "u.cf_d")) : "");
		cf_spi_run(sql.data, nparams, types, params, NULL, true, SPI_OK_SELECT);
		cf_truth_end(&truth);

		for (uint64 row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];
			Datum		out[5];
			bool		nulls[5] = {false, false, false, false, false};

			out[0] = ObjectIdGetDatum(def->parent_relid);
			out[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
			out[2] = CStringGetTextDatum(SPI_getvalue(tuple, SPI_tuptable->tupdesc, 1));
			for (int c = 3; c < 5; c++)
			{
				out[c] = SPI_getbinval(tuple, SPI_tuptable->tupdesc, c - 1, &nulls[c]);
				/* stored and actual are bigint before 0.7 */
				if (TupleDescAttr(desc, c)->atttypid == INT8OID)
					out[c] = DirectFunctionCall1(numeric_int8, out[c]);
			}
			tuplestore_putvalues(store, desc, out, nulls);
		}
	}
	SPI_finish();
	cf_defs_release();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(counterfield_condition_text);

/*
 * condition_text(condition, child): a stored condition as SQL text, for the
 * counters view of versions before 0.3; 0.4 drops the SQL function.  The
 * argument is never read as a node tree: only a tree that the catalog holds
 * for a counter of that child is, so no caller can hand it a tree of its own.
 */
Datum
counterfield_condition_text(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	MemoryContext cxt = CurrentMemoryContext;
	char	   *tree = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(0);
	cf_spi_connect();
	cf_spi_run("SELECT condition FROM counterfield.counter"
			   " WHERE child OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
			   " AND condition OPERATOR(pg_catalog.=) $2 LIMIT 1",
			   2, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 1)
		tree = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	if (tree == NULL || get_rel_name(DatumGetObjectId(values[0])) == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(cf_deparse_condition(stringToNode(tree),
														  DatumGetObjectId(values[0]))));
}

PG_FUNCTION_INFO_V1(counterfield_catalog_trigger);

/* AFTER trigger on counterfield.counter: invalidates every definition cache. */
Datum
counterfield_catalog_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = cf_trigger_context(fcinfo, "counterfield_catalog_trigger", false);

	if (RelationGetRelid(trigdata->tg_relation) != cf_catalog_relid(true))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired on counterfield.counter",
						"counterfield_catalog_trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);

	/* A counter dropped takes its unfolded deltas with it. */
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		int32		id = 0;

		if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		{
			bool		isnull;

			id = DatumGetInt32(heap_getattr(trigdata->tg_trigtuple, CF_COL_ID,
											RelationGetDescr(trigdata->tg_relation), &isnull));
		}
		cf_spi_connect();
		cf_ledger_discard(id);
		SPI_finish();
	}
	return PointerGetDatum(NULL);
}
