/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Keeping counters through DDL, dump and restore, and pg_upgrade.
 *
 * Within a database a counter is defined by OIDs and attribute numbers
 * (counter_attnum, fk_attnums, parent_attnums) and by a condition node tree,
 * so renames do not disturb it.  None of these survive a plain dump and
 * restore: columns are renumbered when the table had dropped columns, and
 * the OIDs of functions and operators change.  So every catalog row also
 * carries the portable definition -- column names and the condition as
 * schema-qualified SQL -- which the event triggers below keep current, and
 * which the catalog's BEFORE INSERT trigger resolves again whenever a row
 * is inserted, by add_counter or by a restore.
 *
 * pg_upgrade copies the catalog as it is: attribute numbers and table OIDs
 * are kept, but function OIDs and the node format are not.  The tree is
 * therefore stamped with the system identifier of the cluster that built
 * it; a tree from another cluster is not read but rebuilt from its SQL.
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
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "counterfield.h"

#if PG_VERSION_NUM >= 140000
#define CF_PARTITION_PARENT(relid) get_partition_parent((relid), false)
#else
#define CF_PARTITION_PARENT(relid) get_partition_parent(relid)
#endif

/* The kind of object an ALTER TABLE statement names (renamed in 14) */
#if PG_VERSION_NUM >= 140000
#define CF_ALTER_TABLE_OBJTYPE(stmt) ((stmt)->objtype)
#else
#define CF_ALTER_TABLE_OBJTYPE(stmt) ((stmt)->relkind)
#endif

/* Returns the attribute number of a catalog column by name. */
static int
catalog_attno(TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "column \"%s\" is missing from counterfield.counter", name);
	return attno;
}

PG_FUNCTION_INFO_V1(counterfield_catalog_resolve);

/*
 * BEFORE INSERT trigger on counterfield.counter: resolves the names and the
 * condition text of a new row into attribute numbers and a node tree of
 * this database.  The rows that add_counter writes and the rows that
 * pg_restore loads take the same path, so a restored counter points at the
 * same columns as the dumped one even where column numbers changed.
 */
Datum
counterfield_catalog_resolve(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	Datum	   *values;
	bool	   *nulls;
	bool	   *replace;
	Relation	parent;
	Relation	child;
	AttrNumber	counter_attnum = InvalidAttrNumber;
	AttrNumber	attnums[INDEX_MAX_KEYS];
	int			nfk = 0;
	int			attno;
	bool		through;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE INSERT FOR EACH ROW",
						"counterfield_catalog_resolve")));
	if (RelationGetRelid(trigdata->tg_relation) != cf_catalog_relid(true))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired on counterfield.counter",
						"counterfield_catalog_resolve")));

	desc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;
	values = palloc0(sizeof(Datum) * desc->natts);
	nulls = palloc0(sizeof(bool) * desc->natts);
	replace = palloc0(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, values, nulls);

#define COLUMN(name) (catalog_attno(desc, (name)) - 1)
	if (nulls[COLUMN("parent")] || nulls[COLUMN("child")])
		return PointerGetDatum(tuple);	/* the NOT NULL constraints refuse it */

	/*
	 * A row whose table is gone (a temporary table's, from a version that
	 * took them) is left out, so that it cannot stop a restore from loading
	 * every other counter.
	 */
	for (int i = 0; i < 2; i++)
	{
		Oid			relid = DatumGetObjectId(values[COLUMN(i == 0 ? "parent" : "child")]);

		if (get_rel_name(relid) != NULL)
			continue;
		ereport(WARNING,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("counter left out because its table with OID %u no longer exists",
						relid)));
		return PointerGetDatum(NULL);
	}
	parent = table_open(DatumGetObjectId(values[COLUMN("parent")]), AccessShareLock);
	child = DatumGetObjectId(values[COLUMN("child")]) == RelationGetRelid(parent) ? parent :
		table_open(DatumGetObjectId(values[COLUMN("child")]), AccessShareLock);

	/* Column names, where given, win over the numbers they were saved with. */
	if (!nulls[COLUMN("counter_column")])
	{
		counter_attnum = cf_column_attnum(RelationGetRelid(parent),
										  NameStr(*DatumGetName(values[COLUMN("counter_column")])));
		values[COLUMN("counter_attnum")] = Int16GetDatum(counter_attnum);
		nulls[COLUMN("counter_attnum")] = false;
		replace[COLUMN("counter_attnum")] = true;
	}
	if (!nulls[COLUMN("fk_columns")])
	{
		nfk = cf_names_to_attnums(child, DatumGetArrayTypeP(values[COLUMN("fk_columns")]),
								  "fk_columns", attnums);
		values[COLUMN("fk_attnums")] = cf_attnums_array(attnums, nfk);
		nulls[COLUMN("fk_attnums")] = false;
		replace[COLUMN("fk_attnums")] = true;
	}
	/* With through, the child's key and the parent's are those of two hops. */
	through = SPI_fnumber(desc, "through") > 0 && !nulls[COLUMN("through")];
	if (!nulls[COLUMN("parent_columns")])
	{
		if (cf_names_to_attnums(parent, DatumGetArrayTypeP(values[COLUMN("parent_columns")]),
								"parent_columns", attnums) != nfk && !through)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("fk_columns and parent_columns must name the same number of columns")));
		values[COLUMN("parent_attnums")] =
			cf_attnums_array(attnums,
							 cf_names_to_attnums(parent,
												 DatumGetArrayTypeP(values[COLUMN("parent_columns")]),
												 "parent_columns", attnums));
		nulls[COLUMN("parent_attnums")] = false;
		replace[COLUMN("parent_attnums")] = true;
	}
	/* A sum column is named only in 0.7 and later. */
	if (SPI_fnumber(desc, "sum_column") > 0 && !nulls[COLUMN("sum_column")])
	{
		values[COLUMN("sum_attnum")] =
			Int16GetDatum(cf_column_attnum(RelationGetRelid(child),
										   NameStr(*DatumGetName(values[COLUMN("sum_column")]))));
		nulls[COLUMN("sum_attnum")] = false;
		replace[COLUMN("sum_attnum")] = true;
	}
	/* The hops' foreign keys, by name on their tables. */
	if (through && !nulls[COLUMN("through_fks")])
	{
		Datum	   *tables;
		Datum	   *names;
		Datum		oids[INDEX_MAX_KEYS + 1];
		bool	   *elem_nulls;
		int			ntables;
		int			nnames;

		deconstruct_array(DatumGetArrayTypeP(values[COLUMN("through")]), OIDOID, sizeof(Oid),
						  true, TYPALIGN_INT, &tables, &elem_nulls, &ntables);
		deconstruct_array(DatumGetArrayTypeP(values[COLUMN("through_fks")]), NAMEOID,
						  NAMEDATALEN, false, TYPALIGN_CHAR, &names, &elem_nulls, &nnames);
		if (nnames != ntables + 1 || ntables > INDEX_MAX_KEYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("through_fks must name one foreign key more than through names tables")));

		/*
		 * A restore loads the catalog before it creates foreign keys: those
		 * not there yet are resolved when they are (resolve_pending_hops).
		 */
		for (int h = 0; h < nnames; h++)
			oids[h] = ObjectIdGetDatum(get_relation_constraint_oid(h == 0 ? RelationGetRelid(child) :
																   DatumGetObjectId(tables[h - 1]),
																   NameStr(*DatumGetName(names[h])),
																   true));
		values[COLUMN("through_fk_oids")] =
			PointerGetDatum(construct_array(oids, nnames, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
		nulls[COLUMN("through_fk_oids")] = false;
		replace[COLUMN("through_fk_oids")] = true;
	}
	/* The tree is always built here, never taken from the row. */
	replace[COLUMN("condition")] = true;
	nulls[COLUMN("condition")] = nulls[COLUMN("condition_sql")];
	if (!nulls[COLUMN("condition_sql")])
	{
		Node	   *expr;

		expr = cf_parse_stored_condition(child, child == parent ? counter_attnum : InvalidAttrNumber,
										 TextDatumGetCString(values[COLUMN("condition_sql")]));
		values[COLUMN("condition")] = CStringGetTextDatum(nodeToString(expr));
	}
	attno = COLUMN("condition_system");
	values[attno] = Int64GetDatum((int64) GetSystemIdentifier());
	nulls[attno] = false;
	replace[attno] = true;
#undef COLUMN

	if (child != parent)
		table_close(child, NoLock);
	table_close(parent, NoLock);
	return PointerGetDatum(heap_modify_tuple(tuple, desc, values, nulls, replace));
}

/*
 * The OIDs of the hops' foreign keys of a row of cf_catalog_query(), as they
 * are now: a stored OID whose key is gone is replaced by that of the key of
 * the same name on the same table (ALTER COLUMN ... TYPE rebuilds a key so),
 * and a 0 that a restore left by the key's OID once it exists.  Sets
 * *changed if any differs from the stored ones.  Returns false if the row
 * has no through, or a key is gone for good (dropped); a key a restore has
 * yet to create stays 0.
 */
static bool
current_hop_keys(HeapTuple tuple, TupleDesc desc, Datum *oids, int *n, bool *changed)
{
	bool		isnull;
	Datum		through = SPI_getbinval(tuple, desc, CF_COL_THROUGH, &isnull);
	Datum		fks;
	Datum		names_datum;
	Datum	   *tables;
	Datum	   *stored;
	Datum	   *names;
	bool	   *nulls;
	int			ntables;
	int			nnames;
	Oid			child = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_CHILD, &isnull));

	*changed = false;
	through = SPI_getbinval(tuple, desc, CF_COL_THROUGH, &isnull);
	if (isnull)
		return false;
	fks = SPI_getbinval(tuple, desc, CF_COL_THROUGH_FK_OIDS, &isnull);
	if (isnull)
		return false;
	names_datum = SPI_getbinval(tuple, desc, CF_COL_THROUGH_FKS, &isnull);
	if (isnull)
		return false;
	deconstruct_array(DatumGetArrayTypeP(through), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &tables, &nulls, &ntables);
	deconstruct_array(DatumGetArrayTypeP(fks), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &stored, &nulls, n);
	deconstruct_array(DatumGetArrayTypeP(names_datum), NAMEOID, NAMEDATALEN, false,
					  TYPALIGN_CHAR, &names, &nulls, &nnames);
	if (*n != ntables + 1 || nnames != *n || *n > INDEX_MAX_KEYS + 1)
		return false;
	for (int h = 0; h < *n; h++)
	{
		Oid			oid = DatumGetObjectId(stored[h]);
		Oid			lower = h == 0 ? child : DatumGetObjectId(tables[h - 1]);
		Oid			found;

		oids[h] = stored[h];
		if (OidIsValid(oid) && SearchSysCacheExists1(CONSTROID, stored[h]))
			continue;
		found = get_relation_constraint_oid(lower, NameStr(*DatumGetName(names[h])), true);
		if (!OidIsValid(found) && OidIsValid(oid))
			return false;		/* dropped */
		if (OidIsValid(found))
		{
			oids[h] = ObjectIdGetDatum(found);
			*changed = true;
		}
	}
	return true;
}

/* The intermediate tables of a row of cf_catalog_query(), if any. */
static List *
through_tables(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		through = SPI_getbinval(tuple, desc, CF_COL_THROUGH, &isnull);

	return isnull ? NIL : cf_oid_list(through);
}

/*
 * Are the tables, every column, every function and every foreign key (of
 * a counter with through) that a catalog row names still there?
 */
static bool
counter_intact(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Oid			child = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_CHILD, &isnull));
	Datum		condition;
	Datum		oids[INDEX_MAX_KEYS + 1];
	int			n;
	bool		changed;

	if (!cf_counter_columns_exist(tuple, desc))
		return false;

	/* With through: the hops' foreign keys, and so their tables */
	(void) SPI_getbinval(tuple, desc, CF_COL_THROUGH, &isnull);
	if (!isnull && !current_hop_keys(tuple, desc, oids, &n, &changed))
		return false;

	/*
	 * A tree from another cluster was rebuilt at ddl_command_start if it
	 * could be.
	 */
	condition = SPI_getbinval(tuple, desc, CF_COL_CONDITION, &isnull);
	if (!isnull && !cf_condition_is_foreign(tuple, desc))
	{
		Node	   *expr = stringToNode(TextDatumGetCString(condition));
		Bitmapset  *attnos = NULL;
		int			attno = -1;

		if (cf_calls_missing_function(expr, NULL))
			return false;
		pull_varattnos(expr, 1, &attnos);
		while ((attno = bms_next_member(attnos, attno)) >= 0)
			if (attno + FirstLowInvalidHeapAttributeNumber > 0 &&
				!cf_column_exists(child, attno + FirstLowInvalidHeapAttributeNumber))
				return false;
	}
	return true;
}

/* Writes the portable definition and the tree of one counter if they changed. */
static void
store_definition(HeapTuple tuple, TupleDesc desc, Node *condition)
{
	bool		isnull;
	Oid			parent = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_PARENT, &isnull));
	Oid			child = DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_CHILD, &isnull));
	AttrNumber	counter_attnum;
	AttrNumber	fk[INDEX_MAX_KEYS];
	AttrNumber	pk[INDEX_MAX_KEYS];
	int			n;
	Oid			types[9] = {INT4OID, NAMEOID, NAMEARRAYOID, NAMEARRAYOID, TEXTOID, TEXTOID, INT8OID,
	NAMEOID, NAMEARRAYOID};
	Datum		values[9];
	char		nulls[9] = "         ";
	char	   *old[8];
	char	   *new[8];
	bool		fks_null;
	Datum		fks = SPI_getbinval(tuple, desc, CF_COL_THROUGH_FK_OIDS, &fks_null);
	bool		changed = false;
	bool		sum_null;
	Datum		sum_attnum = SPI_getbinval(tuple, desc, CF_COL_SUM_ATTNUM, &sum_null);
	bool		sums = cf_catalog_has_sums(cf_catalog_relid(false));

	n = cf_read_attnums(SPI_getbinval(tuple, desc, CF_COL_FK_ATTNUMS, &isnull), fk);
	cf_read_attnums(SPI_getbinval(tuple, desc, CF_COL_PARENT_ATTNUMS, &isnull), pk);
	counter_attnum = DatumGetInt16(SPI_getbinval(tuple, desc, CF_COL_COUNTER_ATTNUM, &isnull));
	values[0] = SPI_getbinval(tuple, desc, CF_COL_ID, &isnull);
	values[1] = DirectFunctionCall1(namein,
									CStringGetDatum(get_attname(parent, counter_attnum, false)));
	values[2] = cf_attnames_array(child, fk, n);
	values[3] = cf_attnames_array(parent, pk, n);
	if (condition != NULL)
	{
		values[4] = CStringGetTextDatum(cf_deparse_condition(condition, child));
		values[5] = CStringGetTextDatum(nodeToString(condition));
	}
	nulls[4] = nulls[5] = condition ? ' ' : 'n';
	values[6] = Int64GetDatum((int64) GetSystemIdentifier());
	nulls[7] = sum_null ? 'n' : ' ';
	if (!sum_null)
		values[7] = DirectFunctionCall1(namein,
										CStringGetDatum(get_attname(child, DatumGetInt16(sum_attnum),
																	false)));

	old[0] = SPI_getvalue(tuple, desc, CF_COL_COUNTER_COLUMN);
	old[1] = SPI_getvalue(tuple, desc, CF_COL_FK_COLUMNS);
	old[2] = SPI_getvalue(tuple, desc, CF_COL_PARENT_COLUMNS);
	old[3] = SPI_getvalue(tuple, desc, CF_COL_CONDITION_SQL);
	old[4] = SPI_getvalue(tuple, desc, CF_COL_CONDITION);
	old[5] = SPI_getvalue(tuple, desc, CF_COL_CONDITION_SYSTEM);
	new[0] = NameStr(*DatumGetName(values[1]));
	new[1] = OidOutputFunctionCall(F_ARRAY_OUT, values[2]);
	new[2] = OidOutputFunctionCall(F_ARRAY_OUT, values[3]);
	new[3] = condition ? TextDatumGetCString(values[4]) : NULL;
	new[4] = condition ? TextDatumGetCString(values[5]) : NULL;
	new[5] = OidOutputFunctionCall(F_INT8OUT, values[6]);
	old[6] = sums ? SPI_getvalue(tuple, desc, CF_COL_SUM_COLUMN) : NULL;
	new[6] = sums && nulls[7] == ' ' ? NameStr(*DatumGetName(values[7])) : NULL;

	/*
	 * The names of the hops' foreign keys, which ALTER ... RENAME CONSTRAINT
	 * changes
	 */
	nulls[8] = fks_null ? 'n' : ' ';
	if (!fks_null)
	{
		Datum	   *elems;
		bool	   *elem_nulls;
		int			n;

		Datum	   *names;
		int			nnames;
		bool		names_null;
		Datum		stored = SPI_getbinval(tuple, desc, CF_COL_THROUGH_FKS, &names_null);

		deconstruct_array(DatumGetArrayTypeP(fks), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
						  &elems, &elem_nulls, &n);
		deconstruct_array(DatumGetArrayTypeP(stored), NAMEOID, NAMEDATALEN, false,
						  TYPALIGN_CHAR, &names, &elem_nulls, &nnames);

		/*
		 * A foreign key not there yet, or rebuilt under another OID (see
		 * resolve_pending_hops), keeps its name.
		 */
		for (int i = 0; i < n && i < nnames; i++)
		{
			char	   *name = (OidIsValid(DatumGetObjectId(elems[i])) ?
								get_constraint_name(DatumGetObjectId(elems[i])) : NULL);

			elems[i] = name ? DirectFunctionCall1(namein, CStringGetDatum(name)) : names[i];
		}
		n = Min(n, nnames);
		values[8] = PointerGetDatum(construct_array(elems, n, NAMEOID, NAMEDATALEN, false,
													TYPALIGN_CHAR));
	}
	old[7] = sums ? SPI_getvalue(tuple, desc, CF_COL_THROUGH_FKS) : NULL;
	new[7] = fks_null ? NULL : OidOutputFunctionCall(F_ARRAY_OUT, values[8]);
	for (int i = 0; i < (int) lengthof(old); i++)
		changed |= (old[i] == NULL) != (new[i] == NULL) ||
			(old[i] != NULL && strcmp(old[i], new[i]) != 0);
	if (!changed)
		return;

	cf_catalog_write(sums ?
					 "UPDATE counterfield.counter SET counter_column = $2, fk_columns = $3,"
					 " parent_columns = $4, condition_sql = $5, condition = $6,"
					 " condition_system = $7, sum_column = $8, through_fks = $9"
					 " WHERE id OPERATOR(pg_catalog.=) $1" :
					 "UPDATE counterfield.counter SET counter_column = $2, fk_columns = $3,"
					 " parent_columns = $4, condition_sql = $5, condition = $6,"
					 " condition_system = $7 WHERE id OPERATOR(pg_catalog.=) $1",
					 sums ? 9 : 7, types, values, nulls, SPI_OK_UPDATE);
}

/*
 * Brings every catalog row up to date, or those of the tables in only
 * (renamed_tables): trees from another cluster are rebuilt from their SQL,
 * and names and SQL are rendered again from the numbers and trees.  Rows
 * of tables or columns that are gone are left to sql_drop; a condition
 * that cannot be rebuilt is left as it is.  renamed_table: the command
 * renamed a table or moved it to another schema.
 */
static void
refresh_catalog(Oid catalog, bool renamed_table, List *only)
{
	CatalogScan scan;
	List	   *tables = NIL;
	ListCell   *lc;

	cf_catalog_scan(&scan, catalog, false);
	while (cf_catalog_next(&scan))
	{
		bool		isnull;
		Node	   *condition = NULL;
		List	   *through;

		if (!counter_intact(scan.tuple, scan.desc))
			continue;
		through = through_tables(scan.tuple, scan.desc);
		if (only != NIL && !list_member_oid(only, cf_row_oid(&scan, CF_COL_PARENT)) &&
			!list_member_oid(only, cf_row_oid(&scan, CF_COL_CHILD)) &&
			list_length(list_difference_oid(through, only)) == list_length(through))
			continue;			/* no table of it was renamed */
		tables = list_append_unique_oid(tables, cf_row_oid(&scan, CF_COL_PARENT));
		tables = list_append_unique_oid(tables, cf_row_oid(&scan, CF_COL_CHILD));
		(void) SPI_getbinval(scan.tuple, scan.desc, CF_COL_CONDITION, &isnull);
		if (!isnull && cf_condition_is_foreign(scan.tuple, scan.desc))
		{
			condition = cf_try_parse_stored_condition(cf_row_oid(&scan, CF_COL_CHILD),
													  SPI_getvalue(scan.tuple, scan.desc,
																   CF_COL_CONDITION_SQL));
			if (condition == NULL)
				continue;
		}
		else if (!isnull)
			condition = cf_catalog_condition(scan.tuple, scan.desc);
		store_definition(scan.tuple, scan.desc, condition);
	}

	/*
	 * The triggers of a distributed table of Citus carry its counters'
	 * definitions by name, for the shards (citus.c).  Citus passes a table's
	 * new name on to the other nodes after this, and the triggers by that
	 * name at commit.
	 */
	foreach(lc, tables)
	{
		if (!cf_citus_distributed(lfirst_oid(lc)))
			continue;
		if (renamed_table)
			cf_citus_sync_at_commit(lfirst_oid(lc));
		else
			cf_sync_table_triggers(lfirst_oid(lc));
	}
}

/*
 * The tables, with those under them, whose names or whose columns' and
 * constraints' names a rename changes; NIL for a rename of anything else
 * (a type or a function that a condition uses, say).  Only the counters of
 * those tables are brought up to date: Citus renames the columns of the
 * shards of one node in parallel, and a condition read again for a shard
 * waits for the other shards' renames (refresh_catalog).
 */
static List *
renamed_tables(Node *parsetree)
{
	RangeVar   *relation = NULL;
	Oid			relid;

	/* The command has run: a renamed or moved table goes by its new name. */
	if (IsA(parsetree, RenameStmt) &&
		(((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN ||
		 ((RenameStmt *) parsetree)->renameType == OBJECT_TABCONSTRAINT))
		relation = ((RenameStmt *) parsetree)->relation;
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_TABLE &&
			 ((RenameStmt *) parsetree)->relation != NULL)
		relation = makeRangeVar(((RenameStmt *) parsetree)->relation->schemaname,
								((RenameStmt *) parsetree)->newname, -1);
	else if (IsA(parsetree, AlterObjectSchemaStmt) &&
			 ((AlterObjectSchemaStmt *) parsetree)->objectType == OBJECT_TABLE &&
			 ((AlterObjectSchemaStmt *) parsetree)->relation != NULL)
		relation = makeRangeVar(((AlterObjectSchemaStmt *) parsetree)->newschema,
								((AlterObjectSchemaStmt *) parsetree)->relation->relname, -1);
	relid = relation ? RangeVarGetRelid(relation, NoLock, true) : InvalidOid;
	return OidIsValid(relid) ? find_all_inheritors(relid, NoLock, NULL) : NIL;
}

/* Can this command change a name that a counter's definition spells out? */
static bool
renames_objects(Node *parsetree)
{
	return IsA(parsetree, RenameStmt) || IsA(parsetree, AlterObjectSchemaStmt) ||
		IsA(parsetree, AlterEnumStmt);
}

/*
 * Can this command change the type or the meaning of a key column, or drop
 * what pending deltas refer to?
 */
static bool
changes_values(Node *parsetree)
{
	return IsA(parsetree, AlterTableStmt) || IsA(parsetree, AlterDomainStmt) ||
		IsA(parsetree, DropStmt) || IsA(parsetree, AlterTypeStmt);
}

/*
 * Before DDL that drops deferred counters with their tables or columns, by
 * name, their deltas are folded, so that their columns keep their exact
 * values: DROP TABLE and ALTER TABLE ... DROP COLUMN (of a column the
 * counter uses) of a parent or child that the caller owns, DROP EXTENSION
 * counterfield by its owner.  The table (the ledger, for DROP EXTENSION)
 * is locked first as the command will lock it, so that writers still
 * running commit their deltas before the fold.  Before ALTER TYPE ...
 * RENAME VALUE of an enum by its owner, the counters with keys of that
 * type are folded too: their keys are kept as text, which the old name
 * would no longer read.  A counter that cannot be folded is reported, and
 * the command goes on.  Counters dropped by a cascade from other objects
 * (a schema, a type, a function, a table they inherit from, DROP OWNED)
 * lose their unfolded deltas.
 */
static void
fold_before_ddl(Node *parsetree)
{
	List	   *relids = NIL;
	List	   *attnums = NIL;
	Oid			type = InvalidOid;
	bool		all = false;
	ListCell   *lc;

	if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_TABLE)
	{
		foreach(lc, ((DropStmt *) parsetree)->objects)
		{
			RangeVar   *rv = makeRangeVarFromNameList(castNode(List, lfirst(lc)));
			Oid			relid = RangeVarGetRelid(rv, NoLock, true);

			if (OidIsValid(relid) && cf_owns_relation(relid))
			{
				relids = lappend_oid(relids, relid);
				attnums = lappend_int(attnums, InvalidAttrNumber);
			}
		}
	}
	else if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_EXTENSION)
	{
		Oid			extension = get_extension_oid("counterfield", true);
		bool		owner = OidIsValid(extension) && cf_owns_object(ExtensionRelationId, extension);

		foreach(lc, ((DropStmt *) parsetree)->objects)
		{
			if (strcmp(strVal(lfirst(lc)), "counterfield") == 0 && owner)
				all = true;
		}
		if (all && OidIsValid(cf_ledger_relid()))
			LockRelationOid(cf_ledger_relid(), AccessExclusiveLock);
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = castNode(AlterTableCmd, lfirst(lc));
			AttrNumber	attnum;

			if (cmd->subtype != AT_DropColumn || !OidIsValid(relid) || cmd->name == NULL ||
				!cf_owns_relation(relid))
				continue;
			attnum = get_attnum(relid, cmd->name);
			if (attnum != InvalidAttrNumber)
			{
				relids = lappend_oid(relids, relid);
				attnums = lappend_int(attnums, attnum);
			}
		}
	}
	else if (IsA(parsetree, AlterEnumStmt) && ((AlterEnumStmt *) parsetree)->oldVal != NULL)
	{
		TypeName   *name = makeTypeNameFromNameList(((AlterEnumStmt *) parsetree)->typeName);

		type = LookupTypeNameOid(NULL, name, true);
		if (OidIsValid(type) &&
#if PG_VERSION_NUM >= 160000
			!object_ownercheck(TypeRelationId, type, GetUserId())
#else
			!pg_type_ownercheck(type, GetUserId())
#endif
			)
			type = InvalidOid;
	}
	if (all || relids != NIL || OidIsValid(type))
		cf_fold_before_ddl(relids, attnums, type, all);
}

/*
 * The tables under counted children that a command may move into or out of
 * a counted child's tree, each with the child it was under when the command
 * started (or InvalidOid), kept in TopMemoryContext from ddl_command_start
 * to ddl_command_end of that command.
 */
typedef struct LeafRoot
{
	Oid			relid;
	Oid			root;
} LeafRoot;

static TxArray noted = {.entrysize = sizeof(LeafRoot)};

/*
 * An ALTER TABLE between its ddl_command_start and ddl_command_end: the
 * tables it noted are those of noted from start on.  Another ALTER TABLE
 * may run inside it (in a USING expression, or in a trigger of a recount),
 * so they nest; the frame of one that failed, in a subtransaction that was
 * rolled back, is dropped with its tables when it is found.
 */
typedef struct NoteFrame
{
	int			start;
	SubTransactionId subid;
} NoteFrame;

static TxArray note_frames = {.entrysize = sizeof(NoteFrame)};

/*
 * The tables under counted children as a drop found them at its start:
 * those that are gone by sql_drop, and whose rows the drop did not count
 * itself, make their child's counters be recomputed.
 */
static TxArray under_root = {.entrysize = sizeof(LeafRoot)};

/*
 * Is counterfield running DDL of its own (creating or dropping its
 * triggers)?  The event trigger leaves such commands alone: they move no
 * table, and must not disturb the lists above.
 */
static bool own_ddl = false;

/* Syncs the triggers of a table (and, with tree, of the tables under it). */
static void
sync_own(Oid relid, bool tree)
{
	bool		previous = own_ddl;

	own_ddl = true;
	PG_TRY();
	{
		if (tree)
			cf_sync_triggers(relid);
		else
			cf_sync_table_triggers(relid);
	}
	PG_FINALLY();
	{
		own_ddl = previous;
	}
	PG_END_TRY();
}

/*
 * The rows of a table are now counted under root: so the commands that the
 * one whose tables are noted from start on ran inside find them.
 */
static void
note_counted(Oid relid, Oid root, int start)
{
	int			n;
	LeafRoot   *leaves = cf_tx_entries(&noted, &n);

	for (int i = 0; i < Min(start, n); i++)
		if (leaves[i].relid == relid)
			leaves[i].root = root;
}

/*
 * The innermost ALTER TABLE that has started and not ended, or NULL; the
 * frames of those that failed are dropped first, with their tables.
 */
static NoteFrame *
live_frame(void)
{
	int			n;
	int			nnoted;
	NoteFrame  *frames = cf_tx_entries(&note_frames, &n);

	(void) cf_tx_entries(&noted, &nnoted);
	while (n > 0 && !cf_subxact_is_live(frames[n - 1].subid))
	{
		noted.n = Min(noted.n, frames[n - 1].start);
		n--;
	}
	note_frames.n = n;
	return n > 0 ? &frames[n - 1] : NULL;
}

/*
 * Notes every table of the tree under relid (relid too) with the counted
 * child its rows are counted under, once per command however many
 * subcommands name it: the command's tables are those of noted from start
 * on.  That child is the one the table is under now, unless a command that
 * this one runs inside noted the table and has not ended: its move is not
 * counted yet, and the counters still have the table where that command
 * found it.
 */
static void
note_tree(Oid relid, int start)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		int			n;
		LeafRoot   *leaves = cf_tx_entries(&noted, &n);
		int			i = n - 1;
		Oid			root;
		LeafRoot   *leaf;

		/* The latest note of the table: this command's, or an enclosing one's */
		while (i >= 0 && leaves[i].relid != lfirst_oid(lc))
			i--;
		if (i >= start)
			continue;
		root = i >= 0 ? leaves[i].root : cf_counted_root(lfirst_oid(lc));
		leaf = cf_tx_append(&noted);
		leaf->relid = lfirst_oid(lc);
		leaf->root = root;
	}
}

/*
 * Applies, with the given sign, the rows of one table to the counters of the
 * counted child root.  A ShareLock keeps writers out while the rows are
 * read; the command itself usually holds a stronger lock already.
 */
static void
count_rows_of(Oid root, Oid relid, int64 sign)
{
	CounterDefs *defs;

	if (!OidIsValid(root) || get_rel_name(relid) == NULL)
		return;
	LockRelationOid(relid, ShareLock);
	defs = cf_defs_acquire();
	cf_count_table_rows(defs, cf_defs_for_rel(defs, root), relid, sign);
	cf_defs_release();
}

/* The table a subcommand of ALTER TABLE moves in or out of a tree, if any. */
static Oid
moved_table(Oid relid, AlterTableCmd *cmd)
{
	switch (cmd->subtype)
	{
		case AT_AttachPartition:
		case AT_DetachPartition:
			return RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
		case AT_AddInherit:
		case AT_DropInherit:
			return relid;
		default:
			return InvalidOid;
	}
}

/* Gives the tables a CREATE statement made the child triggers they need. */
static void
sync_created(Node *stmt)
{
	RangeVar   *name = NULL;
	Oid			relid;

	if (IsA(stmt, CreateStmt))
		name = ((CreateStmt *) stmt)->relation;
	else if (IsA(stmt, CreateForeignTableStmt))
		name = ((CreateForeignTableStmt *) stmt)->base.relation;
	relid = name ? RangeVarGetRelid(name, NoLock, true) : InvalidOid;
	if (OidIsValid(relid) && OidIsValid(cf_counted_root(relid)))
	{
		sync_own(relid, true);
		CacheInvalidateRelcacheByRelid(cf_counted_root(relid));
	}
}

/* Can this command drop tables (by name, or by cascade)? */
static bool
drops_tables(Node *parsetree)
{
	if (IsA(parsetree, DropOwnedStmt))
		return true;
	if (!IsA(parsetree, DropStmt))
		return false;
	switch (((DropStmt *) parsetree)->removeType)
	{
		case OBJECT_TABLE:
		case OBJECT_SCHEMA:
		case OBJECT_TYPE:
		case OBJECT_EXTENSION:
			return true;
		default:
			return false;
	}
}

/*
 * Keeps the rows of partitions and inheritance children counted through
 * DDL.  A table created under a counted child gets the child triggers (a
 * foreign one is refused).  For ATTACH and DETACH PARTITION, INHERIT and NO
 * INHERIT, every table of the tree moved is noted at the start with the
 * counted child it is under, and compared at the end: a table that left a
 * counted child takes its rows from its counts, one that joined one adds
 * them, and triggers follow.  A table dropped by name loses its rows at the
 * start, while it has them, after the ownership check that DROP itself
 * makes, so that no other role can make counterfield read or lock it.
 * Tables under counted children that a drop removes otherwise (DROP SCHEMA
 * ... CASCADE, DROP OWNED) are noted at the start; sql_drop recomputes the
 * counters they fed.
 */
static void
track_descendants(Node *parsetree, bool at_end)
{
	NoteFrame  *frame;

	if (!at_end && (drops_tables(parsetree)))
	{
		CounterDefs *defs = cf_defs_acquire();
		HASH_SEQ_STATUS status;
		RelCounters *rc;
		List	   *counted = NIL;

		/*
		 * Tables dropped by name are counted here, each once, and not when
		 * the counted child they are under goes too.  Locks are taken as DROP
		 * takes them: a partition's parent first.
		 */
		if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_TABLE)
		{
			List	   *dropped = NIL;
			ListCell   *lc;

			foreach(lc, ((DropStmt *) parsetree)->objects)
			{
				Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(lfirst(lc)),
													 NoLock, true);

				if (!OidIsValid(relid) || !cf_owns_relation(relid))
					continue;
				if (get_rel_relispartition(relid))
					LockRelationOid(CF_PARTITION_PARENT(relid), AccessExclusiveLock);
				LockRelationOid(relid, AccessExclusiveLock);
				dropped = list_concat_unique_oid(dropped,
												 find_all_inheritors(relid, AccessExclusiveLock,
																	 NULL));
			}
			foreach(lc, dropped)
			{
				Oid			table = lfirst_oid(lc);
				Oid			root = cf_counted_root(table);

				if (!OidIsValid(root) || list_member_oid(dropped, root))
					continue;
				counted = lappend_oid(counted, table);
				count_rows_of(root, table, -1);
			}
		}

		cf_tx_clear(&under_root);
		hash_seq_init(&status, defs->by_rel);
		while ((rc = hash_seq_search(&status)) != NULL)
			if (OidIsValid(rc->root) && rc->root != rc->relid &&
				!list_member_oid(counted, rc->relid))
			{
				LeafRoot   *leaf = cf_tx_append(&under_root);

				leaf->relid = rc->relid;
				leaf->root = rc->root;
			}
		cf_defs_release();
	}
	else if (!at_end && IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		int			start;
		ListCell   *lc;

		(void) live_frame();
		start = noted.n;
		frame = cf_tx_append(&note_frames);
		frame->start = start;
		frame->subid = GetCurrentSubTransactionId();
		foreach(lc, stmt->cmds)
		{
			Oid			table = OidIsValid(relid) ? moved_table(relid, lfirst(lc)) : InvalidOid;

			if (OidIsValid(table))
				note_tree(table, start);
		}
	}
	else if (at_end && IsA(parsetree, AlterTableStmt) && (frame = live_frame()) != NULL)
	{
		int			start = frame->start;
		int			n;
		LeafRoot   *entries = cf_tx_entries(&noted, &n);
		LeafRoot   *leaves = palloc(sizeof(LeafRoot) * Max(n - start, 1));

		/* A copy: the recounts below may run user code, and DDL in it. */
		if (n > start)
			memcpy(leaves, entries + start, sizeof(LeafRoot) * (n - start));
		n -= start;
		noted.n = start;
		note_frames.n--;
		for (int i = 0; i < n; i++)
		{
			Oid			relid = leaves[i].relid;
			Oid			before = leaves[i].root;
			Oid			after = get_rel_name(relid) ? cf_counted_root(relid) : InvalidOid;

			if (before == after)
				continue;
			note_counted(relid, after, start);
			sync_own(relid, false);
			CommandCounterIncrement();
			if (OidIsValid(before))
			{
				CacheInvalidateRelcacheByRelid(before);
				count_rows_of(before, relid, -1);
			}
			if (OidIsValid(after))
			{
				CacheInvalidateRelcacheByRelid(after);
				CommandCounterIncrement();
				count_rows_of(after, relid, 1);
			}
		}
	}
	else if (at_end && (IsA(parsetree, CreateStmt) || IsA(parsetree, CreateForeignTableStmt)))
		sync_created(parsetree);
	else if (at_end && IsA(parsetree, CreateSchemaStmt))
	{
		ListCell   *lc;

		foreach(lc, ((CreateSchemaStmt *) parsetree)->schemaElts)
			sync_created(lfirst(lc));
	}
}

/*
 * At sql_drop: the counters of children that lost tables by a drop that did
 * not count their rows are recomputed from the rows that are left.
 */
static void
recount_lost_tables(void)
{
	List	   *roots = NIL;
	ListCell   *lc;
	int			n;
	LeafRoot   *leaves = cf_tx_entries(&under_root, &n);

	for (int i = 0; i < n; i++)
		if (get_rel_name(leaves[i].relid) == NULL && get_rel_name(leaves[i].root) != NULL)
			roots = list_append_unique_oid(roots, leaves[i].root);
	under_root.n = 0;
	if (roots == NIL)
		return;
	foreach(lc, roots)
	{
		CounterDefs *defs;
		RelCounters *rc;
		ListCell   *dc;

		/* Writers are kept out of the tree while it is counted again. */
		LockRelationOid(lfirst_oid(lc), ShareLock);
		(void) find_all_inheritors(lfirst_oid(lc), ShareLock, NULL);
		defs = cf_defs_acquire();
		rc = cf_defs_for_rel(defs, lfirst_oid(lc));
		foreach(dc, rc ? rc->as_child : NIL)
			cf_reinit_counter(lfirst(dc));
		cf_defs_release();
	}
}

/* Is attnum one of the n attribute numbers? */
static bool
attnum_among(AttrNumber attnum, int n, const AttrNumber *attnums)
{
	for (int i = 0; i < n; i++)
		if (attnums[i] == attnum)
			return true;
	return false;
}

/*
 * The tables whose columns an ALTER COLUMN ... TYPE (or ALTER TYPE ... ALTER
 * ATTRIBUTE ... CASCADE) on relid changed: relid and the tables under it,
 * or, for a composite type, the tables of that type and the tables under
 * them.
 */
static List *
retyped_tables(Oid relid)
{
	List	   *tables = find_all_inheritors(relid, NoLock, NULL);
	List	   *typed = NIL;
	Oid			types[1] = {OIDOID};
	Datum		values[1];
	ListCell   *lc;

	if (get_rel_relkind(relid) != RELKIND_COMPOSITE_TYPE)
		return tables;
	values[0] = ObjectIdGetDatum(get_rel_type_id(relid));
	cf_spi_run("SELECT oid FROM pg_catalog.pg_class WHERE reloftype OPERATOR(pg_catalog.=) $1",
			   1, types, values, NULL, true, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;

		typed = lappend_oid(typed, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[row],
																  SPI_tuptable->tupdesc, 1,
																  &isnull)));
	}
	foreach(lc, typed)
		tables = list_concat_unique_oid(tables, find_all_inheritors(lfirst_oid(lc), NoLock, NULL));
	return tables;
}

/*
 * Refuses ALTER COLUMN ... TYPE that gives a counter column a type that
 * cannot hold its count or sum, or a sum column a type that cannot be
 * summed into its counter column; the whole command then rolls back.
 */
static void
refuse_retyped_counters(List *tables, List *retyped)
{
	CatalogScan scan;

	cf_catalog_scan(&scan, InvalidOid, true);
	while (cf_catalog_next(&scan))
	{
		Oid			parent = cf_row_oid(&scan, CF_COL_PARENT);
		Oid			child = cf_row_oid(&scan, CF_COL_CHILD);
		AttrNumber	counter_attnum = cf_row_attnum(&scan, CF_COL_COUNTER_ATTNUM);
		AttrNumber	sum_attnum = cf_row_attnum(&scan, CF_COL_SUM_ATTNUM);
		bool		due = false;
		ListCell   *lc;

		if (!cf_counter_columns_exist(scan.tuple, scan.desc))
			continue;
		foreach(lc, retyped)
		{
			due |= list_member_oid(tables, parent) &&
				get_attnum(parent, lfirst(lc)) == counter_attnum;
			due |= sum_attnum != InvalidAttrNumber && list_member_oid(tables, child) &&
				get_attnum(child, lfirst(lc)) == sum_attnum;
		}
		if (due && sum_attnum == InvalidAttrNumber &&
			!CF_COUNTER_TYPE(get_atttype(parent, counter_attnum)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change the type of counter column \"%s\" of table \"%s\" to %s",
							get_attname(parent, counter_attnum, false), get_rel_name(parent),
							format_type_be(get_atttype(parent, counter_attnum))),
					 errdetail("A counter column must be of type smallint, integer or bigint."),
					 errhint("Drop the counter with counterfield.drop_counter first.")));
		if (due)
			cf_check_counter_types(parent, counter_attnum, child, sum_attnum, ERROR);
	}
}

/*
 * After ALTER COLUMN ... TYPE, which may rewrite the values of the column
 * (USING), the counters whose key or counter column it changed, in the
 * table named or in the tables under it that the change recursed to, are
 * recomputed, as reinit does.  A counter whose key types no longer match
 * stays paused; the change that makes them match again recomputes it.
 */
static void
recount_retyped(AlterTableStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	List	   *retyped = NIL;
	List	   *tables;
	CounterDefs *defs;
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		if (cmd->subtype == AT_AlterColumnType && OidIsValid(relid))
			retyped = lappend(retyped, cmd->name);
	}
	if (retyped == NIL)
		return;
	tables = retyped_tables(relid);
	refuse_retyped_counters(tables, retyped);
	defs = cf_defs_acquire();
	for (int i = 0; i < defs->ncounters; i++)
	{
		CounterDef *def = &defs->counters[i];
		bool		due = false;

		foreach(lc, retyped)
		{
			AttrNumber	child_attnum = (list_member_oid(tables, def->child_relid) ?
										get_attnum(def->child_relid, lfirst(lc)) : InvalidAttrNumber);
			AttrNumber	parent_attnum = (list_member_oid(tables, def->parent_relid) ?
										 get_attnum(def->parent_relid, lfirst(lc)) : InvalidAttrNumber);

			due |= (def->nhops > 0 && child_attnum > 0) ||
				(def->nhops > 0 && cf_link_hop_of(def, relid) > 0 &&
				 list_member_oid(tables, relid)) ||
				(child_attnum > 0 &&
				 attnum_among(child_attnum, def->nkeys, def->fk_attnums)) ||
				(child_attnum > 0 && child_attnum == def->sum_attnum) ||
				(parent_attnum > 0 &&
				 (parent_attnum == def->counter_attnum ||
				  attnum_among(parent_attnum, def->nkeys, def->target->attnums)));
		}
		if (due)
			cf_reinit_counter(def);
	}
	cf_defs_release();
}

/*
 * Resolves the foreign keys of counters with through whose OIDs changed:
 * ALTER COLUMN ... TYPE rebuilds a hop's foreign key under its name, and a
 * restore loads the catalog before it creates the keys (their OIDs are 0
 * until then, see counterfield_catalog_resolve).  Keys found by name are
 * written to the catalog, which makes every backend load the counter
 * again; until all are there, such a counter counts nothing.
 */
static void
resolve_pending_hops(void)
{
	CatalogScan scan;

	if (!cf_catalog_has_sums(cf_catalog_relid(false)))
		return;
	cf_catalog_scan(&scan, InvalidOid, false);
	while (cf_catalog_next(&scan))
	{
		Datum		oids[INDEX_MAX_KEYS + 1];
		int			n;
		bool		changed = false;
		bool		isnull;
		Oid			types[2] = {INT4OID, OIDARRAYOID};
		Datum		values[2];

		if (!current_hop_keys(scan.tuple, scan.desc, oids, &n, &changed) || !changed)
			continue;
		values[0] = SPI_getbinval(scan.tuple, scan.desc, CF_COL_ID, &isnull);
		values[1] = cf_array_of(OIDOID, oids, n);
		cf_catalog_write("UPDATE counterfield.counter SET through_fk_oids = $2"
						 " WHERE id OPERATOR(pg_catalog.=) $1",
						 2, types, values, NULL, SPI_OK_UPDATE);
	}
}

/* cf_warn_late_triggers for a trigger on a table and its clones below. */
static void
warn_late_trigger(RangeVar *relation, const char *name)
{
	Oid			relid = RangeVarGetRelid(relation, NoLock, true);
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		cf_warn_late_triggers(lfirst_oid(lc), name);
}

/*
 * Refuses a table that has just become a partition or an inheritance child
 * while it, or a table under it, is a counted child or an intermediate
 * table of a chain: those are counted by their statement triggers, which do
 * not fire for rows written through a table above them.
 */
static void
refuse_counted_tree(CounterDefs *defs, Oid relid)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		RelCounters *rc = cf_defs_for_rel(defs, lfirst_oid(lc));

		if (rc != NULL && (rc->as_link != NIL ||
						   (rc->as_child != NIL && rc->root == lfirst_oid(lc))))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("table \"%s\" cannot go under another table while its rows are counted",
							get_rel_name(relid)),
					 errdetail("counterfield counts a table's rows with its statement triggers, which do not fire for rows written through a table above it."),
					 errhint("Drop the counters of table \"%s\" first, or count the rows of the table above instead.",
							 get_rel_name(lfirst_oid(lc)))));
	}
}

/*
 * Checks a partition that a command attached or created, under the
 * partitioned tables above it that hold counters (cf_check_parent_tables),
 * and warns of the triggers it has cloned from them that fire after the
 * guard (cf_warn_late_triggers).
 */
static void
check_new_partition(RangeVar *relation)
{
	Oid			relid = RangeVarGetRelid(relation, NoLock, true);
	CounterDefs *defs;
	ListCell   *lc;

	if (!OidIsValid(relid) || !get_rel_relispartition(relid))
		return;
	defs = cf_defs_acquire();

	refuse_counted_tree(defs, relid);
	foreach(lc, get_partition_ancestors(relid))
	{
		RelCounters *rc = cf_defs_for_rel(defs, lfirst_oid(lc));
		ListCell   *dc;

		foreach(dc, rc ? rc->as_parent : NIL)
		{
			CounterDef *def = lfirst(dc);

			cf_check_parent_tables(def->parent_relid, def->target->nkeys,
								   def->target->attnums, relid);
		}
	}
	cf_defs_release();
	warn_late_trigger(relation, NULL);
}

/*
 * check_new_partition for each partition that a command attached or
 * created, and refuse_counted_tree for a table that it made inherit.
 */
static void
check_new_partitions(Node *parsetree)
{
	ListCell   *lc;

	if (IsA(parsetree, CreateSchemaStmt))
	{
		foreach(lc, ((CreateSchemaStmt *) parsetree)->schemaElts)
			check_new_partitions(lfirst(lc));
		return;
	}
	if (IsA(parsetree, CreateStmt) && ((CreateStmt *) parsetree)->partbound != NULL)
		check_new_partition(((CreateStmt *) parsetree)->relation);
	if (IsA(parsetree, CreateForeignTableStmt) &&
		((CreateForeignTableStmt *) parsetree)->base.partbound != NULL)
		check_new_partition(((CreateForeignTableStmt *) parsetree)->base.relation);
	if (!IsA(parsetree, AlterTableStmt) ||
		CF_ALTER_TABLE_OBJTYPE((AlterTableStmt *) parsetree) != OBJECT_TABLE)
		return;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		if (cmd->subtype == AT_AttachPartition)
			check_new_partition(((PartitionCmd *) cmd->def)->name);
		if (cmd->subtype == AT_AddInherit)
		{
			Oid			relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation,
												 NoLock, true);

			if (OidIsValid(relid))
			{
				refuse_counted_tree(cf_defs_acquire(), relid);
				cf_defs_release();
			}
		}
	}
}

PG_FUNCTION_INFO_V1(counterfield_ddl_event);

/*
 * ddl_command_start and ddl_command_end event trigger.  Before DDL that may
 * change a key's type or drop a table, this transaction's pending
 * transaction-mode deltas are applied.  Before any DDL,
 * condition trees that a pg_upgrade brought from another cluster are
 * rebuilt while their SQL still matches the schema.  After a command that
 * renames objects, the names and condition SQL in the catalog are rendered
 * again, so that a dump taken later carries them.  After CREATE TRIGGER of a
 * counterfield trigger (as a restore runs it), the trigger is made to depend
 * on the extension and on what the conditions of its table's counters use.
 */
Datum
counterfield_ddl_event(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = cf_trigger_context(fcinfo, "counterfield_ddl_event", true);
	Node	   *parsetree;
	Oid			catalog;
	bool		at_end;

	parsetree = trigdata->parsetree;
	at_end = strcmp(trigdata->event, "ddl_command_end") == 0;
	catalog = cf_catalog_relid(true);
	if (!OidIsValid(catalog) || !cf_catalog_is_current(catalog))
		PG_RETURN_NULL();

	/* Pending deltas are applied while their keys still mean what they did. */
	if (!at_end && changes_values(parsetree))
		cf_flush_before_ddl();
	if (!at_end)
		fold_before_ddl(parsetree);

	if (!own_ddl)
	{
		cf_spi_connect();
		track_descendants(parsetree, at_end);
		if (at_end && IsA(parsetree, AlterTableStmt))
		{
			resolve_pending_hops();
			recount_retyped((AlterTableStmt *) parsetree);
		}
		SPI_finish();
	}

	if (at_end && IsA(parsetree, CreateTrigStmt))
	{
		CreateTrigStmt *stmt = (CreateTrigStmt *) parsetree;
		Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		Oid			trigger = (OidIsValid(relid) ?
							   get_trigger_oid(relid, stmt->trigname, true) : InvalidOid);
		Oid			function = OidIsValid(trigger) ? cf_trigger_function(trigger, NULL, NULL) : InvalidOid;

		if (cf_function_is_ours(function))
		{
			cf_depend_on_extension(trigger);
			cf_spi_connect();
			cf_condition_dependencies(relid, &trigger, 1);
			if (strcmp(stmt->trigname, CF_GUARD_INSERT_0_4) == 0)
				cf_rename_former_trigger(relid, CF_GUARD_INSERT_0_4, CF_GUARD_INSERT);
			else if (strcmp(stmt->trigname, CF_GUARD_UPDATE_0_4) == 0)
				cf_rename_former_trigger(relid, CF_GUARD_UPDATE_0_4, CF_GUARD_UPDATE);
			SPI_finish();
		}
		else if (OidIsValid(trigger))
			warn_late_trigger(stmt->relation, stmt->trigname);
		PG_RETURN_NULL();
	}

	if (at_end && IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_TRIGGER)
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		warn_late_trigger(stmt->relation, stmt->newname);
	}
	if (at_end)
		check_new_partitions(parsetree);

	if (at_end && !renames_objects(parsetree))
		PG_RETURN_NULL();

	cf_spi_connect();
	if (at_end)
		refresh_catalog(catalog,
						IsA(parsetree, AlterObjectSchemaStmt) ||
						(IsA(parsetree, RenameStmt) &&
						 ((RenameStmt *) parsetree)->renameType != OBJECT_COLUMN),
						renamed_tables(parsetree));
	else
	{
		/* Cheap when nothing came from another cluster, as is the rule. */
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum((int64) GetSystemIdentifier())};

		cf_spi_run("SELECT 1 FROM counterfield.counter"
				   " WHERE condition_system OPERATOR(pg_catalog.<>) $1 LIMIT 1",
				   1, types, values, NULL, true, SPI_OK_SELECT);
		if (SPI_processed > 0)
			refresh_catalog(catalog, false, NIL);
	}
	SPI_finish();
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(counterfield_sql_drop);

/*
 * sql_drop event trigger: counters whose parent, child or columns were
 * dropped are removed, with the triggers that only they needed.
 */
Datum
counterfield_sql_drop(PG_FUNCTION_ARGS)
{
	List	   *ids = NIL;
	List	   *relids = NIL;
	ListCell   *lc;
	CatalogScan scan;

	(void) cf_trigger_context(fcinfo, "counterfield_sql_drop", true);
	if (!OidIsValid(cf_catalog_relid(true)))
		PG_RETURN_NULL();

	cf_spi_connect();
	cf_catalog_scan(&scan, InvalidOid, false);
	while (cf_catalog_next(&scan))
	{
		bool		isnull;

		if (counter_intact(scan.tuple, scan.desc))
			continue;
		ids = lappend_int(ids, DatumGetInt32(SPI_getbinval(scan.tuple, scan.desc, CF_COL_ID,
														   &isnull)));
		relids = list_append_unique_oid(relids, cf_row_oid(&scan, CF_COL_PARENT));
		relids = list_append_unique_oid(relids, cf_row_oid(&scan, CF_COL_CHILD));
		relids = list_concat_unique_oid(relids, through_tables(scan.tuple, scan.desc));
	}
	recount_lost_tables();
	foreach(lc, ids)
	{
		Oid			types[1] = {INT4OID};
		Datum		values[1] = {Int32GetDatum(lfirst_int(lc))};

		cf_catalog_write("DELETE FROM counterfield.counter WHERE id OPERATOR(pg_catalog.=) $1",
						 1, types, values, NULL, SPI_OK_DELETE);
	}
	foreach(lc, relids)
	{
		/*
		 * Citus passes the command on to the nodes after this: the triggers
		 * of a distributed table are placed again at commit.
		 */
		if (get_rel_name(lfirst_oid(lc)) != NULL && cf_citus_distributed(lfirst_oid(lc)))
			cf_citus_sync_at_commit(lfirst_oid(lc));
		else
			sync_own(lfirst_oid(lc), true);
	}
	SPI_finish();
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(counterfield_upgrade_dependencies);

/*
 * Run once by the update to 0.3: makes the child triggers of existing
 * counters depend on what their conditions use.
 */
Datum
counterfield_upgrade_dependencies(PG_FUNCTION_ARGS)
{
	List	   *children = NIL;
	ListCell   *lc;

	cf_spi_connect();
	cf_spi_run("SELECT DISTINCT child::pg_catalog.oid FROM counterfield.counter",
			   0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;

		children = lappend_oid(children,
							   DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[row],
															  SPI_tuptable->tupdesc, 1,
															  &isnull)));
	}
	foreach(lc, children)
		sync_own(lfirst_oid(lc), true);
	SPI_finish();
	PG_RETURN_VOID();
}
