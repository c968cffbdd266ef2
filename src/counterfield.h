/*-------------------------------------------------------------------------
 *
 * counterfield.h
 *	  Shared declarations of the counterfield extension.
 *
 * Counters are kept by statement-level AFTER triggers on the child table,
 * which read the statement's transition tables, turn every counted row into
 * a +1 or -1 delta for its parent key, and either apply them at the end of
 * the statement or store them in a backend-local state cache until commit.
 * Deltas are applied once per distinct parent key, in ascending key order:
 * an UPDATE per key, or for many keys one UPDATE that locks and updates
 * them in that order.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COUNTERFIELD_H
#define COUNTERFIELD_H

#include "postgres.h"

#include "access/attnum.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/execdesc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/rel.h"
#include "utils/snapshot.h"
#include "utils/sortsupport.h"

/* Local transaction id of the current top-level transaction. */
#if PG_VERSION_NUM >= 170000
#define CF_CURRENT_LXID() (MyProc->vxid.lxid)
#else
#define CF_CURRENT_LXID() (MyProc->lxid)
#endif

#define CF_SCHEMA		"counterfield"
#define CF_CATALOG		"counter"

/* The triggers add_counter places on a child table, one per event */
#define CF_CHILD_INSERT		"counterfield_insert"
#define CF_CHILD_UPDATE		"counterfield_update"
#define CF_CHILD_DELETE		"counterfield_delete"
#define CF_CHILD_TRUNCATE	"counterfield_truncate"
#define CF_CHILD_TRUNCATE_BEFORE	"counterfield_truncate_before"

/*
 * The parent's guards; counterfield's own UPDATEs run without the second.
 * BEFORE row triggers fire in name order, and the guards count a new or
 * re-keyed row by its key as it stands when they fire, so their names sort
 * after those of the parent's other triggers.  Before 0.5 they had the
 * names of CF_GUARD_*_0_4, which a dump taken then still carries.
 */
#define CF_GUARD_INSERT		"zzz_counterfield_guard_insert"
#define CF_GUARD_UPDATE		"zzz_counterfield_guard_update"
#define CF_GUARD_INSERT_0_4	"counterfield_guard_insert"
#define CF_GUARD_UPDATE_0_4	"counterfield_guard_update"

/* The types a counter column may have; a sum's may also be numeric */
#define CF_COUNTER_TYPE(type) \
	((type) == INT2OID || (type) == INT4OID || (type) == INT8OID)

/* Columns of the result of cf_catalog_query(), one row per counter. */
typedef enum CatalogColumn
{
	CF_COL_ID = 1,
	CF_COL_PARENT,
	CF_COL_COUNTER_ATTNUM,
	CF_COL_CHILD,
	CF_COL_FK_ATTNUMS,
	CF_COL_PARENT_ATTNUMS,
	CF_COL_CONDITION,			/* node tree, valid in condition_system */
	CF_COL_TRANSACTIONAL,
	CF_COL_COUNTER_COLUMN,		/* names and condition text: the portable */
	CF_COL_FK_COLUMNS,			/* definition, which a restore resolves */
	CF_COL_PARENT_COLUMNS,
	CF_COL_CONDITION_SQL,
	CF_COL_CONDITION_SYSTEM,	/* system identifier of the tree's cluster */
	CF_COL_DEFERRED,			/* flush => 'deferred' */
	CF_COL_SUM_ATTNUM,			/* sum_column's number, or null */
	CF_COL_SUM_COLUMN,			/* its name */
	CF_COL_THROUGH,				/* intermediate tables (oid[]), or null */
	CF_COL_THROUGH_FKS,			/* names of the hops' foreign keys */
	CF_COL_THROUGH_FK_OIDS		/* and their OIDs */
} CatalogColumn;

/*
 * The counters that verify(), unfolded() or fold() is asked for: those of a
 * parent table, the one on a counter column, or all (InvalidOid and NULL
 * when not given).  See cf_filter_args.
 */
typedef struct CounterFilter
{
	Oid			parent;
	char	   *column;
} CounterFilter;

/* The rows of cf_catalog_query(), one at a time: see cf_catalog_scan. */
typedef struct CatalogScan
{
	SPITupleTable *rows;
	uint64		next;
	HeapTuple	tuple;			/* the current row */
	TupleDesc	desc;
} CatalogScan;

typedef struct CounterTarget CounterTarget;
typedef struct KeyLayout KeyLayout;

/*
 * One hop of a counter that counts through intermediate tables: the
 * foreign key of lower (the child, or an intermediate) that references
 * upper (the next intermediate, or the parent).
 */
typedef struct CounterHop
{
	Oid			lower;
	Oid			upper;
	Oid			constraint;
	int			nkeys;
	AttrNumber	lower_attnums[INDEX_MAX_KEYS];
	AttrNumber	upper_attnums[INDEX_MAX_KEYS];
	Oid			lower_types[INDEX_MAX_KEYS];
	int16		lower_typlen[INDEX_MAX_KEYS];
	bool		lower_byval[INDEX_MAX_KEYS];
	Oid			upper_types[INDEX_MAX_KEYS];
	Oid			collations[INDEX_MAX_KEYS]; /* of the upper key columns */
	SPIPlanPtr	resolve_plan;	/* lower's key values to parent keys (link.c) */
	SPIPlanPtr	subtree_plan;	/* lower's rows: what the child rows under
								 * them add */
} CounterHop;

/*
 * One counter, as loaded from counterfield.counter.  Lives in the memory
 * context of its definition generation (CounterDefs).
 */
typedef struct CounterDef
{
	int32		id;
	Oid			parent_relid;
	AttrNumber	counter_attnum;
	Oid			child_relid;
	Oid			child_owner;
	int			nkeys;
	AttrNumber	fk_attnums[INDEX_MAX_KEYS];
	Oid			fk_types[INDEX_MAX_KEYS];
	int16		fk_typlen[INDEX_MAX_KEYS];
	bool		fk_typbyval[INDEX_MAX_KEYS];
	KeyLayout  *layout;			/* how its parent keys compare, in the state
								 * cache */
	bool		has_condition;
	char	   *condition_tree; /* as the catalog stores it, or NULL */
	char	   *condition_sql;	/* to build it again, for a foreign tree */
	Expr	   *condition;		/* planned, by cf_condition_prepare; Vars are
								 * child attnums */
	ExprState  *condition_state;	/* built with it */
	MemoryContext cxt;			/* of the definitions it belongs to */
	bool		transactional;	/* its deltas wait for commit: flush =>
								 * 'transaction', or 'deferred' */
	bool		deferred;		/* flush => 'deferred': see ledger.c */
	AttrNumber	sum_attnum;		/* child column summed, or InvalidAttrNumber:
								 * the counter counts rows */
	Oid			sum_type;		/* its type */
	int			sum_scale;		/* a numeric sum's deltas count whole units of
								 * 10^-sum_scale; 0 otherwise */
	Datum		sum_up;			/* numeric 10^sum_scale, and 10^-sum_scale */
	Datum		sum_down;
	Oid			counter_type;	/* type of the counter column */
	int			nhops;			/* with through: hops from the child to the
								 * parent, one more than the intermediates; 0
								 * otherwise */
	CounterHop *hops;			/* hops[0] is the child's foreign key */
	CounterTarget *target;		/* parent table and key it updates */
	int			target_slot;	/* index of this counter in target->counters */
	SPIPlanPtr	count_plan;		/* counts the children of one key */
	SPIPlanPtr	recount_plan;	/* sets the counter of one key */
} CounterDef;

/*
 * A parent table together with the key columns its counters use, and
 * whether they are deferred.  All counters of one target are applied by a
 * single UPDATE per key, or recorded together in the ledger.
 */
struct CounterTarget
{
	Oid			parent_relid;
	Oid			parent_owner;
	int			nkeys;
	AttrNumber	attnums[INDEX_MAX_KEYS];
	Oid			types[INDEX_MAX_KEYS];
	Oid			collations[INDEX_MAX_KEYS];
	SortSupportData sort[INDEX_MAX_KEYS];	/* btree order of each key column */
	KeyLayout  *layout;			/* how its keys hash, for key locks */
	List	   *counters;		/* CounterDef *, in id order */
	bool		deferred;		/* its counters are deferred ones */
	bool		numeric;		/* a counter column is numeric */
	SPIPlanPtr	ledger_plan;	/* deferred: records deltas */
	bool		ledger_hashed;	/* deferred: the ledger holds its keys'
								 * hashes, not 0 (see cf_ledger_hashes) */
	SPIPlanPtr	update_plan;	/* one key */
	SPIPlanPtr	row_lock_plan;	/* one key: lock its row */
	SPIPlanPtr	lock_plan;		/* a batch of keys: lock in key order */
	SPIPlanPtr	batch_plan;		/* a batch of keys: update */
};

/* Counters of one parent table, at most: each has a column of its own. */
#define MAX_TARGET_COUNTERS MaxHeapAttributeNumber

/* The counters that involve one relation, as child and as parent. */
/*
 * The counters that involve one relation, as child and as parent.  The rows
 * of a child's partitions and inheritance children are its rows too: such a
 * descendant shares the child's as_child list, and root names the child.
 */
typedef struct RelCounters
{
	Oid			relid;			/* hash key */
	Oid			root;			/* the counted child relid belongs to, or
								 * InvalidOid */
	List	   *as_child;		/* CounterDef *, counting rows of relid */
	List	   *as_parent;		/* CounterDef *, stored in relid */
	List	   *as_link;		/* CounterDef *, counting through relid */
} RelCounters;

/* One generation of loaded counter definitions. */
typedef struct CounterDefs
{
	MemoryContext cxt;
	int			ncounters;
	CounterDef *counters;		/* sorted by id */
	int			ntargets;
	CounterTarget *targets;
	struct HTAB *by_rel;		/* Oid -> RelCounters */
	bool		has_conditions; /* does any counter have a condition? */
	uint64		generation;		/* numbers the generations of a backend */
} CounterDefs;

/*
 * One delta of a counter and parent key to apply: taken from the state
 * cache, read from the ledger, or straight from a statement's rows.
 */
typedef struct FlushItem
{
	int32		counter_id;
	CounterDef *def;			/* resolved by cf_apply */
	Datum	   *values;			/* parent key */
	int64		delta;
} FlushItem;

/*
 * What cf_apply does with deltas whose parent row it does not find.  With
 * none given (a statement's flush), they are kept until commit; at commit,
 * they are collected here, and looked for again once their keys are
 * locked, with a fresh snapshot (keylock.c); then they are dropped.
 */
typedef struct MissingKeys
{
	Snapshot	snapshot;		/* to find parent rows with, or
								 * InvalidSnapshot */
	bool		collect;		/* collect them, or drop them */
	bool		looked_again;	/* for a committed row, once */
	MemoryContext cxt;			/* to collect them in */
	FlushItem  *items;
	int			nitems;
	int			maxitems;
} MissingKeys;

/* The caller's user and settings, while code runs as a table's owner. */
typedef struct OwnerContext
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;		/* GUC nest level, or 0 */
} OwnerContext;

/*
 * An array of entries of entrysize bytes, in TopMemoryContext, that lives
 * for one transaction: the first use in a later transaction finds it empty
 * (see cf_tx_entries).  Used as a table of relations (cf_tx_relation), its
 * entries start with the relation's OID.
 */
typedef struct TxArray
{
	Size		entrysize;
	void	   *entries;
	int			n;
	int			max;
	LocalTransactionId lxid;
} TxArray;

/* counterfield.c */
extern bool cf_enabled;
extern char *cf_citus_recount;
extern int	cf_prepare_lock_timeout;
extern int	cf_pin_search_path(void);
#define CF_OWNER_SETTINGS	0x01	/* undo settings changed meanwhile */
#define CF_OWNER_PIN_PATH	0x02	/* that, and search_path pg_catalog,
									 * pg_temp */
#define CF_OWNER_NO_CODE	0x04	/* PostgreSQL's code alone runs: no
									 * restriction */
extern void cf_begin_as_owner(Oid owner, int flags, OwnerContext *saved);
extern void cf_begin_as_table_owner(Oid relid, Oid owner, OwnerContext *saved);
extern void cf_forget_written_table(Oid relid);
extern void cf_end_as_owner(OwnerContext *saved);
extern void cf_check_update_rules(Relation rel);
extern void *cf_grow_array(void *array, int n, int *max, Size size, MemoryContext cxt);
extern void *cf_tx_entries(TxArray *array, int *n);
extern void cf_tx_clear(TxArray *array);
extern void *cf_tx_take(TxArray *array, int *n);
extern void *cf_tx_append(TxArray *array);
extern void *cf_tx_relation(TxArray *set, Oid relid, bool add, bool *added);
extern bool cf_owns_object(Oid classid, Oid objectid);
extern bool cf_function_is_ours(Oid function);
extern bool cf_owns_relation(Oid relid);
extern Oid	cf_relation_owner(Oid relid);
extern char *cf_relation_sql(Oid relid, bool descendants);
extern char *cf_column_sql(Oid relid, AttrNumber attnum);
extern char *cf_collate_sql(Oid collation);
extern char *cf_operator_sql(Oid oprid);
extern Oid	cf_equality_operator(Oid type);
extern char *cf_key_text(int nkeys, Oid *types, Datum *values);
extern void cf_append_key_equal(StringInfo sql, int k, const char *left, const char *right,
								Oid type, Oid collation);
extern Datum cf_array_of(Oid type, Datum *elems, int n);
extern void cf_item_arrays(int nkeys, Oid *types, FlushItem *items, int nitems, Datum *params);
extern void *cf_trigger_context(FunctionCallInfo fcinfo, const char *funcname, bool event);
extern struct Tuplestorestate *cf_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc);
extern void cf_filter_args(FunctionCallInfo fcinfo, CounterFilter *filter);
extern bool cf_filter_includes(CounterFilter *filter, CounterDef *def);
extern struct Tuplestorestate *cf_report_begin(FunctionCallInfo fcinfo, TupleDesc *desc,
											   CounterFilter *filter,
											   void (*refuse) (Oid parent));

/* spi.c */
extern Datum cf_spi_value(uint64 row, int column, bool *isnull);
extern void cf_spi_connect(void);
extern void cf_spi_run(const char *sql, int nargs, Oid *types, Datum *values,
					   const char *nulls, bool read_only, int expected);
extern bool cf_plan_is_current(SPIPlanPtr *plan);
extern SPIPlanPtr cf_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes);
extern SPIPlanPtr cf_keep_plan_options(SPIPlanPtr *slot, const char *sql, int nargs,
									   Oid *argtypes, int options);

/*
 * The true values of a counter, read as the relation "c" with columns cf_k1,
 * ... (the parent key) and cf_n (the count), by a statement on the parent
 * that then runs as prepared by cf_truth_begin, until cf_truth_end: as the parent's owner,
 * in a security-restricted operation, with search_path pg_catalog, the
 * parent's schema, pg_temp, as when counterfield counts a write (see
 * cf_begin_as_table_owner).  "c" is counterfield.counts(), which counts the child as
 * the child's owner, conditions and all, with search_path pinned: each
 * owner reads only its own table, and conditions never run as another role
 * or under the caller's search_path.  The counts stream through a
 * tuplestore, so a child of any size fits.
 */
typedef struct Truth
{
	char	   *relation;		/* SQL for the FROM list: ... AS c */
	OwnerContext owner;
} Truth;

/* truth.c */
extern char *cf_counts_sql(CounterDef *def, const char *relation);
extern char *cf_key_join_sql(CounterDef *def, const char *p, const char *s);
extern void cf_truth_begin(CounterDef *def, Truth *truth);
extern SPIPlanPtr cf_truth_plan(const char *sql);
extern void cf_truth_end(Truth *truth);
extern void cf_lock_counter_tables(Oid child, Oid parent);
extern int64 cf_reinit_counter(CounterDef *def);

/* api.c */
extern CounterDef *cf_lookup_counter(CounterDefs *defs, Oid parent, const char *column);

/* catalog.c */
extern bool cf_may_read_table(Oid relid);
extern AttrNumber cf_column_attnum(Oid relid, const char *name);
extern int	cf_names_to_attnums(Relation rel, ArrayType *names, const char *argname,
								AttrNumber *attnums);
extern Datum cf_attnums_array(AttrNumber *attnums, int n);
extern Datum cf_attnames_array(Oid relid, AttrNumber *attnums, int n);
extern void cf_check_parent_tables(Oid parent, int nkeys, const AttrNumber *attnums,
								   Oid relid);
extern int32 cf_find_counter(Oid parent, AttrNumber attnum, Oid *child);
extern void cf_catalog_write(const char *sql, int nargs, Oid *types, Datum *values,
							 const char *nulls, int expected);
extern List *cf_catalog_through(int32 id);
extern bool cf_catalog_has(const char *where, int nargs, Oid *types, Datum *values,
						   bool read_only);
extern void cf_catalog_scan(CatalogScan *scan, Oid catalog, bool read_only);
extern bool cf_catalog_next(CatalogScan *scan);
extern Oid	cf_row_oid(CatalogScan *scan, int column);
extern AttrNumber cf_row_attnum(CatalogScan *scan, int column);
extern List *cf_oid_list(Datum array);

/* citus.c */
extern bool cf_citus_shard_trigger(const char *name, const char *expected);
extern Oid	cf_citus_shell_of(Oid relid);
extern void cf_citus_drop_shard_triggers(Oid relid, const char *name);
extern void cf_citus_drop_shell_trigger(Oid shell, const char *name);
extern void cf_citus_allow_triggers(void);
extern void cf_citus_check_counter(Oid parent, Oid child, Oid *through, int nthrough,
								   int nkeys, const AttrNumber *fk_attnums,
								   const AttrNumber *parent_attnums, bool deferred);
extern bool cf_citus_distributed(Oid relid);
extern List *cf_citus_trigger_args(Oid relid, bool as_child);
extern bool cf_citus_same_args(Oid trigger, List *args);
extern bool cf_citus_counting_shard(TriggerData *trigdata, const char *expected);
extern void cf_citus_adopt(TriggerData *trigdata, bool as_child);
extern void cf_citus_note_recount(Oid relid, RelCounters *rc);
extern void cf_citus_recount_noted(void);
extern bool cf_citus_recount_shards(CounterDef *def);
extern void cf_citus_forget_counter(Oid parent, AttrNumber attnum, Oid child);
extern bool cf_citus_truncated(Oid relid);
extern void cf_citus_sync_at_commit(Oid relid);
extern void cf_citus_sync_noted(void);

/* condition.c */
extern Node *cf_parse_condition(Relation child, AttrNumber counter_attnum,
								const char *condition);
extern char *cf_deparse_condition(Node *condition, Oid child);
extern char *cf_condition_sql(CounterDef *def);
extern bool cf_condition_is_foreign(HeapTuple tuple, TupleDesc desc);
extern Node *cf_parse_stored_condition(Relation child, AttrNumber counter_attnum,
									   const char *sql);
extern Node *cf_catalog_condition(HeapTuple tuple, TupleDesc desc);
extern bool cf_catalog_has_condition(HeapTuple tuple, TupleDesc desc, char **tree, char **sql);
extern Node *cf_try_parse_stored_condition(Oid childid, const char *sql);
extern bool cf_calls_missing_function(Node *node, void *context);

/* triggers.c */
extern bool cf_catalog_links(Oid relid);
extern Oid	cf_counted_root(Oid relid);
extern void cf_rename_former_trigger(Oid relid, const char *former, const char *name);
extern void cf_sync_table_triggers(Oid relid);
extern void cf_sync_triggers(Oid relid);
extern void cf_drop_trigger(Oid relid, const char *name);
extern void cf_depend_on_extension(Oid trigger);
extern Oid	cf_trigger_function(Oid trigger, bool *clone, int16 *type);
extern void cf_condition_dependencies(Oid child, Oid *triggers, int ntriggers);
extern void cf_warn_late_triggers(Oid relid, const char *only);

/* cache.c */
extern void cf_cache_init(void);
extern CounterDefs *cf_defs_acquire(void);
extern uint64 cf_defs_generation(void);
extern void cf_defs_invalidate(void);
extern void cf_defs_release(void);
extern RelCounters *cf_defs_for_rel(CounterDefs *defs, Oid relid);
extern CounterDef *cf_defs_counter(CounterDefs *defs, int32 id);
extern Oid	cf_catalog_relid(bool missing_ok);
extern bool cf_catalog_is_current(Oid catalog);
extern bool cf_catalog_has_sums(Oid catalog);
extern char *cf_catalog_query(Oid catalog);
extern bool cf_column_exists(Oid relid, AttrNumber attnum);
extern bool cf_counter_columns_exist(HeapTuple tuple, TupleDesc desc);
extern int	cf_read_attnums(Datum array, AttrNumber *attnums);
extern void cf_condition_prepare(CounterDef *def);

/* state.c */
extern void cf_state_init(void);
extern KeyLayout *cf_key_layout(int nkeys, Oid *types, Oid *collations);
extern Datum *cf_copy_key(CounterDef *def, Datum *values, MemoryContext cxt);
extern uint32 cf_key_hash(const KeyLayout *layout, Datum *values);
extern void cf_state_prune(void);
extern void cf_state_add(CounterDef *def, Datum *values, int64 delta,
						 uint64 counting, List **touched);
extern void cf_state_add_at_commit(CounterDef *def, Datum *values, int64 delta);
extern void cf_state_restore(FlushItem *items, int nitems);
extern int64 cf_state_pending(CounterDef *def, Datum *values, bool cancel);
extern void cf_state_cancel_counter(CounterDef *def);
extern FlushItem *cf_state_take(CounterDefs *defs, List *entries,
								bool transactional, bool cancel, int *nitems);
extern FlushItem *cf_state_take_counter(CounterDef *def, int *nitems);
extern bool cf_state_has_live(void);
extern bool cf_subxact_is_live(SubTransactionId subid);

/* sum.c */
extern int64 cf_delta_add(int64 a, int64 b);
extern int64 cf_delta_sub(int64 a, int64 b);
extern bool cf_row_amount(CounterDef *def, TupleTableSlot *row, int64 sign, int64 *amount);
extern bool cf_check_counter_types(Oid parent, AttrNumber counter_attnum, Oid child,
								   AttrNumber sum_attnum, int elevel);
extern void cf_sum_prepare(CounterDef *def);
extern void cf_check_finite(CounterDef *def, Datum value);
extern Datum cf_units_datum(CounterDef *def, int64 units, Oid type);
extern Datum cf_units_numeric(CounterDef *def, int64 units);
extern char *cf_aggregate_sql(CounterDef *def);
extern char *cf_units_sql(CounterDef *def, const char *value);
extern char *cf_value_sql(CounterDef *def, const char *units);

/* link.c */
extern bool cf_link_load(CounterDef *def, Datum through, Datum fk_oids, MemoryContext cxt);
extern int	cf_link_hop_of(CounterDef *def, Oid relid);
extern void cf_link_check_owners(CounterDef *def);
extern char *cf_link_count_sql(CounterDef *def);
extern char *cf_link_counts_sql(CounterDef *def, const char *relation);
extern FlushItem *cf_link_resolve(CounterDef *def, int h, FlushItem *items, int nitems,
								  MemoryContext cxt, int *nresolved);
extern FlushItem *cf_link_moves(CounterDef *def, int h, Datum **rows, int64 *signs, int nrows,
								CommandId curcid, MemoryContext cxt, int *nitems);

/* trigger.c */
extern void cf_count_table_rows(CounterDefs *defs, RelCounters *rc, Oid relid, int64 sign);
extern void cf_recount_key(CounterDef *def, Datum *values);
extern void cf_correct_key(CounterDef *def, Datum *values);
extern Bitmapset *cf_counted_columns(Oid relid, bool partition);

/* inflight.c */
extern void cf_inflight_init(void);
extern void cf_inflight_start(QueryDesc *queryDesc);
extern void cf_inflight_note(CounterDef *def, Datum *values, int64 children, bool kept);
extern void cf_inflight_check(CounterDef *def, Datum *values, TransactionId since,
							  bool inserted);
extern bool cf_inflight_on_conflict(Oid parent);
extern CommandId cf_inflight_child_cid(Oid child);
extern bool cf_inflight_writes_child_at(Oid child, CommandId cid);
extern bool cf_inflight_tangled(Oid child, CommandId since);
extern void cf_inflight_recount_later(CounterDef *def, Datum *values);
extern void cf_inflight_missing(CounterTarget *target, Datum *values);
extern void cf_inflight_counted(Oid root);
extern void cf_inflight_at_commit(void);

/* keylock.c */
extern void cf_keylock_guard_row(void);
extern void cf_keylock_guard(Oid parent, uint32 hash);
extern void cf_keylock_statement_end(CommandId cid);
extern void cf_keylock_commit(Oid *parent, uint32 *hash, int n);
extern bool cf_index_fits_key(CounterTarget *target, Relation leaf, Relation index,
							  Datum *values, ScanKey skey);
extern bool cf_keylock_wait_for_row(CounterTarget *target, Datum *values, bool *committed);
extern bool cf_keylock_key_taken(CounterTarget *target, Datum *values);
extern bool cf_keylock_deleted_here(CounterTarget *target, Datum *values);
extern bool cf_keylock_superseded(CounterTarget *target, Datum *values, TransactionId since,
								  bool inserted, CommandId cid);

/* flush.c */
extern void cf_append_key_match(StringInfo sql, CounterTarget *target, Oid *argtypes);
extern bool cf_lock_parent(Oid parent_relid);
extern bool cf_internal_write_to(Oid relid);
extern int64 cf_parent_write(Oid parent_relid, Oid owner, SPIPlanPtr plan, const char *sql,
							 Datum *params, int expected, Snapshot snapshot);
extern bool cf_is_guard(Trigger *trigger);
extern void cf_drop_guard(ResultRelInfo *rri, int instrument, MemoryContext cxt);
extern bool cf_is_own_guard(Trigger *trigger);
extern void cf_own_guard_fired(TriggerData *trigdata);
extern int	cf_compare_keys(CounterTarget *target, Datum *a, Datum *b);
extern void cf_apply(FlushItem *items, int nitems, MissingKeys *missing);
extern int64 cf_apply_fold(FlushItem *items, int nitems);
extern int64 cf_flush_in_flight(CounterDef *def, Datum *values);
extern void cf_flush_init(void);
extern void cf_flush_before_ddl(void);

/* ledger.c */
extern Oid	cf_ledger_relid(void);
extern void cf_ledger_write(CounterTarget *target, Datum **keys, int64 *deltas, int ngroups);
extern void cf_ledger_close(bool committed);
extern void cf_ledger_committed(void);
extern FlushItem *cf_ledger_read(CounterDef *def, bool claim, MemoryContext cxt, int *nitems);
extern int64 cf_ledger_key_sum(CounterDef *def, Datum *key);
extern void cf_ledger_discard(int32 counter_id);
extern FlushItem *cf_ledger_unfolded(CounterDef *def, MemoryContext cxt, int *nitems);
extern void cf_ledger_truncate(CounterDef *def);
extern int64 cf_fold(List *defs);
extern bool cf_ledger_hashes(int nkeys, Oid *types);
extern bool cf_fold_guarded(CounterDef *def, bool before_ddl);
extern void cf_fold_before_ddl(List *relids, List *attnums, Oid type, bool all);

/* worker.c */
extern void cf_worker_init(void);
extern void cf_worker_note(Oid database);

/*
 * direct.c: one parent row updated without SPI, where the executor's
 * interface for it (ExecSimpleRelationUpdate with a result relation, the
 * updated columns in the range table entry) is the one counterfield knows.
 */
#if PG_VERSION_NUM >= 140000 && PG_VERSION_NUM < 160000
#define CF_DIRECT_UPDATE
#endif
extern bool cf_direct_update(CounterTarget *target, Datum *key, int64 *deltas,
							 Snapshot snapshot, int64 *updated);

#endif							/* COUNTERFIELD_H */
