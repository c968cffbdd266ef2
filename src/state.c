/*-------------------------------------------------------------------------
 *
 * state.c
 *	  Backend-local cache of pending counter deltas.
 *
 * A pending entry is keyed by (counter, parent key) and holds a stack of
 * delta layers, one per subtransaction that changed it.  Nothing here runs
 * while a (sub)transaction aborts: a layer whose subtransaction rolled back,
 * or an entry left by a transaction that ended without applying it, is
 * recognised as stale by comparing it with the live transaction state, and
 * removed the next time state is stored or inspected, or a statement counts
 * rows (which may store none, in statement mode, but prunes all the same).
 *
 * To tell live subtransactions from aborted ones, the subtransaction start
 * and commit callbacks log each subtransaction's parent and whether it
 * committed.  A layer is live when its subtransaction, followed up through
 * committed subtransactions, reaches one that is still open.
 *
 * Pruning costs what became stale, not what is pending: when a transaction
 * has ended, every entry is stale and the hash is dropped whole; when
 * subtransactions have aborted, only the entries that the layer log names
 * (every layer made below the top level) are looked at.
 *
 * Keys compare as the parent's key type compares them (numeric 1.0 equals
 * 1.00, a nondeterministic collation folds case), through the key's
 * KeyLayout.  An entry keeps the layout its key was stored with, so a key
 * whose type changed since is never read with the new layout.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "counterfield.h"

/* The delta that one subtransaction contributed to an entry. */
typedef struct DeltaLayer
{
	SubTransactionId subid;
	int64		delta;
} DeltaLayer;

/*
 * How the parent keys of counters with the same key types and collations
 * compare and hash.  Interned in state_cxt and never freed, so that entries
 * can point at the layout their key was stored with.
 */
struct KeyLayout
{
	int			nkeys;
	Oid			types[INDEX_MAX_KEYS];
	Oid			collations[INDEX_MAX_KEYS];
	int16		typlen[INDEX_MAX_KEYS];
	bool		typbyval[INDEX_MAX_KEYS];
	bool		bitwise[INDEX_MAX_KEYS];	/* equal values have equal bytes */
	bool		all_bitwise;
	FmgrInfo	eq[INDEX_MAX_KEYS]; /* for the other columns */
	FmgrInfo	hash[INDEX_MAX_KEYS];	/* where has_hash */
	bool		has_hash[INDEX_MAX_KEYS];
};

/*
 * Hash key: the counter and its parent key.  Columns whose equal values have
 * equal bytes are serialized to data; all columns are also in values.
 */
typedef struct PendingKey
{
	int32		counter_id;
	bool		kept;			/* a statement-mode delta kept for commit */
	uint32		hash;
	const KeyLayout *layout;
	Datum	   *values;
	Size		len;
	const char *data;
} PendingKey;

typedef struct PendingEntry
{
	PendingKey	key;			/* hash key, must be first */
	LocalTransactionId lxid;	/* transaction that stored it */
	bool		transactional;	/* applied at commit */
	Oid			parent_relid;	/* for inspection */
	AttrNumber	counter_attnum;
	uint64		counting;		/* number of the last counting that touched it */
	uint64		serial;			/* tells a reused hash element from this entry */
	Datum	   *values;			/* parent key */
	int			nlayers;
	int			maxlayers;
	DeltaLayer *layers;
	DeltaLayer	first;			/* storage for the usual single layer */
} PendingEntry;

#define SUBXACT_COMMITTED	0x80000000U
#define PENDING_INITIAL_SIZE 16
#define PENDING_RESET_BYTES	(64 * 1024)

static MemoryContext state_cxt = NULL;	/* scratch buffer, logs, layouts */
static MemoryContext pending_cxt = NULL;	/* the hash and its entries */
static HTAB *pending = NULL;
static StringInfoData keybuf;
static List *layouts = NIL;		/* KeyLayout *, interned */
static uint64 entry_serial = 0;
static uint64 serial_floor = 0; /* entries of serials up to this are freed */

/*
 * An entry, as a layer made below the top level or a counting names
 * it; serial tells whether the entry is still the one named.
 */
typedef struct LayerRecord
{
	PendingEntry *entry;
	uint64		serial;			/* entry->serial when logged */
} LayerRecord;

static LayerRecord *layer_log = NULL;
static int	layer_log_len = 0;
static int	layer_log_max = 0;

/* When the cache was last pruned, and the transaction that last stored. */
static LocalTransactionId pruned_lxid = InvalidLocalTransactionId;
static int64 pruned_aborted = 0;
static LocalTransactionId stored_lxid = InvalidLocalTransactionId;

/* Subtransaction log of the current top-level transaction. */
static LocalTransactionId log_lxid = InvalidLocalTransactionId;
static int64 log_started = 0;
static int64 log_committed = 0;
static uint32 *log_parent = NULL;	/* by SubTransactionId */
static uint32 *log_start = NULL;	/* layer_log_len when it started, by id */
static uint32 log_size = 0;
static uint32 log_high = 0;

static void cf_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid, void *arg);

/* Creates the memory contexts and registers the subtransaction callback. */
void
cf_state_init(void)
{
	state_cxt = AllocSetContextCreate(TopMemoryContext, "counterfield state",
									  ALLOCSET_SMALL_SIZES);
	pending_cxt = AllocSetContextCreate(state_cxt, "counterfield pending deltas",
										ALLOCSET_DEFAULT_SIZES);
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(state_cxt);

		initStringInfo(&keybuf);
		MemoryContextSwitchTo(oldcxt);
	}
	RegisterSubXactCallback(cf_subxact_callback, NULL);
}

/* Makes the subtransaction log belong to the current transaction. */
static void
log_reset_if_old(void)
{
	LocalTransactionId lxid = CF_CURRENT_LXID();

	if (log_lxid == lxid)
		return;
	if (log_parent != NULL && log_high > 0)
	{
		memset(log_parent, 0, sizeof(uint32) * Min(log_high + 1, log_size));
		memset(log_start, 0, sizeof(uint32) * Min(log_high + 1, log_size));
	}
	log_started = 0;
	log_committed = 0;
	log_high = 0;
	log_lxid = lxid;
}

/* Records a subtransaction's parent, and whether it committed, in the log. */
static void
log_record(SubTransactionId subid, SubTransactionId parent, bool committed)
{
	log_reset_if_old();
	if (subid >= log_size)
	{
		uint32		newsize = Max(64, log_size);

		while (newsize <= subid)
			newsize *= 2;
		if (log_parent == NULL)
		{
			log_parent = MemoryContextAllocZero(state_cxt, sizeof(uint32) * newsize);
			log_start = MemoryContextAllocZero(state_cxt, sizeof(uint32) * newsize);
		}
		else
		{
			log_parent = repalloc(log_parent, sizeof(uint32) * newsize);
			memset(log_parent + log_size, 0, sizeof(uint32) * (newsize - log_size));
			log_start = repalloc(log_start, sizeof(uint32) * newsize);
			memset(log_start + log_size, 0, sizeof(uint32) * (newsize - log_size));
		}
		log_size = newsize;
	}
	log_parent[subid] = parent | (committed ? SUBXACT_COMMITTED : 0);
	log_high = Max(log_high, subid);
}

/*
 * Logs subtransaction starts and commits.  Aborts are deliberately not
 * handled: a subtransaction that neither committed nor is still open has
 * aborted, and its state is stale.  A commit logs the parent too, for
 * subtransactions that started before this module was loaded.
 */
static void
cf_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			log_record(mySubid, parentSubid, false);
			log_start[mySubid] = layer_log_len;
			log_started++;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			log_record(mySubid, parentSubid, true);
			log_committed++;
			break;
		default:
			break;
	}
}

/* Returns the logged parent of a subtransaction; the top level if unknown. */
static SubTransactionId
log_parent_of(SubTransactionId subid)
{
	SubTransactionId parent = TopSubTransactionId;

	if (log_lxid == CF_CURRENT_LXID() && subid < log_size)
		parent = log_parent[subid] & ~SUBXACT_COMMITTED;
	return parent == InvalidSubTransactionId ? TopSubTransactionId : parent;
}

/* Did this subtransaction commit into its parent? */
static bool
log_committed_sub(SubTransactionId subid)
{
	return log_lxid == CF_CURRENT_LXID() && subid < log_size &&
		(log_parent[subid] & SUBXACT_COMMITTED) != 0;
}

/* Follows committed subtransactions up to the one that now owns their work. */
static SubTransactionId
settled_subid(SubTransactionId subid)
{
	while (subid > TopSubTransactionId && log_committed_sub(subid))
		subid = log_parent_of(subid);
	return subid;
}

/* Is the work of this subtransaction of the current transaction still live? */
bool
cf_subxact_is_live(SubTransactionId subid)
{
	SubTransactionId open = GetCurrentSubTransactionId();

	subid = settled_subid(subid);
	for (;;)
	{
		if (open == subid)
			return true;
		if (open <= subid || open <= TopSubTransactionId)
			return false;
		open = log_parent_of(open);
	}
}

/* How many subtransactions of this transaction have aborted so far. */
static int64
aborted_count(void)
{
	if (log_lxid != CF_CURRENT_LXID())
		return 0;
	return log_started - log_committed - (GetCurrentTransactionNestLevel() - 1);
}

/* dynahash support: the hash is computed when the key is built. */
static uint32
pending_hash(const void *key, Size keysize pg_attribute_unused())
{
	return ((const PendingKey *) key)->hash;
}

/* dynahash support: compares counter, layout and key, as the key type does. */
static int
pending_match(const void *key1, const void *key2, Size keysize pg_attribute_unused())
{
	const PendingKey *a = key1;
	const PendingKey *b = key2;
	const KeyLayout *layout = a->layout;

	if (a->counter_id != b->counter_id || a->kept != b->kept || a->hash != b->hash ||
		a->layout != b->layout ||
		a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
		return 1;
	for (int k = 0; k < layout->nkeys && !layout->all_bitwise; k++)
		if (!layout->bitwise[k] &&
			!DatumGetBool(FunctionCall2Coll((FmgrInfo *) &layout->eq[k], layout->collations[k],
											a->values[k], b->values[k])))
			return 1;
	return 0;
}

/*
 * Do equal values of a type, under a collation, always have equal bytes?
 * True of the types that keys are usually made of; for the others (numeric,
 * floating point, nondeterministic collations, ...) the type's equality and
 * hash functions are used.
 */
static bool
bitwise_equal(Oid type, Oid collation)
{
	switch (getBaseType(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case BOOLOID:
		case CHAROID:
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case UUIDOID:
		case BYTEAOID:
			return true;
		case TEXTOID:
		case VARCHAROID:
			return !OidIsValid(collation) || get_collation_isdeterministic(collation);
		default:
			return false;
	}
}

/*
 * Returns the layout of keys of these types and collations, interning it on
 * first use.
 */
KeyLayout *
cf_key_layout(int nkeys, Oid *types, Oid *collations)
{
	ListCell   *lc;
	KeyLayout  *layout;

	foreach(lc, layouts)
	{
		layout = lfirst(lc);
		if (layout->nkeys == nkeys &&
			memcmp(layout->types, types, sizeof(Oid) * nkeys) == 0 &&
			memcmp(layout->collations, collations, sizeof(Oid) * nkeys) == 0)
			return layout;
	}

	layout = MemoryContextAllocZero(state_cxt, sizeof(KeyLayout));
	layout->nkeys = nkeys;
	layout->all_bitwise = true;
	for (int k = 0; k < nkeys; k++)
	{
		layout->types[k] = types[k];
		layout->collations[k] = collations[k];
		get_typlenbyval(types[k], &layout->typlen[k], &layout->typbyval[k]);
		layout->bitwise[k] = bitwise_equal(types[k], collations[k]);
		if (!layout->bitwise[k])
		{
			TypeCacheEntry *typentry = lookup_type_cache(types[k], TYPECACHE_EQ_OPR |
														 TYPECACHE_HASH_PROC);

			if (!OidIsValid(typentry->eq_opr))
				elog(ERROR, "no equality operator for type %u", types[k]);
			fmgr_info_cxt(get_opcode(typentry->eq_opr), &layout->eq[k], state_cxt);
			layout->has_hash[k] = OidIsValid(typentry->hash_proc);
			if (layout->has_hash[k])
				fmgr_info_cxt(typentry->hash_proc, &layout->hash[k], state_cxt);
			layout->all_bitwise = false;
		}
	}
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(state_cxt);

		layouts = lappend(layouts, layout);
		MemoryContextSwitchTo(oldcxt);
	}
	return layout;
}

/*
 * Creates the pending hash on first use.  It starts small, since most
 * transactions touch a few parents and every commit walks its buckets; it
 * grows with a bulk statement and is started afresh once it is empty again
 * (release_if_empty).
 */
static void
ensure_pending(void)
{
	HASHCTL		ctl;

	if (pending != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PendingKey);
	ctl.entrysize = sizeof(PendingEntry);
	ctl.hash = pending_hash;
	ctl.match = pending_match;
	ctl.hcxt = pending_cxt;
	pending = hash_create("counterfield pending deltas", PENDING_INITIAL_SIZE, &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * Serializes into keybuf the columns of a parent key whose equal values
 * have equal bytes, and returns a hash of the others, made with their type's
 * hash function (none, for a type without one): equal keys serialize and
 * hash alike.  The key types of child and parent are binary compatible, so
 * either side's values may be used.
 */
static uint32
serialize_key(const KeyLayout *layout, Datum *values)
{
	uint32		hash = 0;

	resetStringInfo(&keybuf);
	for (int k = 0; k < layout->nkeys; k++)
	{
		if (!layout->bitwise[k])
		{
			if (layout->has_hash[k])
				hash = hash_combine(hash,
									DatumGetUInt32(FunctionCall1Coll((FmgrInfo *) &layout->hash[k],
																	 layout->collations[k],
																	 values[k])));
		}
		else if (layout->typbyval[k])
			appendBinaryStringInfo(&keybuf, (char *) &values[k], sizeof(Datum));
		else if (layout->typlen[k] == -1)
		{
			struct varlena *v = (struct varlena *) PG_DETOAST_DATUM_PACKED(values[k]);
			uint32		len = VARSIZE_ANY_EXHDR(v);

			appendBinaryStringInfo(&keybuf, (char *) &len, sizeof(len));
			appendBinaryStringInfo(&keybuf, VARDATA_ANY(v), len);
			if ((Pointer) v != DatumGetPointer(values[k]))
				pfree(v);
		}
		else if (layout->typlen[k] == -2)
			appendBinaryStringInfo(&keybuf, DatumGetCString(values[k]),
								   strlen(DatumGetCString(values[k])) + 1);
		else
			appendBinaryStringInfo(&keybuf, DatumGetPointer(values[k]), layout->typlen[k]);
	}
	return hash_combine(hash, hash_bytes((const unsigned char *) keybuf.data, keybuf.len));
}

/* A hash of a parent key that equal keys share, as the key type compares. */
uint32
cf_key_hash(const KeyLayout *layout, Datum *values)
{
	return serialize_key(layout, values);
}

/*
 * Fills in the probe key of (def, key values), kept or not; see
 * serialize_key.
 */
static void
build_key(CounterDef *def, Datum *values, bool kept, PendingKey *key)
{
	uint32		hash = serialize_key(def->layout, values);

	key->counter_id = def->id;
	key->kept = kept;
	key->layout = def->layout;
	key->values = values;
	key->len = keybuf.len;
	key->data = keybuf.data;
	key->hash = hash_combine(hash_uint32((uint32) def->id * 2 + kept), hash);
}

/* Copies key values, detoasted, into the given context. */
Datum *
cf_copy_key(CounterDef *def, Datum *values, MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	Datum	   *copy = palloc(sizeof(Datum) * def->nkeys);

	for (int k = 0; k < def->nkeys; k++)
	{
		if (def->fk_typlen[k] == -1)
			copy[k] = PointerGetDatum(PG_DETOAST_DATUM_COPY(values[k]));
		else
			copy[k] = datumCopy(values[k], def->fk_typbyval[k], def->fk_typlen[k]);
	}
	MemoryContextSwitchTo(oldcxt);
	return copy;
}

/* Removes an entry from the hash and frees what it owns. */
static void
remove_entry(PendingEntry *entry)
{
	pfree((void *) entry->key.data);
	if (entry->layers != &entry->first)
		pfree(entry->layers);
	entry->serial = 0;			/* layer log records of it are void */
	hash_search(pending, &entry->key, HASH_REMOVE, NULL);
	pfree(entry->values);
}

/* Drops the hash and everything in it, and forgets the layer log. */
static void
drop_pending(void)
{
	MemoryContextReset(pending_cxt);
	pending = NULL;
	layer_log_len = 0;
	serial_floor = entry_serial;
	/* Subtransactions that started before now have nothing in the log. */
	if (log_start != NULL && log_lxid == CF_CURRENT_LXID())
		memset(log_start, 0, sizeof(uint32) * Min(log_high + 1, log_size));
}

/* Frees the hash when it is empty and has grown large. */
static void
release_if_empty(void)
{
	if (pending != NULL && hash_get_num_entries(pending) == 0 &&
		MemoryContextMemAllocated(pending_cxt, true) > PENDING_RESET_BYTES)
		drop_pending();
}

/* Notes that an entry has a layer below the top level. */
static void
log_layer(PendingEntry *entry)
{
	layer_log = cf_grow_array(layer_log, layer_log_len, &layer_log_max, sizeof(LayerRecord),
							  state_cxt);
	layer_log[layer_log_len].entry = entry;
	layer_log[layer_log_len].serial = entry->serial;
	layer_log_len++;
}

/* Drops the stale layers of an entry; returns whether any layer is left. */
static bool
drop_stale_layers(PendingEntry *entry)
{
	int			kept = 0;

	if (entry->lxid != CF_CURRENT_LXID())
		return false;
	for (int i = 0; i < entry->nlayers; i++)
		if (cf_subxact_is_live(entry->layers[i].subid))
			entry->layers[kept++] = entry->layers[i];
	entry->nlayers = kept;
	return kept > 0;
}

/* The subtransactions open at the last prune, innermost first. */
static SubTransactionId *pruned_chain = NULL;
static int	pruned_chain_len = 0;
static int	pruned_chain_max = 0;
static SubTransactionId pruned_high = InvalidSubTransactionId;
static LocalTransactionId pruned_chain_lxid = InvalidLocalTransactionId;

/*
 * Saves the chain of open subtransactions and the highest one started.  The
 * log was compacted from position from on, so an open subtransaction that
 * started past it may have records before its start now: its start moves
 * back to from.
 */
static void
save_open_chain(uint32 from)
{
	SubTransactionId open = GetCurrentSubTransactionId();

	pruned_chain_len = 0;
	while (open > TopSubTransactionId)
	{
		if (log_lxid == CF_CURRENT_LXID() && open < log_size && log_start[open] > from)
			log_start[open] = from;
		pruned_chain = cf_grow_array(pruned_chain, pruned_chain_len, &pruned_chain_max,
									 sizeof(SubTransactionId), state_cxt);
		pruned_chain[pruned_chain_len++] = open;
		open = log_parent_of(open);
	}
	pruned_high = log_lxid == CF_CURRENT_LXID() ? log_high : InvalidSubTransactionId;
	pruned_chain_lxid = CF_CURRENT_LXID();
}

/* Where the layer log stood when a subtransaction started. */
static uint32
log_start_of(SubTransactionId subid)
{
	if (log_lxid == CF_CURRENT_LXID() && subid < log_size)
		return Min(log_start[subid], (uint32) layer_log_len);
	return 0;
}

/*
 * Removes the stale layers and entries that subtransactions left when they
 * aborted.  Only entries with a layer below the top level can have any, and
 * the layer log names them; only the part of the log written since the
 * first of the subtransactions that died since the last prune started is
 * read: those were either open then (the chain saved in pruned_chain) or
 * started since (above pruned_high).  Records of entries that were removed
 * since, or whose layers are all gone, are dropped from that part.
 */
static void
prune_aborted(void)
{
	uint32		from = layer_log_len;
	SubTransactionId low = TopSubTransactionId + 1;
	int			kept;

	if (pruned_chain_lxid == CF_CURRENT_LXID())
	{
		for (int i = 0; i < pruned_chain_len; i++)
			if (!cf_subxact_is_live(pruned_chain[i]))
				from = Min(from, log_start_of(pruned_chain[i]));
		low = pruned_high + 1;
	}
	for (SubTransactionId s = low; log_lxid == CF_CURRENT_LXID() && s <= log_high; s++)
		if (!cf_subxact_is_live(s))
			from = Min(from, log_start_of(s));

	kept = from;
	for (int i = from; i < layer_log_len; i++)
	{
		LayerRecord *record = &layer_log[i];
		PendingEntry *entry = record->entry;
		bool		below_top = false;

		if (entry->serial != record->serial)
			continue;			/* removed, and its element reused or free */
		if (!drop_stale_layers(entry))
		{
			remove_entry(entry);
			continue;
		}
		for (int l = 0; l < entry->nlayers && !below_top; l++)
			below_top = entry->layers[l].subid != TopSubTransactionId;
		if (below_top)
			layer_log[kept++] = *record;
	}
	layer_log_len = kept;
	save_open_chain(from);
	release_if_empty();
}

/*
 * Prunes when a transaction ended or a subtransaction aborted since last
 * time.  Storing state does this, and so does applying statement-mode deltas
 * that are not stored.  Entries of an ended transaction are all stale, so
 * the hash goes whole.
 */
void
cf_state_prune(void)
{
	LocalTransactionId lxid = CF_CURRENT_LXID();
	int64		aborted = aborted_count();

	if (pruned_lxid == lxid && pruned_aborted == aborted)
		return;
	if (pending != NULL && stored_lxid != lxid)
		drop_pending();
	else if (pending != NULL)
		prune_aborted();
	pruned_lxid = lxid;
	pruned_aborted = aborted;
}

/* Sums the live layers of an entry. */
static int64
live_delta(PendingEntry *entry)
{
	int64		sum = 0;

	if (entry->lxid != CF_CURRENT_LXID())
		return 0;
	for (int i = 0; i < entry->nlayers; i++)
		if (cf_subxact_is_live(entry->layers[i].subid))
			sum = cf_delta_add(sum, entry->layers[i].delta);
	return sum;
}

/* Adds a delta to the layer of the current subtransaction. */
static void
add_to_layer(PendingEntry *entry, int64 delta)
{
	SubTransactionId subid = GetCurrentSubTransactionId();

	if (entry->nlayers > 0)
	{
		DeltaLayer *top = &entry->layers[entry->nlayers - 1];

		/* Work of committed subtransactions belongs to their parent. */
		top->subid = settled_subid(top->subid);
		if (entry->nlayers > 1 && entry->layers[entry->nlayers - 2].subid == top->subid)
		{
			entry->layers[entry->nlayers - 2].delta =
				cf_delta_add(entry->layers[entry->nlayers - 2].delta, top->delta);
			entry->nlayers--;
			top--;
		}
		if (top->subid == subid)
		{
			top->delta = cf_delta_add(top->delta, delta);
			return;
		}
	}

	if (entry->nlayers == entry->maxlayers)
	{
		int			newmax = entry->maxlayers * 2;

		if (entry->layers == &entry->first)
		{
			entry->layers = MemoryContextAlloc(pending_cxt, sizeof(DeltaLayer) * newmax);
			entry->layers[0] = entry->first;
		}
		else
			entry->layers = repalloc(entry->layers, sizeof(DeltaLayer) * newmax);
		entry->maxlayers = newmax;
	}
	entry->layers[entry->nlayers].subid = subid;
	entry->layers[entry->nlayers].delta = delta;
	entry->nlayers++;
	if (subid != TopSubTransactionId)
		log_layer(entry);
}

/* Finds or creates the entry of (def, key values). */
static PendingEntry *
enter_entry(CounterDef *def, Datum *values, bool kept)
{
	PendingKey	probe;
	PendingEntry *entry;
	bool		found;

	ensure_pending();
	build_key(def, values, kept, &probe);
	entry = hash_search(pending, &probe, HASH_ENTER, &found);
	if (!found)
	{
		char	   *data = MemoryContextAlloc(pending_cxt, probe.len);

		memcpy(data, probe.data, probe.len);
		entry->key.data = data;
		entry->serial = ++entry_serial;
		entry->lxid = CF_CURRENT_LXID();
		entry->transactional = def->transactional || kept;
		entry->parent_relid = def->parent_relid;
		entry->counter_attnum = def->counter_attnum;
		entry->counting = 0;
		entry->values = cf_copy_key(def, values, pending_cxt);
		entry->key.values = entry->values;
		entry->nlayers = 0;
		entry->maxlayers = 1;
		entry->layers = &entry->first;
	}
	return entry;
}

/*
 * Stores a delta for the parent key of a counted row.  Entries first touched
 * by this counting (see RowCounting in trigger.c) are appended to *touched,
 * so that the caller can apply them; the list names each with its serial,
 * since a statement that runs while the rows are being counted (one that a
 * condition's function runs, say) may apply and remove an entry first.
 */
void
cf_state_add(CounterDef *def, Datum *values, int64 delta, uint64 counting, List **touched)
{
	PendingEntry *entry;

	cf_state_prune();
	entry = enter_entry(def, values, false);
	add_to_layer(entry, delta);
	stored_lxid = entry->lxid;
	if (entry->counting != counting)
	{
		LayerRecord *record = palloc(sizeof(LayerRecord));

		entry->counting = counting;
		record->entry = entry;
		record->serial = entry->serial;
		*touched = lappend(*touched, record);
	}
}

/*
 * Stores a statement-mode delta whose parent row the statement's flush did
 * not find, to be applied at commit with the transaction-mode deltas: the
 * row may be created meanwhile (see cf_apply).
 */
void
cf_state_add_at_commit(CounterDef *def, Datum *values, int64 delta)
{
	PendingEntry *entry;

	cf_state_prune();
	entry = enter_entry(def, values, true);
	add_to_layer(entry, delta);
	stored_lxid = entry->lxid;
}

/*
 * Makes the deltas of flush items pending again, in the current
 * subtransaction, each where it was taken from: a transaction-mode
 * counter's own entry, or a statement-mode counter's kept for commit.
 */
void
cf_state_restore(FlushItem *items, int nitems)
{
	cf_state_prune();
	for (int i = 0; i < nitems; i++)
	{
		PendingEntry *entry = enter_entry(items[i].def, items[i].values,
										  !items[i].def->transactional);

		add_to_layer(entry, items[i].delta);
		stored_lxid = entry->lxid;
	}
}

/*
 * Returns the live pending delta of (def, key values): a transaction-mode
 * counter's, or a statement-mode counter's kept for commit.  With cancel,
 * it is cancelled by a layer of the current subtransaction, so that
 * rolling it back restores it.
 */
int64
cf_state_pending(CounterDef *def, Datum *values, bool cancel)
{
	PendingKey	probe;
	PendingEntry *entry;
	int64		live;

	if (pending == NULL)
		return 0;
	build_key(def, values, !def->transactional, &probe);
	entry = hash_search(pending, &probe, HASH_FIND, NULL);
	live = entry ? live_delta(entry) : 0;
	if (cancel && live != 0)
		add_to_layer(entry, cf_delta_sub(0, live));
	return live;
}

/*
 * Cancels the live pending deltas of a counter, whose stored values are being
 * set from the truth (reinit, TRUNCATE).  The cancellation is itself a layer
 * of the current subtransaction, so rolling it back restores the deltas.
 */
void
cf_state_cancel_counter(CounterDef *def)
{
	HASH_SEQ_STATUS status;
	PendingEntry *entry;

	cf_state_prune();
	if (pending == NULL)
		return;
	hash_seq_init(&status, pending);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		int64		live;

		if (entry->key.counter_id != def->id)
			continue;
		live = live_delta(entry);
		if (live != 0)
			add_to_layer(entry, cf_delta_sub(0, live));
	}
}

/*
 * Detaches the live delta of one entry into an item; true if non-zero.  With
 * cancel, the entry keeps its layers and gets one more in the current
 * subtransaction that cancels the delta taken: should the subtransaction
 * that applies the item roll back, the delta is pending again.
 */
static bool
take_entry(CounterDef *def, PendingEntry *entry, FlushItem *item, bool cancel)
{
	int64		live = live_delta(entry);

	if (def != NULL && live != 0 && def->layout != entry->key.layout)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot apply the pending changes of counter \"%s\" on table \"%s\"",
						get_attname(def->parent_relid, def->counter_attnum, false),
						get_rel_name(def->parent_relid)),
				 errdetail("The type of a key column changed after this transaction counted rows."),
				 errhint("Change the types of key columns in a transaction of their own.")));
	item->counter_id = entry->key.counter_id;
	item->def = def;
	item->delta = live;
	item->values = (def != NULL && live != 0) ?
		cf_copy_key(def, entry->values, CurrentMemoryContext) : NULL;

	if (cancel)
	{
		if (live != 0)
			add_to_layer(entry, cf_delta_sub(0, live));
		return item->values != NULL;
	}

	/* What is left are stale layers, pruned later like any others. */
	if (entry->lxid == CF_CURRENT_LXID())
	{
		int			kept = 0;

		for (int i = 0; i < entry->nlayers; i++)
			if (!cf_subxact_is_live(entry->layers[i].subid))
				entry->layers[kept++] = entry->layers[i];
		entry->nlayers = kept;
	}
	if (entry->nlayers == 0)
		remove_entry(entry);
	return item->values != NULL;
}

/*
 * Detaches into items the live deltas of this transaction's entries of
 * counters in the given flush mode, of the one counter only if not NULL
 * (otherwise each looked up in defs); returns how many.
 */
static int
take_all(CounterDefs *defs, CounterDef *only, bool transactional, bool cancel,
		 FlushItem *items)
{
	HASH_SEQ_STATUS status;
	PendingEntry *entry;
	int			n = 0;

	hash_seq_init(&status, pending);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->transactional == transactional &&
			entry->lxid == CF_CURRENT_LXID() &&
			(only == NULL || entry->key.counter_id == only->id) &&
			take_entry(only ? only : cf_defs_counter(defs, entry->key.counter_id),
					   entry, &items[n], cancel))
			n++;
	}
	return n;
}

/*
 * Detaches the live deltas of the given entries (or of all entries when
 * entries is NIL) of counters in the given flush mode, and returns them as
 * items to apply; see take_entry for cancel.  Counters that no longer exist
 * are dropped.
 */
FlushItem *
cf_state_take(CounterDefs *defs, List *entries, bool transactional, bool cancel, int *nitems)
{
	FlushItem  *items;
	int			n = 0;

	*nitems = 0;
	if (pending == NULL)
		return NULL;

	if (entries != NIL)
	{
		ListCell   *lc;

		items = palloc(sizeof(FlushItem) * list_length(entries));
		foreach(lc, entries)
		{
			LayerRecord *record = lfirst(lc);
			PendingEntry *entry = record->entry;

			if (record->serial > serial_floor && entry->serial == record->serial &&
				entry->transactional == transactional &&
				take_entry(cf_defs_counter(defs, entry->key.counter_id), entry, &items[n], cancel))
				n++;
		}
	}
	else
	{
		items = palloc(sizeof(FlushItem) * Max(hash_get_num_entries(pending), 1));
		n = take_all(defs, NULL, transactional, cancel, items);
	}
	release_if_empty();
	*nitems = n;
	return items;
}

/*
 * Detaches the live deltas of one counter that wait for commit, each
 * cancelled by a layer of the current subtransaction (see take_entry), and
 * returns them as items to apply: a deferred counter's, recorded in the
 * ledger before it is read.
 */
FlushItem *
cf_state_take_counter(CounterDef *def, int *nitems)
{
	FlushItem  *items;

	*nitems = 0;
	if (!cf_state_has_live())
		return NULL;
	items = palloc(sizeof(FlushItem) * hash_get_num_entries(pending));
	*nitems = take_all(NULL, def, true, true, items);
	return items;
}

/* Might the current transaction have live deltas? */
bool
cf_state_has_live(void)
{
	return pending != NULL && stored_lxid == CF_CURRENT_LXID() &&
		hash_get_num_entries(pending) > 0;
}

/* Emits one tracked_states row. */
static void
put_state_row(Tuplestorestate *store, TupleDesc desc, PendingEntry *entry,
			  CounterDef *def, int64 delta, bool stale)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	char	   *column = get_attname(entry->parent_relid, entry->counter_attnum, true);

	values[0] = ObjectIdGetDatum(entry->parent_relid);
	if (column != NULL)
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(column));
	else
		nulls[1] = true;
	/* The key as it was stored, whatever its type is now, if it still exists. */
	nulls[2] = (def == NULL);
	for (int k = 0; k < entry->key.layout->nkeys && !nulls[2]; k++)
		nulls[2] = !SearchSysCacheExists1(TYPEOID,
										  ObjectIdGetDatum(entry->key.layout->types[k]));
	if (!nulls[2])
		values[2] = CStringGetTextDatum(cf_key_text(entry->key.layout->nkeys,
													(Oid *) entry->key.layout->types,
													entry->values));
	values[3] = Int64GetDatum(delta);
	values[4] = BoolGetDatum(stale);
	tuplestore_putvalues(store, desc, values, nulls);
}

PG_FUNCTION_INFO_V1(counterfield_tracked_states);

/*
 * tracked_states(prune): the pending deltas of this backend, live and
 * (without pruning) stale.
 */
Datum
counterfield_tracked_states(PG_FUNCTION_ARGS)
{
	bool		prune = PG_GETARG_BOOL(0);
	TupleDesc	desc;
	Tuplestorestate *store = cf_srf_begin(fcinfo, &desc);
	CounterDefs *defs;
	HASH_SEQ_STATUS status;
	PendingEntry *entry;

	if (prune)
		cf_state_prune();
	if (pending == NULL)
		return (Datum) 0;

	defs = cf_defs_acquire();
	hash_seq_init(&status, pending);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		CounterDef *def = cf_defs_counter(defs, entry->key.counter_id);
		bool		current = entry->lxid == CF_CURRENT_LXID();
		int64		live = 0;
		int64		stale = 0;
		bool		any_live = false;
		bool		any_stale = false;

		for (int i = 0; i < entry->nlayers; i++)
		{
			if (current && cf_subxact_is_live(entry->layers[i].subid))
			{
				live = cf_delta_add(live, entry->layers[i].delta);
				any_live = true;
			}
			else
			{
				stale = cf_delta_add(stale, entry->layers[i].delta);
				any_stale = true;
			}
		}
		if (any_live)
			put_state_row(store, desc, entry, def, live, false);
		if (any_stale)
			put_state_row(store, desc, entry, def, stale, true);
	}
	cf_defs_release();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(counterfield_has_tracked_states);

/* has_tracked_states(): prunes, then tells whether any state is left. */
Datum
counterfield_has_tracked_states(PG_FUNCTION_ARGS)
{
	cf_state_prune();
	PG_RETURN_BOOL(pending != NULL && hash_get_num_entries(pending) > 0);
}
