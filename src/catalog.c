/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The catalog table counterfield.counter and what definitions are made
 *	  of: finding a counter, walking and querying the catalog's rows,
 *	  writing the catalog as its owner, the intermediate tables of a
 *	  counter, column names and numbers, which roles may read a counter's
 *	  tables, and the checks that every table of a parent takes its key
 *	  columns as counters need them.
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
 * May the caller see a table's rows through verify: it owns the table, or
 * may read it and no row-level security policy hides rows from it.
 */
bool
cf_may_read_table(Oid relid)
{
	if (cf_owns_relation(relid))
		return true;
	return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
		check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED;
}

/* Resolves a column name to its attribute number, or fails. */
AttrNumber
cf_column_attnum(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						name, get_rel_name(relid))));
	return attnum;
}

/* Reads a name[] argument into attribute numbers; returns the count. */
int
cf_names_to_attnums(Relation rel, ArrayType *names, const char *argname, AttrNumber *attnums)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(names) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(names, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &n);
	if (n < 1 || n > INDEX_MAX_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must name between 1 and %d columns", argname, INDEX_MAX_KEYS)));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", argname)));
		attnums[i] = cf_column_attnum(RelationGetRelid(rel), NameStr(*DatumGetName(elems[i])));
		for (int j = 0; j < i; j++)
			if (attnums[j] == attnums[i])
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears twice in %s",
								NameStr(*DatumGetName(elems[i])), argname)));
	}
	return n;
}

/* Builds an int2[] datum from attribute numbers. */
Datum
cf_attnums_array(AttrNumber *attnums, int n)
{
	Datum		elems[INDEX_MAX_KEYS];

	for (int i = 0; i < n; i++)
		elems[i] = Int16GetDatum(attnums[i]);
	return PointerGetDatum(construct_array(elems, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

/* Builds a name[] datum of the current names of columns of relid. */
Datum
cf_attnames_array(Oid relid, AttrNumber *attnums, int n)
{
	Datum		elems[INDEX_MAX_KEYS];

	for (int i = 0; i < n; i++)
		elems[i] = DirectFunctionCall1(namein,
									   CStringGetDatum(get_attname(relid, attnums[i], false)));
	return PointerGetDatum(construct_array(elems, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
}

/*
 * Checks the tables of the tree under relid that hold rows of parent (a
 * partitioned table's partitions, relid too): none may be a foreign table,
 * whose rows counterfield's commit cannot update once the foreign server's
 * transaction has committed, and in none may a key column be generated: a
 * new parent row is counted by a BEFORE INSERT trigger, before its
 * generated columns are computed.
 */
void
cf_check_parent_tables(Oid parent, int nkeys, const AttrNumber *attnums, Oid relid)
{
	List	   *tables = (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ?
						  find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid));
	ListCell   *lc;

	foreach(lc, tables)
	{
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("foreign table \"%s\" cannot hold counters",
							get_rel_name(lfirst_oid(lc))),
					 errdetail("It would be a partition of table \"%s\", which holds counters.",
							   get_rel_name(parent))));
		for (int k = 0; k < nkeys; k++)
		{
			char	   *name = get_attname(parent, attnums[k], false);
			AttrNumber	attnum = get_attnum(lfirst_oid(lc), name);

			if (attnum > 0 && get_attgenerated(lfirst_oid(lc), attnum))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("parent key column \"%s\" of table \"%s\" cannot be a generated column",
								name, get_rel_name(lfirst_oid(lc))),
						 errdetail("A new parent row is counted before its generated columns are computed."),
						 errhint("Use a key column that the INSERT sets, or a BEFORE INSERT trigger that sets it.")));
		}
	}
	list_free(tables);
}

/* Returns the catalog id of the counter on (parent, attnum), or 0. */
int32
cf_find_counter(Oid parent, AttrNumber attnum, Oid *child)
{
	Oid			types[2] = {OIDOID, INT2OID};
	Datum		values[2];
	bool		isnull;

	values[0] = ObjectIdGetDatum(parent);
	values[1] = Int16GetDatum(attnum);
	cf_spi_run("SELECT id, child FROM counterfield.counter"
			   " WHERE parent OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
			   " AND counter_attnum OPERATOR(pg_catalog.=) $2",
			   2, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return 0;
	if (child)
		*child = DatumGetObjectId(cf_spi_value(0, 2, &isnull));
	return DatumGetInt32(cf_spi_value(0, 1, &isnull));
}

/* Runs a catalog write as the catalog's owner. */
void
cf_catalog_write(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
				 int expected)
{
	Oid			save_userid;
	int			save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(cf_relation_owner(cf_catalog_relid(false)),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	cf_spi_run(sql, nargs, types, values, nulls, false, expected);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/* The intermediate tables of a counter of the catalog, by id. */
List *
cf_catalog_through(int32 id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(id)};
	bool		isnull;
	Datum		through;

	if (!cf_catalog_has_sums(cf_catalog_relid(false)))
		return NIL;
	cf_spi_run("SELECT through::pg_catalog.oid[] FROM counterfield.counter"
			   " WHERE id OPERATOR(pg_catalog.=) $1",
			   1, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return NIL;
	through = cf_spi_value(0, 1, &isnull);
	return isnull ? NIL : cf_oid_list(through);
}

/* The OIDs of an oid[] value, as a list. */
List *
cf_oid_list(Datum array)
{
	List	   *oids = NIL;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(DatumGetArrayTypeP(array), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		oids = lappend_oid(oids, DatumGetObjectId(elems[i]));
	return oids;
}

/*
 * Is there a counter for which the condition where holds?  where is the
 * WHERE clause of a query on counterfield.counter, with parameters $1 on.
 */
bool
cf_catalog_has(const char *where, int nargs, Oid *types, Datum *values, bool read_only)
{
	cf_spi_run(psprintf("SELECT 1 FROM counterfield.counter WHERE %s LIMIT 1", where),
			   nargs, types, values, NULL, read_only, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * Reads every row of a catalog (InvalidOid: the current one) with
 * cf_catalog_query(), to be walked with cf_catalog_next().  The rows stay
 * valid across other SPI calls until SPI is left.
 */
void
cf_catalog_scan(CatalogScan *scan, Oid catalog, bool read_only)
{
	if (!OidIsValid(catalog))
		catalog = cf_catalog_relid(false);
	cf_spi_run(cf_catalog_query(catalog), 0, NULL, NULL, NULL, read_only, SPI_OK_SELECT);
	scan->rows = SPI_tuptable;
	scan->desc = SPI_tuptable->tupdesc;
	scan->next = 0;
	scan->tuple = NULL;
}

/* Moves to the next row of a catalog scan; false when there is none. */
bool
cf_catalog_next(CatalogScan *scan)
{
	if (scan->next >= scan->rows->numvals)
		return false;
	scan->tuple = scan->rows->vals[scan->next++];
	return true;
}

/* An OID column of the current row of a catalog scan. */
Oid
cf_row_oid(CatalogScan *scan, int column)
{
	bool		isnull;

	return DatumGetObjectId(SPI_getbinval(scan->tuple, scan->desc, column, &isnull));
}

/* An attribute number column of the current row; InvalidAttrNumber if null. */
AttrNumber
cf_row_attnum(CatalogScan *scan, int column)
{
	bool		isnull;
	Datum		value = SPI_getbinval(scan->tuple, scan->desc, column, &isnull);

	return isnull ? InvalidAttrNumber : DatumGetInt16(value);
}
