/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  The triggers counterfield places on tables: which table needs which
 *	  (a child, an intermediate of a chain, a parent), creating and dropping
 *	  them to match the catalog, their dependencies on the extension and on
 *	  what conditions use, and warnings about user triggers that fire after
 *	  a guard.
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


/* The triggers counterfield places: on which role of a table, name, definition. */
typedef struct TriggerSpec
{
	bool		on_child;
	const char *name;
	int16		type;			/* pg_trigger.tgtype */
	const char *sql;			/* with the table and the arguments to fill in */
	const char *former;			/* its name before 0.5, if another */
} TriggerSpec;

static const TriggerSpec trigger_specs[] = {
	{true, CF_CHILD_INSERT, TRIGGER_TYPE_INSERT,
		"CREATE TRIGGER " CF_CHILD_INSERT " AFTER INSERT ON %s"
		" REFERENCING NEW TABLE AS counterfield_new"
	" FOR EACH STATEMENT EXECUTE FUNCTION counterfield.child_trigger(%s)", NULL},
	{true, CF_CHILD_UPDATE, TRIGGER_TYPE_UPDATE,
		"CREATE TRIGGER " CF_CHILD_UPDATE " AFTER UPDATE ON %s"
		" REFERENCING OLD TABLE AS counterfield_old NEW TABLE AS counterfield_new"
	" FOR EACH STATEMENT EXECUTE FUNCTION counterfield.child_trigger(%s)", NULL},
	{true, CF_CHILD_DELETE, TRIGGER_TYPE_DELETE,
		"CREATE TRIGGER " CF_CHILD_DELETE " AFTER DELETE ON %s"
		" REFERENCING OLD TABLE AS counterfield_old"
	" FOR EACH STATEMENT EXECUTE FUNCTION counterfield.child_trigger(%s)", NULL},
	{true, CF_CHILD_TRUNCATE_BEFORE, TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_TRUNCATE,
		"CREATE TRIGGER " CF_CHILD_TRUNCATE_BEFORE " BEFORE TRUNCATE ON %s"
	" FOR EACH STATEMENT EXECUTE FUNCTION counterfield.child_trigger(%s)", NULL},
	{true, CF_CHILD_TRUNCATE, TRIGGER_TYPE_TRUNCATE,
		"CREATE TRIGGER " CF_CHILD_TRUNCATE " AFTER TRUNCATE ON %s"
	" FOR EACH STATEMENT EXECUTE FUNCTION counterfield.child_trigger(%s)", NULL},
	{false, CF_GUARD_INSERT, TRIGGER_TYPE_ROW | TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_INSERT,
		"CREATE TRIGGER " CF_GUARD_INSERT " BEFORE INSERT ON %s"
	" FOR EACH ROW EXECUTE FUNCTION counterfield.parent_trigger(%s)", CF_GUARD_INSERT_0_4},
	{false, CF_GUARD_UPDATE, TRIGGER_TYPE_ROW | TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_UPDATE,
		"CREATE TRIGGER " CF_GUARD_UPDATE " BEFORE UPDATE ON %s"
	" FOR EACH ROW EXECUTE FUNCTION counterfield.parent_trigger(%s)", CF_GUARD_UPDATE_0_4},
};

/* Does the catalog have a counter with relid in the given column? */
static bool
catalog_mentions(Oid relid, const char *column)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	return cf_catalog_has(psprintf("%s OPERATOR(pg_catalog.=) $1::pg_catalog.regclass", column),
						  1, types, values, false);
}

/* Is relid an intermediate table of a counter with through? */
bool
cf_catalog_links(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	return cf_catalog_has_sums(cf_catalog_relid(false)) &&
		cf_catalog_has("$1::pg_catalog.regclass OPERATOR(pg_catalog.=) ANY (through)",
					   1, types, values, false);
}

/*
 * Returns the child table of counters whose rows include those of relid:
 * relid itself, or a table it is a partition or inheritance child of (at
 * any depth); InvalidOid if there is none.  Refuses a table that two such
 * children would count.
 */
Oid
cf_counted_root(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;

	cf_spi_run("WITH RECURSIVE up(relid) AS ("
			   " SELECT $1"
			   " UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i"
			   " JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.relid)"
			   " SELECT DISTINCT c.child::pg_catalog.oid FROM counterfield.counter c"
			   " JOIN up ON c.child OPERATOR(pg_catalog.=) up.relid ORDER BY 1",
			   1, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" would be counted as rows of both \"%s\" and \"%s\"",
						get_rel_name(relid),
						get_rel_name(DatumGetObjectId(cf_spi_value(0, 1, &isnull))),
						get_rel_name(DatumGetObjectId(cf_spi_value(1, 1, &isnull)))),
				 errdetail("The rows of a partition or inheritance child are rows of the tables above it."),
				 errhint("Count the rows of one of the two tables only.")));
	if (SPI_processed == 0)
		return InvalidOid;
	return DatumGetObjectId(cf_spi_value(0, 1, &isnull));
}

/*
 * Gives a guard that still has its name from before 0.5 (a dump of that
 * time restores it so) its current name, under which it fires after the
 * table's other BEFORE row triggers.  A clone on a partition follows its
 * parent's rename (from PostgreSQL 15 on; on 13 and 14 a clone keeps the
 * former name, which the guard accepts).
 */
void
cf_rename_former_trigger(Oid relid, const char *former, const char *name)
{
	Oid			trigger = get_trigger_oid(relid, former, true);
	bool		clone = false;
	Oid			function = (OidIsValid(trigger) ?
							cf_trigger_function(trigger, &clone, NULL) : InvalidOid);
	char	   *relname;
	int			ret;

	if (clone || !cf_function_is_ours(function))
		return;
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	/* With both names there, the former is a second copy of the guard. */
	if (OidIsValid(get_trigger_oid(relid, name, true)))
		ret = SPI_execute(psprintf("DROP TRIGGER %s ON %s", quote_identifier(former), relname),
						  false, 0);
	else
		ret = SPI_execute(psprintf("ALTER TRIGGER %s ON %s RENAME TO %s", quote_identifier(former),
								   relname, quote_identifier(name)),
						  false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/* Drops a trigger of a table.  SPI is connected. */
void
cf_drop_trigger(Oid relid, const char *name)
{
	int			ret = SPI_execute(psprintf("DROP TRIGGER %s ON %s", quote_identifier(name),
										   cf_relation_sql(relid, true)),
								  false, 0);

	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/* Places a trigger of counterfield's, with these arguments for its function. */
static void
create_trigger(const TriggerSpec *spec, const char *relname, List *args)
{
	StringInfoData list;
	ListCell   *lc;
	int			ret;

	initStringInfo(&list);
	foreach(lc, args)
		appendStringInfo(&list, "%s%s", lc == list_head(args) ? "" : ", ",
						 quote_literal_cstr(lfirst(lc)));
	ret = SPI_execute(psprintf(spec->sql, relname, list.data), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/*
 * Makes the triggers on one table match the catalog: the child triggers
 * while its rows are counted (as a counter's child, or as a partition or
 * inheritance child of one), the guards while it holds a counter (a
 * partition of a parent has clones of the parent's, which PostgreSQL keeps).
 */
void
cf_sync_table_triggers(Oid relid)
{
	char	   *relname;
	bool		need[2];
	Oid			child_triggers[lengthof(trigger_specs)];
	int			nchild = 0;
	bool		placed_guard = false;
	OwnerContext owner;
	Oid			shell;
	List	   *args[2] = {NIL, NIL};

	if (get_rel_name(relid) == NULL)
		return;
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	need[0] = catalog_mentions(relid, "parent");
	need[1] = OidIsValid(cf_counted_root(relid)) || cf_catalog_links(relid);

	/*
	 * A table that Citus made a shard of (a counted table that Citus took
	 * over) has copies of the triggers under Citus's names, and its new shell
	 * has them too.  They refuse writes while a counter needs them, and go
	 * with the last one, the shell's first, as dropping one there drops the
	 * shard's copy too; counterfield places none there.
	 */
	shell = cf_citus_shell_of(relid);
	if (OidIsValid(shell))
	{
		cf_begin_as_owner(cf_relation_owner(relid), CF_OWNER_PIN_PATH, &owner);
		cf_citus_allow_triggers();
		for (int i = 0; i < (int) lengthof(trigger_specs); i++)
		{
			if (need[trigger_specs[i].on_child])
				continue;
			cf_citus_drop_shell_trigger(shell, trigger_specs[i].name);
			cf_citus_drop_shard_triggers(relid, trigger_specs[i].name);
		}
		cf_end_as_owner(&owner);
		return;
	}
	if (need[1] && get_rel_relkind(relid) == RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot count the rows of foreign table \"%s\"", get_rel_name(relid)),
				 errdetail("Its rows would be rows of a counted child, and its writes are not seen.")));
	if (need[1] && get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot count the rows of temporary table \"%s\"", get_rel_name(relid)),
				 errdetail("Its rows would be rows of a counted child, which other sessions cannot see.")));

	/*
	 * On a distributed table of Citus, the triggers carry the definitions of
	 * the table's counters for its shards (cf_citus_trigger_args), and are
	 * placed again when they change.
	 */
	if ((need[0] || need[1]) && cf_citus_distributed(relid))
	{
		args[0] = need[0] ? cf_citus_trigger_args(relid, false) : NIL;
		args[1] = need[1] ? cf_citus_trigger_args(relid, true) : NIL;
	}

	/*
	 * The triggers are placed and dropped as the table's owner: the owner of
	 * a partitioned table may detach a partition of another role's, and the
	 * partition's triggers go with it.  search_path is pinned, so that the
	 * event triggers that fire meanwhile run none of the caller's functions.
	 */
	cf_begin_as_owner(cf_relation_owner(relid), CF_OWNER_PIN_PATH, &owner);
	cf_citus_allow_triggers();
	for (int i = 0; i < (int) lengthof(trigger_specs); i++)
	{
		const TriggerSpec *spec = &trigger_specs[i];
		Oid			trigger;
		bool		clone = false;
		int16		type = 0;
		Oid			function;

		if (spec->former != NULL)
			cf_rename_former_trigger(relid, spec->former, spec->name);
		trigger = get_trigger_oid(relid, spec->name, true);
		function = OidIsValid(trigger) ? cf_trigger_function(trigger, &clone, &type) : InvalidOid;
		if (clone)
			continue;

		/*
		 * A trigger of that name that runs other code, or ours for other
		 * events or with a WHEN condition, is someone else's.
		 */
		if (OidIsValid(trigger) && (!cf_function_is_ours(function) || type != spec->type))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("trigger \"%s\" for relation \"%s\" already exists",
							spec->name, get_rel_name(relid)),
					 errdetail("Counters need a trigger of that name on their tables."),
					 errhint("Rename or drop the other trigger.")));
		if (OidIsValid(trigger) && need[spec->on_child] &&
			!cf_citus_same_args(trigger, args[spec->on_child]))
		{
			cf_drop_trigger(relid, spec->name);
			trigger = InvalidOid;
		}
		if (need[spec->on_child] != OidIsValid(trigger))
		{
			if (OidIsValid(trigger))
				cf_drop_trigger(relid, spec->name);
			else
			{
				create_trigger(spec, relname, args[spec->on_child]);
				trigger = get_trigger_oid(relid, spec->name, false);
				cf_depend_on_extension(trigger);
				placed_guard |= !spec->on_child;
			}
		}
		if (need[spec->on_child] && spec->on_child)
			child_triggers[nchild++] = trigger;
	}
	cf_end_as_owner(&owner);
	if (placed_guard)
		cf_warn_late_triggers(relid, NULL);
	if (nchild > 0 && catalog_mentions(relid, "child"))
		cf_condition_dependencies(relid, child_triggers, nchild);
}

/*
 * Makes the triggers on a table, and on its partitions and inheritance
 * children, match the catalog (see cf_sync_table_triggers).  Each trigger
 * depends on the extension, so that DROP EXTENSION removes it, and the child
 * triggers of a counted child on what the conditions of its counters use.
 */
void
cf_sync_triggers(Oid relid)
{
	ListCell   *lc;

	if (get_rel_name(relid) == NULL)
		return;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		cf_sync_table_triggers(lfirst_oid(lc));
}

/* Starts a scan of the pg_depend rows of a trigger as the dependent. */
static SysScanDesc
trigger_dependencies(Relation depend, Oid trigger)
{
	ScanKeyData key[3];

	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(TriggerRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigger));
	ScanKeyInit(&key[2], Anum_pg_depend_objsubid, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(0));
	return systable_beginscan(depend, DependDependerIndexId, true, NULL, 3, key);
}

/*
 * Makes a trigger depend on the extension, unless it already does, so that
 * DROP EXTENSION removes it.  Triggers that a restore creates get it here.
 */
void
cf_depend_on_extension(Oid trigger)
{
	Relation	depend;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;
	ObjectAddress address;
	ObjectAddress extension;

	ObjectAddressSet(extension, ExtensionRelationId, get_extension_oid("counterfield", false));
	depend = table_open(DependRelationId, AccessShareLock);
	scan = trigger_dependencies(depend, trigger);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		found = dep->refclassid == ExtensionRelationId && dep->refobjid == extension.objectId;
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);

	if (!found)
	{
		ObjectAddressSet(address, TriggerRelationId, trigger);
		recordDependencyOn(&address, &extension, DEPENDENCY_AUTO);
	}
}

/*
 * Returns the function a trigger executes.  Unless they are NULL, sets
 * *clone to whether it is the clone of a partitioned table's row trigger,
 * and *type to its pg_trigger.tgtype, or to -1 when it has a WHEN condition.
 */
Oid
cf_trigger_function(Oid trigger, bool *clone, int16 *type)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			function = InvalidOid;

	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigger));
	scan = systable_beginscan(rel, TriggerOidIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger form = (Form_pg_trigger) GETSTRUCT(tuple);

		function = form->tgfoid;
		if (clone != NULL)
			*clone = OidIsValid(form->tgparentid);
		if (type != NULL)
			*type = heap_attisnull(tuple, Anum_pg_trigger_tgqual, RelationGetDescr(rel)) ?
				form->tgtype : -1;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return function;
}

/*
 * Makes child triggers depend on what the conditions of the child's
 * counters use, as an index depends on what its predicate uses: dropping a
 * function that a condition calls needs CASCADE, which drops the trigger,
 * and sql_drop then removes the counter.  Columns of the child are AUTO
 * dependencies: dropping one drops the trigger and sql_drop removes the
 * counters that used it and puts the trigger back for the others.
 * Dependencies recorded for earlier conditions are removed first.  SPI is
 * connected.
 */
void
cf_condition_dependencies(Oid child, Oid *triggers, int ntriggers)
{
	List	   *conditions = NIL;
	ListCell   *lc;
	CatalogScan scan;

	/*
	 * Not on a distributed table of Citus: what such a dependency drops on
	 * the coordinator, Citus does not drop on the other nodes.  sql_drop
	 * removes a counter whose condition lost what it uses all the same.
	 */
	if (cf_citus_distributed(child))
		return;

	cf_catalog_scan(&scan, InvalidOid, false);
	while (cf_catalog_next(&scan))
	{
		Node	   *condition;

		if (cf_row_oid(&scan, CF_COL_CHILD) != child)
			continue;
		condition = cf_catalog_condition(scan.tuple, scan.desc);
		if (condition != NULL)
			conditions = lappend(conditions, condition);
	}

	for (int i = 0; i < ntriggers; i++)
	{
		Oid			function = cf_trigger_function(triggers[i], NULL, NULL);
		Relation	depend = table_open(DependRelationId, RowExclusiveLock);
		SysScanDesc scan = trigger_dependencies(depend, triggers[i]);
		HeapTuple	tuple;
		ObjectAddress address;

		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

			/* Keep what CREATE TRIGGER recorded and the extension membership. */
			if (dep->refclassid == ExtensionRelationId ||
				(dep->refclassid == RelationRelationId && dep->refobjid == child &&
				 dep->refobjsubid == 0) ||
				(dep->refclassid == ProcedureRelationId && dep->refobjid == function))
				continue;
			CatalogTupleDelete(depend, &tuple->t_self);
		}
		systable_endscan(scan);
		table_close(depend, RowExclusiveLock);
		CommandCounterIncrement();

		ObjectAddressSet(address, TriggerRelationId, triggers[i]);
		foreach(lc, conditions)
			recordDependencyOnSingleRelExpr(&address, lfirst(lc), child, DEPENDENCY_NORMAL,
											DEPENDENCY_AUTO, false);
	}
}

/*
 * Warns of the BEFORE row triggers on a table with counters, or only of the
 * one named only, that fire after the table's guard for an event: should
 * they change key columns, the guard has counted the row by its key as it
 * was.  Triggers fire in name order, and the guards' names sort late.
 */
void
cf_warn_late_triggers(Oid relid, const char *only)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TriggerDesc *trigdesc = rel->trigdesc;
	bool		guarded[2] = {false, false};
	const char *guards[2] = {CF_GUARD_INSERT, CF_GUARD_UPDATE};
	int16		events[2] = {TRIGGER_TYPE_INSERT, TRIGGER_TYPE_UPDATE};

	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
		for (int e = 0; e < 2; e++)
			guarded[e] |= strcmp(trigdesc->triggers[i].tgname, guards[e]) == 0;
	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];

		if (only != NULL && strcmp(trigger->tgname, only) != 0)
			continue;
		for (int e = 0; e < 2; e++)
		{
			if (!guarded[e] || strcmp(trigger->tgname, guards[e]) <= 0 ||
				!TRIGGER_TYPE_MATCHES(trigger->tgtype, TRIGGER_TYPE_ROW, TRIGGER_TYPE_BEFORE,
									  events[e]))
				continue;
			ereport(WARNING,
					(errmsg("trigger \"%s\" on table \"%s\" fires after counterfield's trigger \"%s\"",
							trigger->tgname, RelationGetRelationName(rel), guards[e]),
					 errdetail("Key columns that it changes are counted as they were before it fired."),
					 errhint("Give a trigger that changes key columns a name that sorts before \"%s\".",
							 guards[e])));
			break;
		}
	}
	table_close(rel, AccessShareLock);
}
