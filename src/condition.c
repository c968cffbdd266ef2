/*-------------------------------------------------------------------------
 *
 * condition.c
 *	  Conditions: parsing a condition as add_counter is given it, checking
 *	  that it is a partial-index-like predicate over the child's columns,
 *	  deparsing it into schema-qualified SQL, and reading the stored form
 *	  (a node tree of this cluster, else the SQL) back.
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


/* Does a raw expression tree contain a subquery? */
static bool
contains_sublink(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
		return true;
	return raw_expression_tree_walker(node, contains_sublink, context);
}

/* Reports errors in a condition against the condition's own text. */
static void
condition_error_callback(void *arg)
{
	const char *condition = arg;
	int			position = geterrposition();
	int			prefix = strlen("SELECT ");

	if (position > prefix)
	{
		errposition(0);
		internalerrposition(position - prefix);
		internalerrquery(condition);
	}
	else
		errcontext("counter condition: %s", condition);
}

/* Refuses conditions that are not a single expression. */
static void
condition_syntax_error(const char *condition)
{
	ereport(ERROR,
			(errcode(ERRCODE_SYNTAX_ERROR),
			 errmsg("invalid counter condition: %s", condition),
			 errdetail("A condition is a single boolean expression over the child's columns.")));
}

/*
 * Parses and checks a condition like a partial-index predicate: a boolean
 * expression over the child's own columns, with immutable functions only
 * and no subqueries.  counter_attnum is the counter column when the child is
 * its own parent (the condition may not use it), else InvalidAttrNumber.
 * All of it runs as the child's owner in a security-restricted operation:
 * parsing runs the input functions of literals (and so a domain's CHECK
 * constraint), and planning folds constants, which runs functions.  Names
 * are read under the search_path of the caller, which planning pins.
 */
Node *
cf_parse_condition(Relation child, AttrNumber counter_attnum, const char *condition)
{
	char	   *sql = psprintf("SELECT %s", condition);
	ErrorContextCallback errcallback;
	List	   *raw;
	SelectStmt *select;
	ResTarget  *target;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *expr;
	Bitmapset  *attnos = NULL;
	int			attno = -1;
	OwnerContext owner;
	OwnerContext planning;
	bool		mutable;

	errcallback.callback = condition_error_callback;
	errcallback.arg = (void *) condition;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	cf_begin_as_owner(child->rd_rel->relowner, CF_OWNER_SETTINGS, &owner);

	raw = cf_raw_parser(sql);
	if (list_length(raw) != 1 || !IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
		condition_syntax_error(condition);
	select = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
	if (list_length(select->targetList) != 1 || select->fromClause != NIL ||
		select->whereClause != NULL || select->groupClause != NIL ||
		select->havingClause != NULL || select->windowClause != NIL ||
		select->distinctClause != NIL || select->sortClause != NIL ||
		select->limitCount != NULL || select->limitOffset != NULL ||
		select->lockingClause != NIL || select->withClause != NULL ||
		select->intoClause != NULL || select->valuesLists != NIL ||
		select->op != SETOP_NONE)
		condition_syntax_error(condition);
	target = linitial(select->targetList);
	if (target->name != NULL ||
		(IsA(target->val, ColumnRef) &&
		 IsA(llast(((ColumnRef *) target->val)->fields), A_Star)))
		condition_syntax_error(condition);
	if (contains_sublink(target->val, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot use subquery in counter condition")));

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql;
	nsitem = addRangeTableEntryForRelation(pstate, child, AccessShareLock,
										   NULL, false, true);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	expr = transformExpr(pstate, target->val, EXPR_KIND_INDEX_PREDICATE);
	expr = coerce_to_boolean(pstate, expr, "counter condition");
	assign_expr_collations(pstate, expr);

	/* Planning folds constants, as conditions are planned when they run. */
	cf_begin_as_owner(child->rd_rel->relowner, CF_OWNER_PIN_PATH, &planning);
	mutable = contain_mutable_functions((Node *) expression_planner((Expr *) copyObject(expr)));
	cf_end_as_owner(&planning);
	if (mutable)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("functions in counter condition must be marked IMMUTABLE")));

	pull_varattnos(expr, 1, &attnos);
	while ((attno = bms_next_member(attnos, attno)) >= 0)
	{
		AttrNumber	attnum = attno + FirstLowInvalidHeapAttributeNumber;

		if (attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("cannot use system column in counter condition")));
		if (attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("cannot use a whole-row reference in counter condition")));
		if (attnum == counter_attnum)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("counter condition cannot use the counter column itself")));
	}
	free_parsestate(pstate);
	cf_end_as_owner(&owner);
	error_context_stack = errcallback.previous;
	return expr;
}

/*
 * Renders a condition as SQL over the child's current column names, with
 * every function, operator and type outside pg_catalog schema-qualified, so
 * that the text means the same under any search_path.
 */
char *
cf_deparse_condition(Node *condition, Oid child)
{
	int			nestlevel = cf_pin_search_path();
	char	   *sql;

	sql = deparse_expression(condition, deparse_context_for(get_rel_name(child), child),
							 false, false);
	AtEOXact_GUC(true, nestlevel);
	return sql;
}

/* The condition of a loaded counter as SQL, or NULL. */
char *
cf_condition_sql(CounterDef *def)
{
	if (!def->has_condition)
		return NULL;
	cf_condition_prepare(def);
	return cf_deparse_condition((Node *) def->condition, def->child_relid);
}

/* Is the condition tree of a catalog row from another cluster? */
bool
cf_condition_is_foreign(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		system = SPI_getbinval(tuple, desc, CF_COL_CONDITION_SYSTEM, &isnull);

	/* Rows of a catalog not yet updated to 0.3 have no stamp: trusted. */
	return !isnull && DatumGetInt64(system) != (int64) GetSystemIdentifier();
}

/* Parses a condition that counterfield rendered, under its search_path. */
Node *
cf_parse_stored_condition(Relation child, AttrNumber counter_attnum, const char *sql)
{
	int			nestlevel = cf_pin_search_path();
	Node	   *expr = cf_parse_condition(child, counter_attnum, sql);

	AtEOXact_GUC(true, nestlevel);
	return expr;
}

/*
 * Returns the condition of a row of cf_catalog_query() as a node tree, or
 * NULL when the counter has none.  A tree built in another cluster is
 * rebuilt from the condition's SQL.
 */
Node *
cf_catalog_condition(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		tree = SPI_getbinval(tuple, desc, CF_COL_CONDITION, &isnull);
	Relation	child;
	Node	   *expr;

	if (isnull)
		return NULL;
	if (!cf_condition_is_foreign(tuple, desc))
		return stringToNode(TextDatumGetCString(tree));

	child = table_open(DatumGetObjectId(SPI_getbinval(tuple, desc, CF_COL_CHILD, &isnull)),
					   AccessShareLock);
	expr = cf_parse_stored_condition(child, InvalidAttrNumber,
									 SPI_getvalue(tuple, desc, CF_COL_CONDITION_SQL));
	table_close(child, NoLock);
	return expr;
}

/*
 * Does a row of cf_catalog_query() have a condition?  Sets *tree to its node
 * tree, or to NULL when the tree comes from another cluster, and *sql to its
 * SQL, both allocated in the current memory context; nothing is parsed.
 */
bool
cf_catalog_has_condition(HeapTuple tuple, TupleDesc desc, char **tree, char **sql)
{
	bool		isnull;
	Datum		value = SPI_getbinval(tuple, desc, CF_COL_CONDITION, &isnull);

	*tree = NULL;
	*sql = NULL;
	if (isnull)
		return false;
	if (!cf_condition_is_foreign(tuple, desc))
		*tree = TextDatumGetCString(value);
	else
		*sql = SPI_getvalue(tuple, desc, CF_COL_CONDITION_SQL);
	return true;
}

/*
 * Runs cf_parse_stored_condition in a subtransaction: returns NULL instead of
 * failing, so that a condition that no longer parses cannot block DDL.
 */
Node *
cf_try_parse_stored_condition(Oid childid, const char *sql)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Node	   *volatile expr = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		Relation	child = table_open(childid, AccessShareLock);

		expr = cf_parse_stored_condition(child, InvalidAttrNumber, sql);
		table_close(child, NoLock);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		expr = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return expr;
}

/* Is the function gone? */
static bool
function_missing(Oid function, void *context pg_attribute_unused())
{
	return !SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(function));
}

/* Does an expression call a function that no longer exists? */
bool
cf_calls_missing_function(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, function_missing, context))
		return true;
	return expression_tree_walker(node, cf_calls_missing_function, context);
}
