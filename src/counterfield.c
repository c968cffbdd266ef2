/*-------------------------------------------------------------------------
 *
 * counterfield.c
 *	  Module entry point and settings; running as a table's owner and
 *	  whether a table runs user code; ownership checks; arrays that live for
 *	  one transaction (TxArray); helpers that quote names and operators for
 *	  SQL and build array parameters; and what SQL-callable and trigger
 *	  functions share: the caller check of trigger functions, the counters
 *	  a call asks for (CounterFilter) and the result sets of reports.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "counterfield.h"

PG_MODULE_MAGIC;

/* counterfield.enabled: when off, child writes are not counted */
bool		cf_enabled = true;

/* counterfield.prepare_lock_timeout: see cf_xact_callback */
int			cf_prepare_lock_timeout = 1000;

/* counterfield.citus_recount: see cf_citus_note_recount */
char	   *cf_citus_recount = NULL;

void		_PG_init(void);

/* Defines the settings and registers the callbacks of the module. */
void
_PG_init(void)
{
	DefineCustomBoolVariable("counterfield.enabled",
							 "Keeps counter columns up to date.",
							 "When off, writes to child tables are not counted; "
							 "run counterfield.reinit() afterwards.",
							 &cf_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("counterfield.citus_recount",
							   "Asks for a recount of counters on the shards of a Citus node.",
							   "Set by counterfield on a Citus coordinator; see citus.c.",
							   &cf_citus_recount,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("counterfield.prepare_lock_timeout",
							"Bounds waits for parent rows while a transaction prepares.",
							"A transaction prepared for two-phase commit (as Citus does on "
							"its nodes) applies its transaction-mode deltas then, and waits "
							"at most this long for a parent row; 0 leaves lock_timeout alone.",
							&cf_prepare_lock_timeout,
							1000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	cf_worker_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("counterfield");
#else
	EmitWarningsOnPlaceholders("counterfield");
#endif

	cf_cache_init();
	cf_state_init();
	cf_flush_init();
	cf_inflight_init();
}

/*
 * Sets search_path to pg_catalog, then pg_temp, until AtEOXact_GUC(true,
 * level) with the level returned: SQL that counterfield renders, parses or
 * runs with a condition in it is then read the same way whatever the
 * session's search_path is.
 */
int
cf_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Runs what follows as a table's owner in a security-restricted operation,
 * as REFRESH MATERIALIZED VIEW and CREATE INDEX run user expressions, until
 * cf_end_as_owner: the owner's code runs with the owner's privileges, never
 * the caller's, cannot change role or leave temporary objects behind, and
 * row-level security forced on the owner's tables does not hide rows from
 * it.  Flags: with CF_OWNER_SETTINGS, settings changed meanwhile are undone
 * at the end; with CF_OWNER_PIN_PATH, search_path is also pg_catalog,
 * pg_temp meanwhile, so that the caller's search_path cannot put the
 * caller's functions into the owner's code.  With CF_OWNER_NO_CODE, for
 * writes known to run PostgreSQL's code alone, the operation is not a
 * security-restricted one: it has no code of the owner's to restrict, and
 * the deferred constraints of the table (a DEFERRABLE INITIALLY DEFERRED
 * foreign key, as Django declares them) can queue their checks, which a
 * security-restricted operation refuses to do.
 */
void
cf_begin_as_owner(Oid owner, int flags, OwnerContext *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   ((flags & CF_OWNER_NO_CODE) ? 0 : SECURITY_RESTRICTED_OPERATION) |
						   SECURITY_NOFORCE_RLS);
	if (flags & CF_OWNER_PIN_PATH)
		saved->nestlevel = cf_pin_search_path();
	else if (flags & CF_OWNER_SETTINGS)
		saved->nestlevel = NewGUCNestLevel();
	else
		saved->nestlevel = 0;
}

/*
 * Tables that counterfield writes, with whether such a write can run code
 * of the table owner's that looks names up (see table_runs_user_code).  An
 * entry is dropped when the table's relcache entry is invalidated, and all
 * are when every relcache entry is (epoch).
 */
typedef struct WrittenTable
{
	Oid			relid;
	uint64		epoch;
	bool		runs_user_code;
} WrittenTable;

static HTAB *written_tables = NULL;
static uint64 written_epoch = 0;
static uint64 written_invalidations = 0;

/* Relcache invalidation: forgets what was found out about the table. */
void
cf_forget_written_table(Oid relid)
{
	written_invalidations++;
	if (!OidIsValid(relid))
		written_epoch++;
	else if (written_tables != NULL)
		(void) hash_search(written_tables, &relid, HASH_REMOVE, NULL);
}

/* Is the object built into PostgreSQL? */
static bool
built_in(Oid oid)
{
	return oid < FirstNormalObjectId;
}

/* Is a function one whose code is not a built-in immutable function's? */
static bool
user_function(Oid func, void *context pg_attribute_unused())
{
	return !built_in(func) || func_volatile(func) != PROVOLATILE_IMMUTABLE;
}

/* Does an expression call such a function, or check a domain's constraints? */
static bool
calls_user_code(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, CoerceToDomain) || check_functions_in_node(node, user_function, context))
		return true;
	return expression_tree_walker(node, calls_user_code, context);
}

/*
 * Can counterfield's UPDATE of the table run code of the owner's, whose
 * functions look names up under search_path: a trigger other than
 * counterfield's and PostgreSQL's internal ones, an internal one that writes
 * another table (ON UPDATE CASCADE, SET NULL or SET DEFAULT of a foreign key
 * that references the table, whose key may hold a counter column), a rule,
 * a CHECK constraint that calls a function that is not a built-in immutable
 * one (immutable functions look nothing up) or casts to a domain, a
 * foreign key whose equality operators are not built in, a stored
 * generated column, an index that is not a plain built-in one (its
 * expressions, predicate, exclusion operators or operator classes), a
 * column of a type that is not built in (its operators), partitions or
 * inheritance children with objects of their own, or a partition constraint
 * (its key may be an expression that calls functions)?  When none of these
 * is there, the UPDATE runs PostgreSQL's code alone.
 */
static bool
table_runs_user_code(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			extension = get_extension_oid("counterfield", true);
	ListCell   *lc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhassubclass ||
		rel->rd_rel->relispartition || rel->rd_rules != NULL ||
		(desc->constr != NULL && desc->constr->has_generated_stored))
		return true;
	for (int i = 0; desc->constr != NULL && i < desc->constr->num_check; i++)
		if (calls_user_code((Node *) stringToNode(desc->constr->check[i].ccbin), NULL))
			return true;
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);

		for (int k = 0; k < fk->nkeys; k++)
			if (!built_in(fk->conpfeqop[k]))
				return true;
	}
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && !built_in(TupleDescAttr(desc, i)->atttypid))
			return true;
	for (int i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &rel->trigdesc->triggers[i];

		if (trigger->tgisinternal ?
			(!built_in(trigger->tgfoid) || trigger->tgfoid == F_RI_FKEY_CASCADE_UPD ||
			 trigger->tgfoid == F_RI_FKEY_SETNULL_UPD ||
			 trigger->tgfoid == F_RI_FKEY_SETDEFAULT_UPD) :
			(!OidIsValid(extension) ||
			 getExtensionOfObject(ProcedureRelationId, trigger->tgfoid) != extension))
			return true;
	}
	foreach(lc, RelationGetIndexList(rel))
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		bool		user = (!built_in(index->rd_rel->relam) ||
							index->rd_index->indisexclusion ||
							RelationGetIndexExpressions(index) != NIL ||
							RelationGetIndexPredicate(index) != NIL);

		for (int k = 0; k < index->rd_index->indnkeyatts && !user; k++)
			user = !built_in(index->rd_opfamily[k]) || !built_in(index->rd_opcintype[k]);
		index_close(index, AccessShareLock);
		if (user)
			return true;
	}
	return false;
}

/* table_runs_user_code, remembered until the table changes. */
static bool
written_table_runs_user_code(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	WrittenTable *entry;
	uint64		invalidations;
	bool		user;
	bool		found;

	if (written_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(WrittenTable);
		ctl.hcxt = TopMemoryContext;
		written_tables = hash_create("counterfield written tables", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(written_tables, &relid, HASH_FIND, NULL);
	if (entry != NULL && entry->epoch == written_epoch)
	{
		table_close(rel, NoLock);
		return entry->runs_user_code;
	}

	/* Kept only if no invalidation arrived while the indexes were opened. */
	invalidations = written_invalidations;
	user = table_runs_user_code(rel);
	table_close(rel, NoLock);
	if (invalidations == written_invalidations)
	{
		entry = hash_search(written_tables, &relid, HASH_ENTER, &found);
		entry->epoch = written_epoch;
		entry->runs_user_code = user;
	}
	return user;
}

/*
 * Runs what follows as the owner of a table that counterfield writes (a
 * parent), as cf_begin_as_owner does.  When the write can run code of the
 * owner's (see table_runs_user_code), settings changed meanwhile are undone
 * at the end, and search_path is pg_catalog, the table's schema, pg_temp
 * meanwhile: the table's triggers find pg_catalog's objects first, then
 * those of their own table's schema, and never objects that the caller's
 * search_path names.
 */
void
cf_begin_as_table_owner(Oid relid, Oid owner, OwnerContext *saved)
{
	char	   *schema;
	char	   *path;

	if (!written_table_runs_user_code(relid))
	{
		cf_begin_as_owner(owner, CF_OWNER_NO_CODE, saved);
		return;
	}
	schema = get_namespace_name(get_rel_namespace(relid));
	if (schema == NULL)
		elog(ERROR, "cache lookup failed for the schema of relation %u", relid);
	cf_begin_as_owner(owner, CF_OWNER_SETTINGS, saved);
	path = psprintf("pg_catalog, %s, pg_temp", quote_identifier(schema));
	if (namespace_search_path == NULL || strcmp(namespace_search_path, path) != 0)
		(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	pfree(path);
}

/* Returns to the user and settings saved by cf_begin_as_owner. */
void
cf_end_as_owner(OwnerContext *saved)
{
	if (saved->nestlevel > 0)
		AtEOXact_GUC(false, saved->nestlevel);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/*
 * Refuses a parent table with an INSTEAD rule for UPDATE, conditional or
 * not: it would rewrite counterfield's updates of its counters, and they
 * would be lost.
 */
void
cf_check_update_rules(Relation rel)
{
	for (int i = 0; rel->rd_rules != NULL && i < rel->rd_rules->numLocks; i++)
		if (rel->rd_rules->rules[i]->event == CMD_UPDATE && rel->rd_rules->rules[i]->isInstead)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot keep counters in table \"%s\"", RelationGetRelationName(rel)),
					 errdetail("An INSTEAD rule on the table rewrites the updates of its counters."),
					 errhint("Drop the rule, or the counters of the table.")));
}

/*
 * Returns an array of elements of the given size with room for element n,
 * allocated in cxt and doubled (to *max elements) when it is full.
 */
void *
cf_grow_array(void *array, int n, int *max, Size size, MemoryContext cxt)
{
	if (n < *max)
		return array;
	*max = Max(16, *max * 2);
	return array == NULL ? MemoryContextAlloc(cxt, size * *max) : repalloc(array, size * *max);
}

/*
 * Appends "left = right" for key column k (0-based), after " AND " but for
 * the first: the equality operator of the column's type, schema-qualified,
 * under the column's collation (the one that the unique index on the key
 * compares with), or none.
 */
void
cf_append_key_equal(StringInfo sql, int k, const char *left, const char *right, Oid type,
					Oid collation)
{
	appendStringInfo(sql, "%s%s %s %s%s", k > 0 ? " AND " : "", left,
					 cf_operator_sql(cf_equality_operator(type)), right,
					 cf_collate_sql(collation));
}

/* A one-dimensional array of n elements of a type, as a datum. */
Datum
cf_array_of(Oid type, Datum *elems, int n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, type, typlen, typbyval, typalign));
}

/*
 * Builds statement parameters from items: an array of each of their nkeys
 * key columns, of the given types, then one of their deltas.
 */
void
cf_item_arrays(int nkeys, Oid *types, FlushItem *items, int nitems, Datum *params)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(nitems, 1));

	for (int k = 0; k <= nkeys; k++)
	{
		for (int i = 0; i < nitems; i++)
			elems[i] = k < nkeys ? items[i].values[k] : Int64GetDatum(items[i].delta);
		params[k] = cf_array_of(k < nkeys ? types[k] : INT8OID, elems, nitems);
	}
	pfree(elems);
}

/*
 * The entries of an array that lives for one transaction, and how many in
 * *n; those of an earlier transaction are forgotten first.  The caller may
 * drop entries from the end by lowering array->n.
 */
void *
cf_tx_entries(TxArray *array, int *n)
{
	if (array->lxid != CF_CURRENT_LXID())
		array->n = 0;
	array->lxid = CF_CURRENT_LXID();
	*n = array->n;
	return array->entries;
}

/* Empties an array that lives for one transaction. */
void
cf_tx_clear(TxArray *array)
{
	array->n = 0;
	array->lxid = CF_CURRENT_LXID();
}

/*
 * Takes the entries of an array that lives for one transaction: returns a
 * copy of them in the current memory context, and empties the array, so
 * that what runs on them may note new ones.
 */
void *
cf_tx_take(TxArray *array, int *n)
{
	void	   *entries = cf_tx_entries(array, n);

	if (*n == 0)
		return NULL;
	entries = memcpy(palloc(array->entrysize * *n), entries, array->entrysize * *n);
	cf_tx_clear(array);
	return entries;
}

/* Appends a zeroed entry to an array that lives for one transaction. */
void *
cf_tx_append(TxArray *array)
{
	int			n;
	char	   *entry;

	(void) cf_tx_entries(array, &n);
	array->entries = cf_grow_array(array->entries, n, &array->max, array->entrysize,
								   TopMemoryContext);
	entry = (char *) array->entries + n * array->entrysize;
	array->n = n + 1;
	memset(entry, 0, array->entrysize);
	return entry;
}

/*
 * Finds the entry of a relation in a table of relations that lives for one
 * transaction.  With add, a missing entry is added, zeroed but for the
 * relation's OID, and *added (if given) says so; without, NULL is returned
 * for it.
 */
void *
cf_tx_relation(TxArray *set, Oid relid, bool add, bool *added)
{
	int			n;
	char	   *entries = cf_tx_entries(set, &n);
	char	   *entry;

	if (added != NULL)
		*added = false;
	for (int i = 0; i < n; i++)
	{
		entry = entries + i * set->entrysize;
		if (*(Oid *) entry == relid)
			return entry;
	}
	if (!add)
		return NULL;
	entry = cf_tx_append(set);
	*(Oid *) entry = relid;
	if (added != NULL)
		*added = true;
	return entry;
}

/*
 * Does the current user own a relation or an extension (classid
 * RelationRelationId or ExtensionRelationId), or is it a superuser?
 */
bool
cf_owns_object(Oid classid, Oid objectid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(classid, objectid, GetUserId());
#else
	if (classid == ExtensionRelationId)
		return pg_extension_ownercheck(objectid, GetUserId());
	return pg_class_ownercheck(objectid, GetUserId());
#endif
}

/* Is a function one of counterfield's own (a member of the extension)? */
bool
cf_function_is_ours(Oid function)
{
	Oid			extension = get_extension_oid("counterfield", true);

	return OidIsValid(function) && OidIsValid(extension) &&
		getExtensionOfObject(ProcedureRelationId, function) == extension;
}

/* Does the current user own a relation (or is it a superuser)? */
bool
cf_owns_relation(Oid relid)
{
	return cf_owns_object(RelationRelationId, relid);
}

/* Returns the owner of a relation. */
Oid
cf_relation_owner(Oid relid)
{
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Returns the schema-qualified, quoted name of a relation for use after FROM
 * or UPDATE: with its inheritance children when descendants is true (a
 * child's rows are also those of the tables that inherit from it), else
 * with ONLY for tables that are not partitioned.
 */
char *
cf_relation_sql(Oid relid, bool descendants)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return psprintf("%s%s",
					descendants || get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ?
					"" : "ONLY ",
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											   relname));
}

/* Returns the quoted name of a column. */
char *
cf_column_sql(Oid relid, AttrNumber attnum)
{
	return pstrdup(quote_identifier(get_attname(relid, attnum, false)));
}

/* Returns " COLLATE schema.name" for a collation, or "" for none. */
char *
cf_collate_sql(Oid collation)
{
	HeapTuple	tuple;
	Form_pg_collation form;
	char	   *result;

	if (!OidIsValid(collation))
		return "";
	tuple = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for collation %u", collation);
	form = (Form_pg_collation) GETSTRUCT(tuple);
	result = psprintf(" COLLATE %s",
					  quote_qualified_identifier(get_namespace_name(form->collnamespace),
												 NameStr(form->collname)));
	ReleaseSysCache(tuple);
	return result;
}

/* Returns OPERATOR(schema.name) for an operator. */
char *
cf_operator_sql(Oid oprid)
{
	HeapTuple	tuple;
	Form_pg_operator form;
	char	   *result;

	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(oprid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for operator %u", oprid);
	form = (Form_pg_operator) GETSTRUCT(tuple);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(form->oprnamespace)),
					  NameStr(form->oprname));
	ReleaseSysCache(tuple);
	return result;
}

/* Returns the default equality operator of a type. */
Oid
cf_equality_operator(Oid type)
{
	TypeCacheEntry *typentry = lookup_type_cache(type, TYPECACHE_EQ_OPR);

	if (!OidIsValid(typentry->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(type))));
	return typentry->eq_opr;
}

/*
 * Renders a key as a row literal, the way record_out does: (42), (7,main),
 * ("a b").
 */
char *
cf_key_text(int nkeys, Oid *types, Datum *values)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int k = 0; k < nkeys; k++)
	{
		Oid			output;
		bool		varlena;
		char	   *text;
		bool		quote;

		if (k > 0)
			appendStringInfoChar(&buf, ',');
		getTypeOutputInfo(types[k], &output, &varlena);
		text = OidOutputFunctionCall(output, values[k]);

		quote = (text[0] == '\0');
		for (char *p = text; *p && !quote; p++)
			quote = (*p == '"' || *p == '\\' || *p == '(' || *p == ')' ||
					 *p == ',' || isspace((unsigned char) *p));
		if (!quote)
		{
			appendStringInfoString(&buf, text);
			continue;
		}
		appendStringInfoChar(&buf, '"');
		for (char *p = text; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, *p);
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* Sets up a set-returning function in materialize mode. */
Tuplestorestate *
cf_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcxt;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	*desc = CreateTupleDescCopy(*desc);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = *desc;
	return store;
}

/*
 * The TriggerData (or, with event, the EventTriggerData) of a call of a
 * trigger function, which only the trigger manager (or the event trigger
 * manager) may call.
 */
void *
cf_trigger_context(FunctionCallInfo fcinfo, const char *funcname, bool event)
{
	if (event ? !CALLED_AS_EVENT_TRIGGER(fcinfo) : !CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 event ?
				 errmsg("function \"%s\" was not called by event trigger manager", funcname) :
				 errmsg("function \"%s\" was not called by trigger manager", funcname)));
	return fcinfo->context;
}

/* The counters a call asks for, by its arguments (parent, counter_column). */
void
cf_filter_args(FunctionCallInfo fcinfo, CounterFilter *filter)
{
	filter->parent = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	filter->column = PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1));
}

/* Is a counter among those a call asks for? */
bool
cf_filter_includes(CounterFilter *filter, CounterDef *def)
{
	return (!OidIsValid(filter->parent) || def->parent_relid == filter->parent) &&
		(filter->column == NULL ||
		 strcmp(filter->column, get_attname(def->parent_relid, def->counter_attnum, false)) == 0);
}

/*
 * Starts a report on counters, verify() or unfolded(): sets up the result
 * set and reads the counters asked for.  A parent that the caller may not
 * read is refused by refuse() before anything else looks at it.
 */
Tuplestorestate *
cf_report_begin(FunctionCallInfo fcinfo, TupleDesc *desc, CounterFilter *filter,
				void (*refuse) (Oid parent))
{
	Tuplestorestate *store = cf_srf_begin(fcinfo, desc);

	cf_filter_args(fcinfo, filter);
	if (OidIsValid(filter->parent) && !cf_may_read_table(filter->parent))
		refuse(filter->parent);
	return store;
}
