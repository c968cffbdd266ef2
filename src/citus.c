/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Tables that Citus manages: which kind a table is, read from Citus's
 *	  metadata (pg_dist_partition) when Citus is installed, and the refusal
 *	  of counters that counterfield cannot keep on such tables.
 *
 * On a Citus coordinator the rows of a distributed or reference table are
 * in shards, tables of their own on the worker nodes (and on the
 * coordinator for a Citus local table): the table that add_counter is
 * given holds no rows, so its triggers see no writes.  Counters between
 * the coordinator's plain tables work as anywhere else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "counterfield.h"

/* What Citus makes of a table. */
typedef enum CitusKind
{
	CITUS_NONE,					/* a plain table, or no Citus */
	CITUS_DISTRIBUTED,			/* hash-distributed: shards on the workers */
	CITUS_REFERENCE,			/* a copy on every node */
	CITUS_LOCAL,				/* a Citus local table, or single-shard */
	CITUS_SHARD,				/* a shard of any of those */
} CitusKind;

/* A table's kind, its co-location group and its distribution column. */
typedef struct CitusTable
{
	CitusKind	kind;
	int32		colocation;
	AttrNumber	column;			/* InvalidAttrNumber but for CITUS_DISTRIBUTED */
} CitusTable;

/* Is a table a shard, by Citus's own test?  SPI is connected. */
static bool
is_shard(Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;

	if (!OidIsValid(LookupFuncName(list_make2(makeString("pg_catalog"),
											  makeString("relation_is_a_known_shard")),
								   1, types, true)))
		return false;
	cf_spi_run("SELECT pg_catalog.relation_is_a_known_shard($1)", 1, types, values, NULL, true,
			   SPI_OK_SELECT);
	return DatumGetBool(cf_spi_value(0, 1, &isnull));
}

/* Reads what Citus's metadata says of a table; SPI is connected. */
static CitusTable
citus_table(Oid relid)
{
	CitusTable	table = {CITUS_NONE, 0, InvalidAttrNumber};
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	char		method;
	char		model;
	char	   *column;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return table;
	if (is_shard(relid))
	{
		table.kind = CITUS_SHARD;
		return table;
	}
	cf_spi_run("SELECT partmethod, repmodel, colocationid,"
			   " CASE WHEN partkey IS NOT NULL"
			   "  THEN pg_catalog.column_to_column_name(logicalrelid, partkey) END"
			   " FROM pg_catalog.pg_dist_partition"
			   " WHERE logicalrelid OPERATOR(pg_catalog.=) $1",
			   1, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return table;			/* a table of the coordinator */
	method = DatumGetChar(cf_spi_value(0, 1, &isnull));
	model = DatumGetChar(cf_spi_value(0, 2, &isnull));
	table.colocation = DatumGetInt32(cf_spi_value(0, 3, &isnull));
	column = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	if (method == 'h' && column != NULL)
	{
		table.kind = CITUS_DISTRIBUTED;
		table.column = get_attnum(relid, column);
	}
	else if (model == 't')
		table.kind = CITUS_REFERENCE;
	else
		table.kind = CITUS_LOCAL;
	return table;
}

/*
 * Is suffix "_" and a shard number, as Citus appends them to the names of
 * a shard and of its triggers, in a database with Citus?
 */
static bool
shard_suffix(const char *suffix)
{
	size_t		digits = suffix[0] == '_' ? strlen(suffix + 1) : 0;

	return digits > 0 && strspn(suffix + 1, "0123456789") == digits &&
		OidIsValid(get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE));
}

/* Is name what Citus calls trigger expected on a shard? */
bool
cf_citus_shard_trigger(const char *name, const char *expected)
{
	size_t		len = strlen(expected);

	return strncmp(name, expected, len) == 0 && shard_suffix(name + len);
}

/*
 * The table that Citus made a shard of, when relid is a shard by its name
 * ("<table>_<shard id>") and Citus's metadata; InvalidOid otherwise.  SPI
 * is connected.
 */
Oid
cf_citus_shell_of(Oid relid)
{
	char	   *name = get_rel_name(relid);
	char	   *suffix = name ? strrchr(name, '_') : NULL;
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	bool		isnull;

	if (suffix == NULL || !shard_suffix(suffix) || strlen(suffix + 1) > 18)
		return InvalidOid;
	values[0] = Int64GetDatum(strtoi64(suffix + 1, NULL, 10));
	/* shard_name() qualifies the name outside schema public */
	values[1] = CStringGetTextDatum(quote_identifier(name));
	values[2] = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															   name));
	cf_spi_run("SELECT logicalrelid::pg_catalog.oid FROM pg_catalog.pg_dist_shard"
			   " WHERE shardid OPERATOR(pg_catalog.=) $1"
			   " AND pg_catalog.shard_name(logicalrelid, shardid) OPERATOR(pg_catalog.=) ANY"
			   " (ARRAY[$2, $3])",
			   3, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return InvalidOid;
	return DatumGetObjectId(cf_spi_value(0, 1, &isnull));
}

/* Drops a trigger of a table.  SPI is connected. */
static void
drop_trigger(Oid relid, const char *name)
{
	int			ret = SPI_execute(psprintf("DROP TRIGGER %s ON %s", quote_identifier(name),
										   cf_relation_sql(relid, true)),
								  false, 0);

	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/*
 * Drops the copies of counterfield's trigger name that Citus made on a
 * shard (name_<shard id>), as the table's owner.  SPI is connected.
 */
void
cf_citus_drop_shard_triggers(Oid relid, const char *name)
{
	Relation	trigrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *names = NIL;
	ListCell   *lc;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(trigrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger trigger = (Form_pg_trigger) GETSTRUCT(tuple);

		if (cf_citus_shard_trigger(NameStr(trigger->tgname), name) &&
			cf_function_is_ours(trigger->tgfoid))
			names = lappend(names, pstrdup(NameStr(trigger->tgname)));
	}
	systable_endscan(scan);
	table_close(trigrel, AccessShareLock);
	foreach(lc, names)
		drop_trigger(relid, lfirst(lc));
}

/*
 * Drops counterfield's trigger of that name on the table that Citus keeps
 * as the shell of a shard, if it is there.  SPI is connected.
 */
void
cf_citus_drop_shell_trigger(Oid shell, const char *name)
{
	Oid			trigger = get_trigger_oid(shell, name, true);

	if (OidIsValid(trigger) && cf_function_is_ours(cf_trigger_function(trigger, NULL, NULL)))
		drop_trigger(shell, name);
}

/*
 * Lets counterfield place and drop triggers on a table that Citus manages,
 * which Citus refuses unless citus.enable_unsafe_triggers is on: for the
 * owner context begun before (cf_begin_as_owner), whose end undoes it.
 */
void
cf_citus_allow_triggers(void)
{
	if (GetConfigOption("citus.enable_unsafe_triggers", true, false) != NULL)
		(void) set_config_option("citus.enable_unsafe_triggers", "on", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/* Refuses a table of a kind that no counter can be kept on. */
static void
refuse_kind(Oid relid, CitusKind kind)
{
	if (kind == CITUS_REFERENCE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counterfield cannot keep counters on reference table \"%s\"",
						get_rel_name(relid)),
				 errdetail("Every node has a copy of a reference table, and counterfield keeps no counter across copies."),
				 errhint("Keep the counter between tables of the coordinator, or undistribute the table with undistribute_table.")));
	if (kind == CITUS_LOCAL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counterfield cannot keep counters on Citus table \"%s\"",
						get_rel_name(relid)),
				 errdetail("Its rows are in a shard, which the table's triggers do not see."),
				 errhint("Undistribute the table with undistribute_table, or move it out of its distributed schema.")));
	if (kind == CITUS_SHARD)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counterfield cannot keep counters on Citus shard \"%s\"",
						get_rel_name(relid)),
				 errdetail("Citus writes, moves and splits a shard on its own."),
				 errhint("Keep counters between tables that Citus does not manage.")));
}

/*
 * Refuses a counter that involves a table that Citus manages: its parent,
 * its child or (through) an intermediate table.  The child's key columns
 * fk_attnums match the parent's parent_attnums (nkeys of each; 0 with
 * through).  Plain tables of a Citus coordinator or worker pass.  SPI is
 * connected.
 */
void
cf_citus_check_counter(Oid parent, Oid child, Oid *through, int nthrough, int nkeys,
					   const AttrNumber *fk_attnums, const AttrNumber *parent_attnums)
{
	CitusTable	p = citus_table(parent);
	CitusTable	c = citus_table(child);
	bool		paired = false;

	for (int i = 0; i < nthrough; i++)
	{
		CitusTable	t = citus_table(through[i]);

		if (t.kind != CITUS_NONE)
		{
			refuse_kind(through[i], t.kind);
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("counterfield cannot count through distributed table \"%s\"",
							get_rel_name(through[i])),
					 errhint("Count through tables of the coordinator.")));
		}
	}
	if (p.kind == CITUS_NONE && c.kind == CITUS_NONE)
		return;
	refuse_kind(parent, p.kind);
	refuse_kind(child, c.kind);
	if (p.kind != c.kind)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counterfield cannot keep a counter between distributed table \"%s\" and local table \"%s\"",
						get_rel_name(p.kind == CITUS_DISTRIBUTED ? parent : child),
						get_rel_name(p.kind == CITUS_DISTRIBUTED ? child : parent)),
				 errdetail("The rows of a distributed table are on the worker nodes, and the local table's are on the coordinator."),
				 errhint("Distribute both tables, co-located, or neither.")));
	if (p.colocation != c.colocation)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("distributed tables \"%s\" and \"%s\" are not co-located",
						get_rel_name(parent), get_rel_name(child)),
				 errdetail("A counter is exact on each node only when each parent row is on the node of its child rows."),
				 errhint("Distribute the child with colocate_with => '%s', by the column its foreign key matches with the parent's distribution column.",
						 get_rel_name(parent))));
	for (int k = 0; k < nkeys; k++)
		paired |= parent_attnums[k] == p.column && fk_attnums[k] == c.column;
	if (!paired && nthrough == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counter key does not match distribution column \"%s\" of table \"%s\" with distribution column \"%s\" of table \"%s\"",
						get_attname(child, c.column, false), get_rel_name(child),
						get_attname(parent, p.column, false), get_rel_name(parent)),
				 errdetail("A parent row would then be on another node than its child rows."),
				 errhint("Make both distribution columns part of the key, matched with each other: fk_columns and parent_columns.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("counterfield does not yet keep counters between distributed tables \"%s\" and \"%s\"",
					get_rel_name(parent), get_rel_name(child)),
			 errdetail("Their rows are in shards on the worker nodes, which the tables' triggers do not see."),
			 errhint("Keep counters between tables of the coordinator.")));
}
