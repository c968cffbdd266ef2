/*-------------------------------------------------------------------------
 *
 * keylock.c
 *	  Locks on the keys of parent rows being created.
 *
 * A delta whose parent row a flush does not find is kept until commit (see
 * cf_apply): the row may be created meanwhile.  If at commit the row is
 * still missing, the delta is dropped.  That is right only if no other
 * transaction is creating that parent row with a count that cannot see this
 * transaction's children, uncommitted when it counted.  Key locks rule that
 * out:
 *
 * - the parent's guard locks every key it counts (a new row, or a row whose
 *   key changes) in ShareLock, then counts with a fresh snapshot, and keeps
 *   the lock until the row is in the parent's unique index: until it fires
 *   for the next row of the same statement, or the statement ends;
 * - at commit, the keys still missing are locked in ExclusiveLock until the
 *   transaction ends, and their parent rows looked for once more with a
 *   fresh snapshot, and then in the parent's unique index with a dirty
 *   snapshot: a row that another transaction is inserting is waited for,
 *   and looked for again.  What is still missing has no parent row.
 *
 * So either the guard counts after the committing transaction has
 * committed, and sees its children, or the committing transaction finds
 * the guard's row, committed or on its way, and waits for its transaction
 * to end.
 *
 * A transaction that found a parent row needs no key lock, but the row it
 * added to may be one that the guard's row waits for in the unique index,
 * being deleted or re-keyed by another transaction: its children, committed
 * after the guard counted, then belong to the guard's row.  So once the
 * statement that wrote the row has finished, the other rows of its key are
 * looked at (cf_keylock_superseded), and the key counted again if one of
 * them was changed by a transaction that committed after the count.
 *
 * A key lock is an advisory lock of the database whose other fields are the
 * parent table, a hash of the key that equal keys share, and CF_LOCK_KEY.
 * A commit that would lock more than COMMIT_KEYS_PER_TABLE keys of one
 * parent in its transaction, or more than COMMIT_KEYS in all, locks the
 * table instead, a lock of the same
 * kind with CF_LOCK_TABLE, in ExclusiveLock; key locks come with that table
 * lock in RowShareLock (guard) and RowExclusiveLock (commit), so that the
 * levels conflict as they should.
 *
 * Commits lock in one order, by table and hash, and so never wait for each
 * other in a circle.  A guard holds its locks only while its row is on its
 * way, and a commit holds its own only from the commit's start.  A commit
 * that finds a parent row being inserted waits for that transaction, which
 * may wait for the commit's row locks: the deadlock detector ends one, as
 * it would two transactions that update two rows in opposite orders.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "counterfield.h"

/* Field 4 of counterfield's advisory locks; SQL's advisory locks use 1 and 2 */
#define CF_LOCK_KEY		0x4347	/* 17223 */
#define CF_LOCK_TABLE	0x4346	/* 17222 */

/*
 * Keys of one parent a transaction's commits lock before they lock the
 * table, and keys of all parents before they lock every further table.
 */
#define COMMIT_KEYS_PER_TABLE	64
#define COMMIT_KEYS				256

/* One lock a commit takes. */
typedef struct KeyLock
{
	Oid			parent;
	bool		table;			/* the table lock, or a key lock */
	uint32		hash;
	LOCKMODE	mode;
} KeyLock;

/* A key lock the guard holds while its row is on its way. */
typedef struct GuardLock
{
	Oid			parent;
	uint32		hash;
	CommandId	cid;			/* of the statement writing the row */
	SubTransactionId subid;
} GuardLock;

static TxArray guard_locks = {.entrysize = sizeof(GuardLock)};

/* The keys of each parent that commits of this transaction have locked. */
typedef struct CommitKeys
{
	Oid			parent;
	int			nkeys;
} CommitKeys;

static TxArray commit_keys = {.entrysize = sizeof(CommitKeys)};
static int	commit_keys_total = 0;
static LocalTransactionId commit_keys_lxid = InvalidLocalTransactionId;

static void
set_tag(LOCKTAG *tag, Oid parent, bool table, uint32 hash)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, parent, table ? 0 : hash,
						 table ? CF_LOCK_TABLE : CF_LOCK_KEY);
}

/*
 * Takes or lets go of one of counterfield's locks, held by the current
 * resource owner: a failed subtransaction's go with it, and the guard lets
 * go of its own within the statement that took them, under that owner.
 */
static void
lock_or_release(Oid parent, bool table, uint32 hash, LOCKMODE mode, bool take)
{
	LOCKTAG		tag;

	set_tag(&tag, parent, table, hash);
	if (take)
		(void) LockAcquire(&tag, mode, false, false);
	else
		LockRelease(&tag, mode, false);
}

/* Lets go of a guard lock; one of a failed subtransaction went with it. */
static void
release_guard_lock(GuardLock *lock)
{
	if (!cf_subxact_is_live(lock->subid))
		return;
	lock_or_release(lock->parent, false, lock->hash, ShareLock, false);
	lock_or_release(lock->parent, true, 0, RowShareLock, false);
}

/*
 * Lets go of the guard's locks of rows written by commands from first to
 * last, which are in their tables and indexes by now, and forgets those of
 * rows that a failed subtransaction wrote.
 */
static void
release_guard_locks(CommandId first, CommandId last)
{
	int			n;
	GuardLock  *locks = cf_tx_entries(&guard_locks, &n);
	int			kept = 0;

	for (int i = 0; i < n; i++)
	{
		GuardLock  *lock = &locks[i];

		if ((lock->cid >= first && lock->cid <= last) || !cf_subxact_is_live(lock->subid))
			release_guard_lock(lock);
		else
			locks[kept++] = *lock;
	}
	guard_locks.n = kept;
}

/* The command id of the statement that the guard fires in. */
static CommandId
guard_cid(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot()->curcid : GetCurrentCommandId(false);
}

/*
 * The guard fires for a row: the rows of its statement counted before are
 * in their tables and indexes by now, and those of failed subtransactions
 * gone, so their key locks go.
 */
void
cf_keylock_guard_row(void)
{
	CommandId	cid = guard_cid();

	release_guard_locks(cid, cid);
}

/*
 * The guard's lock on a parent key of the row it fires for, taken before
 * it counts the key: it waits for a transaction committing children of
 * that key, and makes later ones wait until the row is in its table.
 */
void
cf_keylock_guard(Oid parent, uint32 hash)
{
	CommandId	cid = guard_cid();
	int			n;
	GuardLock  *locks = cf_tx_entries(&guard_locks, &n);
	GuardLock  *lock;

	for (int i = 0; i < n; i++)
		if (locks[i].parent == parent && locks[i].hash == hash && locks[i].cid == cid)
			return;				/* another counter of the same key */
	lock_or_release(parent, true, 0, RowShareLock, true);
	lock_or_release(parent, false, hash, ShareLock, true);
	/* An error from here on aborts the subtransaction, which releases them. */
	lock = cf_tx_append(&guard_locks);
	lock->parent = parent;
	lock->hash = hash;
	lock->cid = cid;
	lock->subid = GetCurrentSubTransactionId();
}

/*
 * A statement that wrote rows with command id cid has finished: the rows
 * its guards counted are in their tables.
 */
void
cf_keylock_statement_end(CommandId cid)
{
	if (guard_locks.n > 0)
		release_guard_locks(cid, InvalidCommandId); /* the largest command id */
}

static int
compare_locks(const void *a, const void *b)
{
	const KeyLock *x = a;
	const KeyLock *y = b;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	if (x->table != y->table)
		return x->table ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return 0;
}

/*
 * Locks, until the transaction ends, the keys of parent[i] hashed to
 * hash[i] that a commit did not find a parent row for, so that no guard
 * counts them until it has committed.
 */
void
cf_keylock_commit(Oid *parent, uint32 *hash, int n)
{
	KeyLock    *all = palloc(sizeof(KeyLock) * n * 2);
	KeyLock    *locks = palloc(sizeof(KeyLock) * n * 2);
	int			nall = 0;
	int			nlocks = 0;

	/* Each parent's table lock sorts before its keys. */
	for (int i = 0; i < n; i++)
	{
		all[nall].parent = parent[i];
		all[nall].table = true;
		all[nall++].hash = 0;
		all[nall].parent = parent[i];
		all[nall].table = false;
		all[nall++].hash = hash[i];
	}
	qsort(all, nall, sizeof(KeyLock), compare_locks);

	/*
	 * One table lock per parent, and its distinct keys; or, past the keys a
	 * transaction locks of one table, or of all, none.
	 */
	if (commit_keys_lxid != CF_CURRENT_LXID())
		commit_keys_total = 0;
	commit_keys_lxid = CF_CURRENT_LXID();
	for (int i = 0, end; i < nall; i = end)
	{
		CommitKeys *entry = cf_tx_relation(&commit_keys, all[i].parent, true, NULL);
		int			nkeys = 0;
		bool		whole;

		for (end = i + 1; end < nall && all[end].parent == all[i].parent; end++)
			if (!all[end].table && compare_locks(&all[end], &all[end - 1]) != 0)
				nkeys++;
		entry->nkeys += nkeys;
		whole = entry->nkeys > COMMIT_KEYS_PER_TABLE ||
			commit_keys_total + nkeys > COMMIT_KEYS;
		if (whole)
			entry->nkeys = COMMIT_KEYS_PER_TABLE + 1;	/* stays whole */
		else
			commit_keys_total += nkeys;
		locks[nlocks] = all[i];
		locks[nlocks++].mode = whole ? ExclusiveLock : RowExclusiveLock;
		for (int j = i + 1; !whole && j < end; j++)
			if (!all[j].table && compare_locks(&all[j], &all[j - 1]) != 0)
			{
				locks[nlocks] = all[j];
				locks[nlocks++].mode = ExclusiveLock;
			}
	}
	pfree(all);

	for (int i = 0; i < nlocks; i++)
		lock_or_release(locks[i].parent, locks[i].table, locks[i].hash, locks[i].mode, true);
	pfree(locks);
}

/* The attribute number in a table of the parent's tree of key column k. */
static AttrNumber
leaf_attnum(CounterTarget *target, Oid relid, int k)
{
	if (relid == target->parent_relid)
		return target->attnums[k];
	return get_attnum(relid, get_attname(target->parent_relid, target->attnums[k], false));
}

/*
 * Is an index of the parent, or of a leaf of it, a unique index that
 * compares the key as counterfield does (see add_counter)?  If so, fills in
 * its scan keys for the given key values.
 */
bool
cf_index_fits_key(CounterTarget *target, Relation leaf, Relation index, Datum *values,
				  ScanKey skey)
{
	Form_pg_index form = index->rd_index;
	int			nkeys = IndexRelationGetNumberOfKeyAttributes(index);

	if (!form->indisunique || !form->indisvalid || !form->indisready ||
		nkeys != target->nkeys || RelationGetIndexExpressions(index) != NIL ||
		RelationGetIndexPredicate(index) != NIL)
		return false;
	for (int j = 0; j < nkeys; j++)
	{
		int			k;
		Oid			eq;

		for (k = 0; k < target->nkeys; k++)
			if (leaf_attnum(target, RelationGetRelid(leaf), k) == form->indkey.values[j])
				break;
		if (k == target->nkeys)
			return false;
		eq = get_opfamily_member(index->rd_opfamily[j], index->rd_opcintype[j],
								 index->rd_opcintype[j], BTEqualStrategyNumber);
		if (!OidIsValid(eq) || eq != cf_equality_operator(target->types[k]) ||
			index->rd_indcollation[j] != target->collations[k])
			return false;
		ScanKeyEntryInitialize(&skey[j], 0, j + 1, BTEqualStrategyNumber, InvalidOid,
							   index->rd_indcollation[j], get_opcode(eq), values[k]);
	}
	return true;
}

/*
 * Finds and opens an index of a leaf that cf_index_fits_key, or returns
 * NULL.
 */
static Relation
key_index(CounterTarget *target, Relation leaf, Datum *values, ScanKey skey)
{
	List	   *indexes = RelationGetIndexList(leaf);
	Relation	found = NULL;
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		if (cf_index_fits_key(target, leaf, index, values, skey))
		{
			found = index;
			break;
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return found;
}

/*
 * Called for each row of a key that scan_key_rows finds; returns true to
 * stop the scan.
 */
typedef bool (*KeyRowVisitor) (TupleTableSlot *slot, void *arg);

/*
 * Visits the rows of one key in a leaf of the parent that the snapshot lets
 * through: by a unique index on the key columns, or, should the leaf have
 * none that fits (one dropped since add_counter, say), by reading the leaf
 * whole.
 */
static bool
scan_key_rows(CounterTarget *target, Relation leaf, Datum *values, Snapshot snapshot,
			  KeyRowVisitor visit, void *arg)
{
	ScanKeyData skey[INDEX_MAX_KEYS];
	Relation	index = key_index(target, leaf, values, skey);
	TupleTableSlot *slot = table_slot_create(leaf, NULL);
	bool		stopped = false;

	if (index != NULL)
	{
		int			nkeys = IndexRelationGetNumberOfKeyAttributes(index);
		IndexScanDesc scan;

#if PG_VERSION_NUM >= 180000
		scan = index_beginscan(leaf, index, snapshot, NULL, nkeys, 0);
#else
		scan = index_beginscan(leaf, index, snapshot, nkeys, 0);
#endif
		index_rescan(scan, skey, nkeys, NULL, 0);
		while (!stopped && index_getnext_slot(scan, ForwardScanDirection, slot))
			stopped = visit(slot, arg);
		index_endscan(scan);
		index_close(index, AccessShareLock);
	}
	else
	{
		TableScanDesc scan = table_beginscan(leaf, snapshot, 0, NULL);
		FmgrInfo	eq[INDEX_MAX_KEYS];
		AttrNumber	attnums[INDEX_MAX_KEYS];
		Oid			leafid = RelationGetRelid(leaf);

		for (int k = 0; k < target->nkeys; k++)
		{
			fmgr_info(get_opcode(cf_equality_operator(target->types[k])), &eq[k]);
			attnums[k] = leaf_attnum(target, leafid, k);
		}
		while (!stopped && table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			bool		match = true;

			CHECK_FOR_INTERRUPTS();
			for (int k = 0; match && k < target->nkeys; k++)
			{
				bool		isnull;
				Datum		value = slot_getattr(slot, attnums[k], &isnull);

				match = !isnull &&
					DatumGetBool(FunctionCall2Coll(&eq[k], target->collations[k], value,
												   values[k]));
			}
			stopped = match && visit(slot, arg);
		}
		table_endscan(scan);
	}
	ExecDropSingleTupleTableSlot(slot);
	return stopped;
}

/*
 * Visits the rows of one key in the leaves of the parent given (key_leaves)
 * as scan_key_rows does, until visit stops it; returns true if it did.
 */
static bool
scan_key_leaves(CounterTarget *target, List *leaves, Datum *values, Snapshot snapshot,
				KeyRowVisitor visit, void *arg)
{
	ListCell   *lc;

	foreach(lc, leaves)
	{
		Relation	leaf;
		bool		stopped;

		/* A foreign table holds no parent rows (cf_check_parent_tables). */
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_FOREIGN_TABLE)
			continue;
		leaf = table_open(lfirst_oid(lc), AccessShareLock);
		stopped = scan_key_rows(target, leaf, values, snapshot, visit, arg);
		table_close(leaf, AccessShareLock);
		if (stopped)
			return true;
	}
	return false;
}

/* What a dirty snapshot says of the rows of a key (probe_key). */
typedef struct DirtyProbe
{
	SnapshotData snapshot;
	bool		any;			/* stop at the first row */
	TransactionId xwait;		/* a transaction inserting such a row */
	bool		committed;		/* a committed row is there */
	bool		found;			/* a row is there, or on its way */
} DirtyProbe;

static bool
dirty_row(TupleTableSlot *slot pg_attribute_unused(), void *arg)
{
	DirtyProbe *probe = arg;

	probe->found = true;
	if (TransactionIdIsValid(probe->snapshot.xmin))
		probe->xwait = probe->snapshot.xmin;
	else if (!TransactionIdIsValid(probe->snapshot.xmax))
		probe->committed = true;
	return probe->any || probe->committed || TransactionIdIsValid(probe->xwait);
}

/*
 * Looks for a row of one key in the leaves given with a dirty snapshot, up
 * to the first one found that is committed or on its way (with any, the
 * first one), and fills in what it found.
 */
static void
probe_key(CounterTarget *target, List *leaves, Datum *values, DirtyProbe *probe)
{
	InitDirtySnapshot(probe->snapshot);
	probe->xwait = InvalidTransactionId;
	(void) scan_key_leaves(target, leaves, values, &probe->snapshot, dirty_row, probe);
}

#if PG_VERSION_NUM >= 140000
#define CF_PARTITION_DESC(rel) RelationGetPartitionDesc((rel), false)
#else
#define CF_PARTITION_DESC(rel) RelationGetPartitionDesc(rel)
#endif

#if PG_VERSION_NUM >= 150000
#define CF_HASH_MODULUS(bounds) ((bounds)->nindexes)
#else
#define CF_HASH_MODULUS(bounds) get_hash_partition_greatest_modulus(bounds)
#endif

/*
 * The partition of a partitioned table that a row with the given parent key
 * goes to, as PostgreSQL routes rows: its index in the table's partition
 * descriptor, or -1 if none takes it.  Returns false if the key does not
 * decide the partition (the partition key has other columns, or
 * expressions).
 */
static bool
route_key(CounterTarget *target, Relation rel, Datum *values, int *index)
{
	PartitionKey pkey = RelationGetPartitionKey(rel);
	PartitionBoundInfo bounds = CF_PARTITION_DESC(rel)->boundinfo;
	Datum		pvalues[PARTITION_MAX_KEYS];
	bool		pnulls[PARTITION_MAX_KEYS];
	bool		equal;
	int			offset;

	for (int i = 0; i < pkey->partnatts; i++)
	{
		int			k;

		for (k = 0; k < target->nkeys; k++)
			if (pkey->partattrs[i] != InvalidAttrNumber &&
				leaf_attnum(target, RelationGetRelid(rel), k) == pkey->partattrs[i])
				break;

		/* Rows equal as keys must go to one partition. */
		if (k == target->nkeys || pkey->partcollation[i] != target->collations[k] ||
			get_opfamily_member(pkey->partopfamily[i], pkey->partopcintype[i],
								pkey->partopcintype[i],
								pkey->strategy == PARTITION_STRATEGY_HASH ?
								HTEqualStrategyNumber : BTEqualStrategyNumber) !=
			cf_equality_operator(target->types[k]))
			return false;
		pvalues[i] = values[k];
		pnulls[i] = false;
	}
	*index = -1;
	if (CF_PARTITION_DESC(rel)->nparts == 0)
		return true;
	switch (pkey->strategy)
	{
		case PARTITION_STRATEGY_HASH:
			*index = bounds->indexes[compute_partition_hash_value(pkey->partnatts,
																  pkey->partsupfunc,
																  pkey->partcollation,
																  pvalues, pnulls) %
									 CF_HASH_MODULUS(bounds)];
			break;
		case PARTITION_STRATEGY_LIST:
			offset = partition_list_bsearch(pkey->partsupfunc, pkey->partcollation, bounds,
											pvalues[0], &equal);
			if (offset >= 0 && equal)
				*index = bounds->indexes[offset];
			break;
		case PARTITION_STRATEGY_RANGE:
			offset = partition_range_datum_bsearch(pkey->partsupfunc, pkey->partcollation,
												   bounds, pkey->partnatts, pvalues, &equal);
			*index = bounds->indexes[offset + 1];
			break;
		default:
			return false;
	}
	if (*index < 0)
		*index = bounds->default_index;
	return true;
}

/*
 * A transaction other than this one that is adding a partition to a
 * partitioned table (ATTACH PARTITION, CREATE TABLE ... PARTITION OF), not
 * yet committed, or InvalidTransactionId.
 */
static TransactionId
adding_partition(Oid relid)
{
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyData key;
	SnapshotData dirty;
	SysScanDesc scan;
	TransactionId xwait = InvalidTransactionId;

	InitDirtySnapshot(dirty);
	ScanKeyInit(&key, Anum_pg_inherits_inhparent, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(inherits, InheritsParentIndexId, true, &dirty, 1, &key);
	while (!TransactionIdIsValid(xwait) && systable_getnext(scan) != NULL)
		if (TransactionIdIsValid(dirty.xmin) && !TransactionIdIsCurrentTransactionId(dirty.xmin))
			xwait = dirty.xmin;
	systable_endscan(scan);
	table_close(inherits, AccessShareLock);
	return xwait;
}

/*
 * The leaves of the parent where a row of the given key can be: the one
 * partition routing leads to, when the key decides it at every level, or
 * else all of them.  Where the key goes to the default partition or to
 * none, a partition for it may be on its way, attached by a transaction
 * that then inserts the row: that transaction is waited for first.
 */
static List *
key_leaves(CounterTarget *target, Datum *values)
{
	Oid			relid = target->parent_relid;

	while (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
	{
		Relation	rel = table_open(relid, AccessShareLock);
		int			index;
		bool		routed = route_key(target, rel, values, &index);
		TransactionId adding;

		if (routed && (index < 0 || index == CF_PARTITION_DESC(rel)->boundinfo->default_index) &&
			TransactionIdIsValid(adding = adding_partition(relid)))
		{
			/* Routed again once it has ended, with the partitions it left. */
			table_close(rel, AccessShareLock);
			XactLockTableWait(adding, NULL, NULL, XLTW_None);
			AcceptInvalidationMessages();
			continue;
		}
		if (routed)
			relid = index >= 0 ? CF_PARTITION_DESC(rel)->oids[index] : InvalidOid;
		table_close(rel, AccessShareLock);
		if (!routed)
		{
			List	   *leaves = NIL;
			ListCell   *lc;

			foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
			{
				if (get_rel_relkind(lfirst_oid(lc)) != RELKIND_PARTITIONED_TABLE)
					leaves = lappend_oid(leaves, lfirst_oid(lc));
			}
			return leaves;
		}
		if (!OidIsValid(relid))
			return NIL;
	}
	return list_make1_oid(relid);
}

/*
 * At commit, for a key whose parent row a fresh snapshot did not find
 * either: waits for a transaction that is inserting that row, if any, and
 * returns true.  Sets *committed if a committed row has that key (one
 * committed after the snapshot, or one that an UPDATE of counterfield's
 * left alone, such as a row whose counter is NULL).
 */
bool
cf_keylock_wait_for_row(CounterTarget *target, Datum *values, bool *committed)
{
	List	   *leaves = key_leaves(target, values);
	DirtyProbe	probe = {0};

	probe_key(target, leaves, values, &probe);
	list_free(leaves);
	*committed = probe.committed;
	if (TransactionIdIsValid(probe.xwait))
		XactLockTableWait(probe.xwait, NULL, NULL, XLTW_None);
	return TransactionIdIsValid(probe.xwait);
}

/*
 * For the guard of a new parent row: is a row of its key there, committed
 * or not, or being inserted by another transaction?
 */
bool
cf_keylock_key_taken(CounterTarget *target, Datum *values)
{
	List	   *leaves = key_leaves(target, values);
	DirtyProbe	probe = {.any = true};

	probe_key(target, leaves, values, &probe);
	list_free(leaves);
	return probe.found;
}

/* What the rows of a key say of a count of it (cf_keylock_superseded). */
typedef struct SupersededProbe
{
	TransactionId since;		/* changes by transactions from this one on */
	bool		inserted;		/* the row counted was inserted, not re-keyed */
	CommandId	cid;			/* by this command or a later one */
	bool		ours;			/* this transaction wrote that row */
	bool		changed;		/* another row of the key changed since */
} SupersededProbe;

/*
 * Copies the header of a heap row that a scan with SnapshotAny returned;
 * false for a row of another table access method.
 */
static bool
copy_header(TupleTableSlot *slot, HeapTupleHeaderData *header)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;

	if (!TTS_IS_BUFFERTUPLE(slot) || !BufferIsValid(bslot->buffer))
		return false;
	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	*header = *bslot->base.tuple->t_data;
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	return true;
}

/*
 * The transaction that updated or deleted the row version in header, or
 * InvalidTransactionId if none did (it may only be locked).
 */
static TransactionId
updater(HeapTupleHeaderData *header)
{
	if ((header->t_infomask & HEAP_XMAX_INVALID) || HEAP_XMAX_IS_LOCKED_ONLY(header->t_infomask))
		return InvalidTransactionId;
	return HeapTupleHeaderGetUpdateXid(header);
}

static bool
superseded_row(TupleTableSlot *slot, void *arg)
{
	SupersededProbe *probe = arg;
	HeapTupleHeaderData header;
	TransactionId xmax;

	/* Rows of other table access methods are taken as changed. */
	if (!copy_header(slot, &header))
	{
		probe->ours = probe->changed = true;
		return true;
	}

	if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(&header)))
	{
		/* An ON CONFLICT DO UPDATE updates a row instead of inserting one. */
		if ((!probe->inserted || !(header.t_infomask & HEAP_UPDATED)) &&
			HeapTupleHeaderGetCmin(&header) >= probe->cid)
			probe->ours = true;
	}
	else if (TransactionIdIsValid(xmax = updater(&header)) &&
			 !TransactionIdIsCurrentTransactionId(xmax) &&
			 TransactionIdFollowsOrEquals(xmax, probe->since) && !TransactionIdDidAbort(xmax))
		probe->changed = true;
	return probe->ours && probe->changed;
}

/*
 * After the statement that wrote a parent row has finished, for a key the
 * guard counted with a snapshot whose xmin was since: is the count of that
 * row possibly short?  It is if command cid or a later one wrote the row
 * (inserted it, or with inserted false re-keyed a row to the key) and
 * another row of the key was updated or deleted by a transaction that
 * committed after the count (see the top of this file).  Versions of rows
 * changed since are not pruned while the statement's snapshot holds back
 * this backend's xmin.
 * With since invalid, the guard did not count (cf_keylock_key_taken): the
 * answer is whether such a command inserted a row of the key.
 */
bool
cf_keylock_superseded(CounterTarget *target, Datum *values, TransactionId since, bool inserted,
					  CommandId cid)
{
	List	   *leaves = key_leaves(target, values);
	SupersededProbe probe = {0};

	probe.since = since;
	probe.inserted = inserted;
	probe.cid = cid;
	/* Without a count to go by, any other row of the key is a change. */
	probe.changed = !TransactionIdIsValid(since);

	(void) scan_key_leaves(target, leaves, values, SnapshotAny, superseded_row, &probe);
	list_free(leaves);
	return probe.ours && probe.changed;
}

static bool
deleted_here_row(TupleTableSlot *slot, void *arg)
{
	HeapTupleHeaderData header;

	if (copy_header(slot, &header) && TransactionIdIsCurrentTransactionId(updater(&header)))
		*(bool *) arg = true;
	return *(bool *) arg;
}

/*
 * At commit, for a key whose parent row a fresh snapshot did not find: did
 * this transaction delete (or re-key) the row of the key, and no other row
 * of it is there or on its way?  Then the commit needs no lock on the key.
 * A row of the key that another transaction inserts meanwhile waits for
 * this one in the unique index, and is counted again when its statement
 * has finished, this transaction's change being newer than its count
 * (cf_keylock_superseded); waiting for its guard's key lock would deadlock.
 */
bool
cf_keylock_deleted_here(CounterTarget *target, Datum *values)
{
	List	   *leaves = key_leaves(target, values);
	DirtyProbe	probe = {.any = true};
	bool		deleted = false;

	probe_key(target, leaves, values, &probe);
	if (!probe.found)
		(void) scan_key_leaves(target, leaves, values, SnapshotAny, deleted_here_row, &deleted);
	list_free(leaves);
	return deleted;
}
