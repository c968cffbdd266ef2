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

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "counterfield.h"

/* What Citus makes of a table. */
typedef enum CitusKind
{
	CITUS_NONE,					/* a plain table, or no Citus */
	CITUS_DISTRIBUTED,			/* hash-distributed: shards on the workers */
	CITUS_REFERENCE,			/* a copy on every node */
	CITUS_LOCAL,				/* a Citus local table, or single-shard */
} CitusKind;

/* A table's kind, its co-location group and its distribution column. */
typedef struct CitusTable
{
	CitusKind	kind;
	int32		colocation;
	AttrNumber	column;			/* InvalidAttrNumber but for CITUS_DISTRIBUTED */
} CitusTable;

/* Reads what Citus's metadata says of a table; SPI is connected. */
static CitusTable
citus_table(Oid relid)
{
	CitusTable	table = {CITUS_NONE, 0, InvalidAttrNumber};
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	char		method;
	char		model;
	char	   *column;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return table;
	cf_spi_run("SELECT partmethod, repmodel, colocationid,"
			   " CASE WHEN partkey IS NOT NULL"
			   "  THEN pg_catalog.column_to_column_name(logicalrelid, partkey) END"
			   " FROM pg_catalog.pg_dist_partition"
			   " WHERE logicalrelid OPERATOR(pg_catalog.=) $1",
			   1, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return table;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	method = DatumGetChar(SPI_getbinval(tuple, desc, 1, &isnull));
	model = DatumGetChar(SPI_getbinval(tuple, desc, 2, &isnull));
	table.colocation = DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull));
	column = SPI_getvalue(tuple, desc, 4);
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
 * Is name what Citus calls trigger expected on a shard, expected followed
 * by "_" and the shard's number, in a database with Citus?
 */
bool
cf_citus_shard_trigger(const char *name, const char *expected)
{
	size_t		len = strlen(expected);

	if (strncmp(name, expected, len) != 0 || name[len] != '_' || name[len + 1] == '\0' ||
		strspn(name + len + 1, "0123456789") != strlen(name + len + 1))
		return false;
	return OidIsValid(get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE));
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
				 errhint("Undistribute the table with undistribute_table.")));
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
	bool		paired = false;

	CitusTable	p = citus_table(parent);
	CitusTable	c = citus_table(child);

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
