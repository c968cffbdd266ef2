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
 *   the lock until its transaction ends;
 * - at commit, the keys still missing are locked in ExclusiveLock, and their
 *   parent rows looked for once more with a fresh snapshot; what is still
 *   missing then has no parent row and is dropped.
 *
 * So either the guard counts after the committing transaction has committed
 * and sees its children, or the committing transaction waits until the
 * guard's transaction has ended, and then finds its row, or finds that it
 * rolled back.
 *
 * A key lock is an advisory lock of the database whose other fields are the
 * parent table, a hash of the key that equal keys share, and CF_LOCK_KEY.
 * A transaction that would lock more than KEYS_PER_TABLE keys of one parent
 * locks the table instead, a lock of the same kind with CF_LOCK_TABLE: the
 * guard in ShareLock, the commit in ExclusiveLock.  Key locks come with
 * that table lock taken in RowShareLock (guard) and RowExclusiveLock
 * (commit), so that each level conflicts with the other as it should.
 *
 * Commits lock in one order, by table and hash, and so never wait for each
 * other in a circle.  A transaction that has created a parent row (holding
 * its key lock) and commits a child of a key whose row another such
 * transaction is creating, while that one commits a child of the first
 * one's key, waits for it in a circle: each must see the other's outcome.
 * The deadlock detector ends one of them, as it would two transactions
 * that update two rows in opposite orders.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/memutils.h"

#include "counterfield.h"

/* Field 4 of counterfield's advisory locks; SQL's advisory locks use 1 and 2 */
#define CF_LOCK_KEY		0xCF01
#define CF_LOCK_TABLE	0xCF00

/* Keys of one parent a transaction locks before it locks the table */
#define KEYS_PER_TABLE	16

/* One lock the commit takes. */
typedef struct KeyLock
{
	Oid			parent;
	bool		table;			/* the table lock, or a key lock */
	uint32		hash;
	LOCKMODE	mode;
} KeyLock;

/* Keys of parent tables the guard locked in this transaction, per table. */
typedef struct GuardedKeys
{
	Oid			parent;
	int			nkeys;
} GuardedKeys;

static TxRelations guarded = {.entrysize = sizeof(GuardedKeys)};

static void
set_tag(LOCKTAG *tag, Oid parent, bool table, uint32 hash)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, parent, table ? 0 : hash,
						 table ? CF_LOCK_TABLE : CF_LOCK_KEY);
}

/* Takes one of counterfield's locks until the transaction ends. */
static void
acquire(Oid parent, bool table, uint32 hash, LOCKMODE mode)
{
	LOCKTAG		tag;

	set_tag(&tag, parent, table, hash);
	(void) LockAcquire(&tag, mode, false, false);
}

/*
 * The guard's lock on a parent key it is about to count, held until the
 * transaction ends: it waits for a transaction committing children of that
 * key, and makes later ones wait for this transaction.
 */
void
cf_keylock_guard(Oid parent, uint32 hash)
{
	GuardedKeys *entry = cf_tx_relation(&guarded, parent, true, NULL);

	if (entry->nkeys >= KEYS_PER_TABLE)
	{
		acquire(parent, true, 0, ShareLock);
		return;
	}
	entry->nkeys++;
	acquire(parent, true, 0, RowShareLock);
	acquire(parent, false, hash, ShareLock);
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

	/* One table lock per parent, and its distinct keys or, for many, none. */
	for (int i = 0, end; i < nall; i = end)
	{
		int			nkeys = 0;

		for (end = i + 1; end < nall && all[end].parent == all[i].parent; end++)
			if (!all[end].table && compare_locks(&all[end], &all[end - 1]) != 0)
				nkeys++;
		locks[nlocks] = all[i];
		locks[nlocks++].mode = nkeys > KEYS_PER_TABLE ? ExclusiveLock : RowExclusiveLock;
		for (int j = i + 1; nkeys <= KEYS_PER_TABLE && j < end; j++)
			if (!all[j].table && compare_locks(&all[j], &all[j - 1]) != 0)
			{
				locks[nlocks] = all[j];
				locks[nlocks++].mode = ExclusiveLock;
			}
	}
	pfree(all);

	for (int i = 0; i < nlocks; i++)
		acquire(locks[i].parent, locks[i].table, locks[i].hash, locks[i].mode);
	pfree(locks);
}
