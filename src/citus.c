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
 * A counter between two co-located distributed tables is kept shard by
 * shard.  add_counter places its triggers on the tables through Citus,
 * which copies them onto every shard as "<name>_<shard id>" (and onto the
 * shards that a move or split makes later), each carrying the definitions
 * of the table's counters as arguments, in the portable form of the
 * catalog (names and condition text).  The first time such a trigger fires
 * on a node, it writes the pair of co-located shards into that node's
 * catalog (cf_citus_adopt); from then on the shards are counted as plain
 * tables, in the transaction of the write, whichever node it came through.
 * Recounts run on the nodes too: the coordinator sets
 * counterfield.citus_recount, which Citus passes on to the nodes, and
 * updates no row of the child, which fires its statement triggers on every
 * shard; each shard's counters are recomputed when its transaction commits
 * (cf_citus_recount_shards).
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
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

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

		if (cf_citus_shard_trigger(NameStr(trigger->tgname), name) && trigger->tgnargs == 0 &&
			cf_function_is_ours(trigger->tgfoid))
			names = lappend(names, pstrdup(NameStr(trigger->tgname)));
	}
	systable_endscan(scan);
	table_close(trigrel, AccessShareLock);
	foreach(lc, names)
		cf_drop_trigger(relid, lfirst(lc));
}

/*
 * Drops counterfield's trigger of that name on the table that Citus keeps
 * as the shell of a shard, if it is there.  SPI is connected.
 */
void
cf_citus_drop_shell_trigger(Oid shell, const char *name)
{
	Oid			trigger = get_trigger_oid(shell, name, true);

	if (OidIsValid(trigger) && cf_function_is_ours(cf_trigger_function(trigger, NULL, NULL)) &&
		cf_citus_same_args(trigger, NIL))
		cf_drop_trigger(shell, name);
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
 * Refuses a counter that involves a table that Citus manages, but for one
 * between co-located distributed tables whose keys match their
 * distribution columns: its parent, its child or (through) an
 * intermediate table.  The child's key columns fk_attnums
 * match the parent's parent_attnums (nkeys of each; 0 with through).
 * Plain tables of a Citus coordinator or worker pass.  SPI is connected.
 */
void
cf_citus_check_counter(Oid parent, Oid child, Oid *through, int nthrough, int nkeys,
					   const AttrNumber *fk_attnums, const AttrNumber *parent_attnums,
					   bool deferred)
{
	CitusTable	p = citus_table(parent);
	CitusTable	c = citus_table(child);
	bool		paired = false;

	if (nthrough > 0 && (p.kind == CITUS_DISTRIBUTED || c.kind == CITUS_DISTRIBUTED))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counterfield cannot count through tables between distributed tables \"%s\" and \"%s\"",
						get_rel_name(parent), get_rel_name(child)),
				 errhint("Count the rows of a table that references the parent directly.")));
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
	for (int i = 0; i < 2; i++)
	{
		Oid			relid = i == 0 ? parent : child;

		if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE || get_rel_relispartition(relid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("counterfield cannot keep counters on partitioned distributed table \"%s\"",
							get_rel_name(relid)),
					 errdetail("Citus keeps each partition as a distributed table of its own, with shards of its own."),
					 errhint("Count between distributed tables that are not partitioned.")));
	}
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
	if (!paired)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counter key does not match distribution column \"%s\" of table \"%s\" with distribution column \"%s\" of table \"%s\"",
						get_attname(child, c.column, false), get_rel_name(child),
						get_attname(parent, p.column, false), get_rel_name(parent)),
				 errdetail("A parent row would then be on another node than its child rows."),
				 errhint("Make both distribution columns part of the key, matched with each other: fk_columns and parent_columns.")));
	if (deferred)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("counterfield cannot keep deferred counters between distributed tables \"%s\" and \"%s\"",
						get_rel_name(parent), get_rel_name(child)),
				 errdetail("Deferred deltas are folded by a background worker of one node."),
				 errhint("Use flush => 'statement' or flush => 'transaction'.")));
}

/* Is relid a distributed table (not a shard) of Citus?  SPI is connected. */
bool
cf_citus_distributed(Oid relid)
{
	return citus_table(relid).kind == CITUS_DISTRIBUTED;
}

/*
 * The arguments that counterfield's triggers on a distributed table carry:
 * one JSON object per counter of which the table is the child (as_child)
 * or the parent, in id order, with the columns of the catalog that a
 * node's catalog resolves (cf_citus_adopt).  SPI is connected.
 */
List *
cf_citus_trigger_args(Oid relid, bool as_child)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	List	   *args = NIL;

	cf_spi_run(psprintf("SELECT pg_catalog.json_build_object("
						"'parent', pg_catalog.format('%%I.%%I', pn.nspname, pc.relname),"
						" 'child', pg_catalog.format('%%I.%%I', cn.nspname, cc.relname),"
						" 'counter_column', k.counter_column, 'fk_columns', k.fk_columns,"
						" 'parent_columns', k.parent_columns, 'condition_sql', k.condition_sql,"
						" 'flush', k.flush, 'sum_column', k.sum_column)::pg_catalog.text"
						" FROM counterfield.counter k"
						" JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) k.parent"
						" JOIN pg_catalog.pg_namespace pn"
						"  ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace"
						" JOIN pg_catalog.pg_class cc ON cc.oid OPERATOR(pg_catalog.=) k.child"
						" JOIN pg_catalog.pg_namespace cn"
						"  ON cn.oid OPERATOR(pg_catalog.=) cc.relnamespace"
						" WHERE k.%s OPERATOR(pg_catalog.=) $1::pg_catalog.regclass ORDER BY k.id",
						as_child ? "child" : "parent"),
			   1, types, values, NULL, false, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
		args = lappend(args, SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1));
	return args;
}

/* The arguments of a trigger, as a list of strings. */
static List *
trigger_args(Oid trigger)
{
	Relation	trigrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *args = NIL;

	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigger));
	scan = systable_beginscan(trigrel, TriggerOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple) && ((Form_pg_trigger) GETSTRUCT(tuple))->tgnargs > 0)
	{
		bool		isnull;
		bytea	   *val = DatumGetByteaPP(heap_getattr(tuple, Anum_pg_trigger_tgargs,
													   RelationGetDescr(trigrel), &isnull));
		const char *p = VARDATA_ANY(val);

		for (int i = 0; i < ((Form_pg_trigger) GETSTRUCT(tuple))->tgnargs; i++)
		{
			args = lappend(args, pstrdup(p));
			p += strlen(p) + 1;
		}
	}
	systable_endscan(scan);
	table_close(trigrel, AccessShareLock);
	return args;
}

/* Is arg one of args? */
static bool
has_arg(List *args, const char *arg)
{
	ListCell   *lc;

	foreach(lc, args)
	{
		if (strcmp(lfirst(lc), arg) == 0)
			return true;
	}
	return false;
}

/* Does a trigger carry exactly these arguments? */
bool
cf_citus_same_args(Oid trigger, List *args)
{
	List	   *have = trigger_args(trigger);
	ListCell   *a;
	ListCell   *b;

	if (list_length(have) != list_length(args))
		return false;
	forboth(a, have, b, args)
	{
		if (strcmp(lfirst(a), lfirst(b)) != 0)
			return false;
	}
	return true;
}

/*
 * Is this trigger, named expected and a shard number, the copy that Citus
 * made on a shard of counterfield's trigger on a distributed table?  It
 * carries the counters' definitions, and its shard number is the shard's.
 */
bool
cf_citus_counting_shard(TriggerData *trigdata, const char *expected)
{
	const char *name = trigdata->tg_trigger->tgname;
	const char *relname = RelationGetRelationName(trigdata->tg_relation);
	const char *suffix = strrchr(relname, '_');

	return trigdata->tg_trigger->tgnargs > 0 && suffix != NULL &&
		strncmp(name, expected, strlen(expected)) == 0 &&
		strcmp(name + strlen(expected), suffix) == 0 && shard_suffix(suffix);
}

/* The definitions generation in which a shard's trigger last matched the catalog. */
typedef struct AdoptedTrigger
{
	Oid			trigger;		/* hash key */
	uint64		generation;
} AdoptedTrigger;

static HTAB *adopted_triggers = NULL;

/*
 * Makes this node's catalog hold the counters that a trigger on a shard of
 * a distributed table carries (cf_citus_counting_shard): each between the
 * shard and the co-located shard of the other table, by their names, so
 * that the catalog's resolve trigger turns names into numbers here as it
 * does for a restore.  Rows of the shard's side that the trigger no longer
 * carries, or that hold another definition of a counter column, go.  The
 * catalog's owner reads and writes, as the writer may not see the other
 * table, with search_path pinned in a security-restricted operation: the
 * statements name every operator and function by schema, and the text of
 * the arguments only ever travels as data.  Runs once per trigger and definitions generation; a write that rolls back
 * takes its rows with it, and the next write adopts them again.
 */
void
cf_citus_adopt(TriggerData *trigdata, bool as_child)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Oid			relid = RelationGetRelid(trigdata->tg_relation);
	const char *side = as_child ? "child" : "parent";
	AdoptedTrigger *entry;
	bool		found;
	Datum	   *args;
	Oid			types[3] = {OIDOID, INT8OID, TEXTARRAYOID};
	Datum		values[3];
	char	   *want;
	OwnerContext owner;

	if (adopted_triggers == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AdoptedTrigger);
		ctl.hcxt = TopMemoryContext;
		adopted_triggers = hash_create("counterfield adopted shard triggers", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(adopted_triggers, &trigger->tgoid, HASH_ENTER, &found);
	if (found && entry->generation == cf_defs_generation())
		return;
	entry->generation = 0;

	args = palloc(sizeof(Datum) * trigger->tgnargs);
	for (int i = 0; i < trigger->tgnargs; i++)
		args[i] = CStringGetTextDatum(trigger->tgargs[i]);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int64GetDatum(strtoi64(strrchr(RelationGetRelationName(trigdata->tg_relation),
											   '_') + 1, NULL, 10));
	values[2] = PointerGetDatum(construct_array(args, trigger->tgnargs, TEXTOID, -1, false,
												TYPALIGN_INT));

	/*
	 * The co-located shards hold the same range of hash values.  shard_name()
	 * leaves out the schema public, and only that one.
	 */
#define SHARD_REGCLASS(s) \
	"pg_catalog.to_regclass(CASE WHEN (SELECT c.relnamespace FROM pg_catalog.pg_class c" \
	" WHERE c.oid OPERATOR(pg_catalog.=) " s ".logicalrelid)" \
	" OPERATOR(pg_catalog.=) 'public'::pg_catalog.regnamespace" \
	" THEN 'public.' ELSE '' END OPERATOR(pg_catalog.||)" \
	" pg_catalog.shard_name(" s ".logicalrelid, " s ".shardid))"
	want = psprintf("WITH me AS (SELECT s.shardminvalue AS lo, s.logicalrelid"
					"  FROM pg_catalog.pg_dist_shard s WHERE s.shardid OPERATOR(pg_catalog.=) $2"
					"  AND " SHARD_REGCLASS("s") " OPERATOR(pg_catalog.=) $1::pg_catalog.regclass),"
					" d AS (SELECT a.t, j.* FROM pg_catalog.unnest($3) AS a(t),"
					"  pg_catalog.json_to_record(a.t::pg_catalog.json) AS j(parent pg_catalog.text,"
					"  child pg_catalog.text, counter_column pg_catalog.name,"
					"  fk_columns pg_catalog.name[], parent_columns pg_catalog.name[],"
					"  condition_sql pg_catalog.text, flush pg_catalog.text,"
					"  sum_column pg_catalog.name)),"
					" want AS (SELECT " SHARD_REGCLASS("ps") " AS parent,"
					"  " SHARD_REGCLASS("cs") " AS child, d.counter_column, d.fk_columns,"
					"  d.parent_columns, d.condition_sql, d.flush, d.sum_column, d.t,"
					"  ps.shardid AS parent_shard, cs.shardid AS child_shard"
					"  FROM d CROSS JOIN me"
					"  JOIN pg_catalog.pg_dist_shard ps"
					"   ON ps.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(d.parent)"
					"   AND ps.shardminvalue OPERATOR(pg_catalog.=) me.lo"
					"  JOIN pg_catalog.pg_dist_shard cs"
					"   ON cs.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(d.child)"
					"   AND cs.shardminvalue OPERATOR(pg_catalog.=) me.lo"
					"  WHERE me.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(d.%s))",
					side);
#define SAME_COUNTER(w, k) \
	" w.parent OPERATOR(pg_catalog.=) k.parent AND w.child OPERATOR(pg_catalog.=) k.child" \
	" AND w.counter_column OPERATOR(pg_catalog.=) k.counter_column" \
	" AND w.fk_columns OPERATOR(pg_catalog.=) k.fk_columns" \
	" AND w.parent_columns OPERATOR(pg_catalog.=) k.parent_columns" \
	" AND (w.condition_sql OPERATOR(pg_catalog.=) k.condition_sql" \
	"  OR (w.condition_sql IS NULL AND k.condition_sql IS NULL))" \
	" AND w.flush OPERATOR(pg_catalog.=) k.flush" \
	" AND (w.sum_column OPERATOR(pg_catalog.=) k.sum_column" \
	"  OR (w.sum_column IS NULL AND k.sum_column IS NULL))"

	/*
	 * Each counter must pair this very shard with the co-located shard of the
	 * other table, whose own trigger carries the same definition: only the
	 * owner of both tables placed those (through Citus), so a trigger that
	 * someone else made on a table of theirs cannot pair tables.
	 */
	cf_spi_connect();
	cf_begin_as_owner(cf_relation_owner(cf_catalog_relid(false)), CF_OWNER_PIN_PATH, &owner);
	cf_spi_run(psprintf("%s SELECT d.t, w.%s::pg_catalog.oid, w.%s::pg_catalog.oid, w.%s_shard"
						" FROM d LEFT JOIN want w ON w.t OPERATOR(pg_catalog.=) d.t",
						want, side, as_child ? "parent" : "child", as_child ? "parent" : "child"),
			   3, types, values, NULL, true, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		bool		mine = DatumGetObjectId(cf_spi_value(row, 2, &isnull)) == relid && !isnull;
		Oid			other = DatumGetObjectId(cf_spi_value(row, 3, &isnull));
		int64		shardid = isnull ? 0 : DatumGetInt64(cf_spi_value(row, 4, &isnull));
		char	   *arg = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1);
		Oid			pair = InvalidOid;

		if (mine && OidIsValid(other))
			pair = get_trigger_oid(other,
								   psprintf("%s_" INT64_FORMAT,
											as_child ? CF_GUARD_UPDATE : CF_CHILD_INSERT, shardid),
								   true);
		if (!OidIsValid(pair) || !has_arg(trigger_args(pair), arg))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("counterfield cannot pair shard \"%s\" with a co-located shard on this node",
							RelationGetRelationName(trigdata->tg_relation)),
					 errdetail("Trigger \"%s\" carries a counter whose other table has no co-located shard here with the same counter.",
							   trigger->tgname),
					 errhint("On the coordinator, add the counter again with add_counter, which places its triggers anew, or drop its triggers.")));
	}
	cf_catalog_write(psprintf("%s DELETE FROM counterfield.counter k"
							  " WHERE (k.%s OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
							  "  OR EXISTS (SELECT FROM want w"
							  "   WHERE w.parent OPERATOR(pg_catalog.=) k.parent"
							  "   AND w.counter_column OPERATOR(pg_catalog.=) k.counter_column))"
							  " AND NOT EXISTS (SELECT FROM want w WHERE" SAME_COUNTER(w, k) ")",
							  want, side),
					 3, types, values, NULL, SPI_OK_DELETE);
	cf_catalog_write(psprintf("%s INSERT INTO counterfield.counter (parent, child, counter_column,"
							  " fk_columns, parent_columns, condition_sql, flush, sum_column)"
							  " SELECT w.parent, w.child, w.counter_column, w.fk_columns,"
							  " w.parent_columns, w.condition_sql, w.flush, w.sum_column"
							  " FROM want w WHERE NOT EXISTS"
							  " (SELECT FROM counterfield.counter k WHERE" SAME_COUNTER(w, k) ")"
							  " ON CONFLICT DO NOTHING", want),
					 3, types, values, NULL, SPI_OK_INSERT);
#undef SAME_COUNTER
#undef SHARD_REGCLASS
	cf_end_as_owner(&owner);
	SPI_finish();
	CommandCounterIncrement();

	/*
	 * Another backend may have adopted the pair meanwhile and committed, so
	 * that this one wrote nothing and has not yet heard of the change: the
	 * definitions are loaded again, from the catalog as it stands now.
	 */
	cf_defs_invalidate();
	entry = hash_search(adopted_triggers, &trigger->tgoid, HASH_ENTER, &found);
	entry->generation = cf_defs_generation();
}

/* Distributed tables whose triggers are placed again at commit. */
static TxArray sync_tables = {.entrysize = sizeof(Oid)};

/*
 * Places the triggers of a distributed table again when the transaction
 * commits (cf_citus_sync_noted): after a rename, or a drop of what a counter
 * used, which Citus passes on to the other nodes only once the command's
 * event triggers have run.
 */
void
cf_citus_sync_at_commit(Oid relid)
{
	bool		added;

	(void) cf_tx_relation(&sync_tables, relid, true, &added);
}

/* At commit: places the triggers of the tables noted by cf_citus_sync_at_commit. */
void
cf_citus_sync_noted(void)
{
	int			n;
	Oid		   *tables = cf_tx_take(&sync_tables, &n);

	if (n == 0)
		return;
	PushActiveSnapshot(GetTransactionSnapshot());
	cf_spi_connect();
	for (int i = 0; i < n; i++)
		cf_sync_table_triggers(tables[i]);
	SPI_finish();
	PopActiveSnapshot();
}

/*
 * Recounts on the nodes asked for by counterfield.citus_recount: the ids of
 * this node's counters, recomputed when the transaction commits, after the
 * deltas that it counted meanwhile have been applied.
 */
static TxArray recount_ids = {.entrysize = sizeof(int32)};

/* What counterfield.citus_recount names a counter by: its parent's table and column. */
static char *
recount_name(Oid parent, AttrNumber attnum)
{
	return psprintf("%s.%s", cf_relation_sql(parent, true),
					quote_identifier(get_attname(parent, attnum, false)));
}

/*
 * On a node, a statement on a shard fired its child triggers while
 * counterfield.citus_recount was set: notes the counters of the shard that
 * it names ("*": all), to be recounted at commit, or removes the one it
 * names after a "-" from this node's catalog (drop_counter).  Only the
 * recounts that the coordinator asks for as the child's owner (add_counter,
 * reinit) or as a role that may truncate it (TRUNCATE) are made, as they
 * lock the tables, and only the removals asked for by its owner.
 */
void
cf_citus_note_recount(Oid relid, RelCounters *rc)
{
	ListCell   *lc;
	bool		owner;

	if (cf_citus_recount == NULL || cf_citus_recount[0] == '\0')
		return;
	owner = cf_owns_relation(relid);
	if (!owner && pg_class_aclcheck(relid, GetUserId(), ACL_TRUNCATE) != ACLCHECK_OK)
		return;
	cf_spi_connect();

	/* A counter to remove is found in the catalog: it may be paused. */
	if (cf_citus_recount[0] == '-' && owner)
	{
		Oid			types[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};
		uint64		nrows;
		Datum	   *rows;

		cf_spi_run("SELECT id, parent::pg_catalog.oid, counter_attnum FROM counterfield.counter"
				   " WHERE child OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
				   1, types, values, NULL, true, SPI_OK_SELECT);
		nrows = SPI_processed;
		rows = palloc(sizeof(Datum) * 3 * (nrows + 1));
		for (uint64 row = 0; row < nrows; row++)
		{
			bool		isnull;

			for (int c = 0; c < 3; c++)
				rows[row * 3 + c] = cf_spi_value(row, c + 1, &isnull);
		}
		for (uint64 row = 0; row < nrows; row++)
		{
			Oid			shell = cf_citus_shell_of(DatumGetObjectId(rows[row * 3 + 1]));
			Oid			idtypes[1] = {INT4OID};

			if (OidIsValid(shell) &&
				strcmp(cf_citus_recount + 1,
					   recount_name(shell, DatumGetInt16(rows[row * 3 + 2]))) == 0)
				cf_catalog_write("DELETE FROM counterfield.counter"
								 " WHERE id OPERATOR(pg_catalog.=) $1",
								 1, idtypes, &rows[row * 3], NULL, SPI_OK_DELETE);
		}
	}
	foreach(lc, rc ? rc->as_child : NIL)
	{
		CounterDef *def = lfirst(lc);
		Oid			shell = cf_citus_shell_of(def->parent_relid);
		int			n;
		int32	   *ids;
		bool		noted = false;

		if (!OidIsValid(shell) ||
			(strcmp(cf_citus_recount, "*") != 0 &&
			 strcmp(cf_citus_recount, recount_name(shell, def->counter_attnum)) != 0))
			continue;
		ids = cf_tx_entries(&recount_ids, &n);
		for (int i = 0; i < n; i++)
			noted |= ids[i] == def->id;
		if (!noted)
			*(int32 *) cf_tx_append(&recount_ids) = def->id;
	}
	SPI_finish();
}

/* At commit: recomputes the counters noted by cf_citus_note_recount. */
void
cf_citus_recount_noted(void)
{
	int			n;
	int32	   *ids = cf_tx_take(&recount_ids, &n);

	if (n == 0)
		return;
	PushActiveSnapshot(GetTransactionSnapshot());
	for (int i = 0; i < n; i++)
	{
		CounterDefs *defs = cf_defs_acquire();
		CounterDef *def = cf_defs_counter(defs, ids[i]);

		if (def != NULL)
			(void) cf_reinit_counter(def);
		cf_defs_release();
	}
	PopActiveSnapshot();
}

/*
 * On the coordinator: has every shard of distributed table child recompute
 * its counters that request names (recount_name, or "*" for all), when the
 * transaction commits.  The request goes to the nodes as a SET LOCAL, which
 * Citus passes on inside a DO block, followed by an UPDATE of no row of
 * the child, which fires its statement triggers on every shard (rows whose
 * distribution column is null, of which Citus has none); SET takes no
 * parameters, so the request is quoted into it.  It runs as role user:
 * Citus refuses to write a shard as two roles in one transaction.  SPI is
 * connected.
 */
static void
recount_shards(Oid child, const char *request, Oid user)
{
	const char *column = quote_identifier(get_attname(child, citus_table(child).column, false));
	OwnerContext owner;
	char	   *body;
	int			ret;

	body = psprintf("BEGIN"
					" SET LOCAL citus.propagate_set_commands = 'local';"
					" SET LOCAL counterfield.citus_recount = %s;"
					" UPDATE %s SET %s = %s WHERE %s IS NULL;"
					" SET LOCAL counterfield.citus_recount = '';"
					" END", quote_literal_cstr(request), cf_relation_sql(child, true),
					column, column, column);
	cf_begin_as_owner(user, CF_OWNER_PIN_PATH, &owner);
	ret = SPI_execute(psprintf("DO LANGUAGE plpgsql %s", quote_literal_cstr(body)), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	cf_end_as_owner(&owner);
}

/*
 * Recomputes a counter between distributed tables on every shard (at
 * commit: see recount_shards), as the owner of its tables, who placed their
 * triggers; returns false for any other counter.
 */
bool
cf_citus_recount_shards(CounterDef *def)
{
	bool		distributed;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return false;
	cf_spi_connect();
	distributed = cf_citus_distributed(def->parent_relid);
	if (distributed)
		recount_shards(def->child_relid, recount_name(def->parent_relid, def->counter_attnum),
					   def->child_owner);
	SPI_finish();
	return distributed;
}

/*
 * Before drop_counter removes a counter between distributed tables, on
 * parent's column attnum: the nodes remove their rows of it too.  SPI is
 * connected.
 */
void
cf_citus_forget_counter(Oid parent, AttrNumber attnum, Oid child)
{
	recount_shards(child, psprintf("-%s", recount_name(parent, attnum)),
				   cf_relation_owner(child));
}

/*
 * AFTER TRUNCATE of a distributed child, on the coordinator or through a
 * node's copy of it: Citus truncates the shards after this trigger, and on
 * the nodes a shard's TRUNCATE fires no trigger of the table's, so each
 * shard's counters are recomputed at commit.  Returns false for any other
 * table.
 */
bool
cf_citus_truncated(Oid relid)
{
	bool		distributed;

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return false;
	cf_spi_connect();
	distributed = cf_citus_distributed(relid);
	if (distributed && !cf_owns_relation(relid) &&
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT | ACL_UPDATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("counterfield cannot recount the counters of distributed table \"%s\" after TRUNCATE",
						get_rel_name(relid)),
				 errdetail("The shards recount when asked by an UPDATE of no row of the table, which needs the privileges SELECT and UPDATE on it."),
				 errhint("Grant SELECT and UPDATE on the table to the role that truncates it, or truncate it as its owner.")));
	if (distributed)
		recount_shards(relid, "*", GetUserId());
	SPI_finish();
	return distributed;
}
