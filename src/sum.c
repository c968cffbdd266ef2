/*-------------------------------------------------------------------------
 *
 * sum.c
 *	  What one counted row adds to its parent, and the units deltas are in.
 *
 * A counter counts rows (each adds 1) or, with sum_column, sums a child
 * column (each row adds its value; NULL adds nothing).  Deltas are 64-bit
 * integers everywhere, in the state cache, the flush and the ledger.  For
 * an integer sum column they are the values themselves.  A numeric sum
 * column has a declared scale s, so every value is a whole number of
 * units of 10^-s, and its deltas count those units; they become numeric
 * values where they meet the parent column: in the SQL that adds them
 * (cf_value_sql), and in the values a new parent row gets
 * (cf_units_datum).  Deltas add up with overflow checks: a sum that does
 * not fit raises 22003, as the column's own type would.
 *
 * This file also checks which column types a counter may have.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "counterfield.h"

/* The largest scale whose unit, 10^-scale, a bigint can count one of. */
#define MAX_SUM_SCALE 18

/* Refuses a sum of deltas that a bigint cannot hold. */
static void
delta_out_of_range(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("sum of counter deltas is out of range for type bigint")));
}

/* Adds two deltas, or subtracts b from a, refusing a bigint overflow. */
static int64
delta_combine(int64 a, int64 b, bool subtract)
{
	int64		result;

	if (subtract ? pg_sub_s64_overflow(a, b, &result) : pg_add_s64_overflow(a, b, &result))
		delta_out_of_range();
	return result;
}

/* Adds two deltas, refusing a sum that a bigint cannot hold. */
int64
cf_delta_add(int64 a, int64 b)
{
	return delta_combine(a, b, false);
}

/* Subtracts a delta from another, refusing a result that a bigint cannot hold. */
int64
cf_delta_sub(int64 a, int64 b)
{
	return delta_combine(a, b, true);
}

/* A numeric column's type modifier has no scale. */
#define NO_SCALE INT_MIN

/*
 * The scale of a numeric column's type modifier, or NO_SCALE.  From
 * PostgreSQL 15 on a scale may be negative (numeric(10,-2) keeps whole
 * hundreds): its low 11 bits are signed.
 */
static int
typmod_scale(int32 typmod)
{
	if (typmod < (int32) VARHDRSZ)
		return NO_SCALE;
#if PG_VERSION_NUM >= 150000
	return (((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
#else
	return (typmod - VARHDRSZ) & 0xffff;
#endif
}

/* The scale of the units a numeric sum column's values count in. */
static int
unit_scale(int32 typmod)
{
	return Max(typmod_scale(typmod), 0);
}

/*
 * Checks the types of a counter's column and, for a sum, of its sum column
 * (InvalidAttrNumber for a count).  A count goes into smallint, integer or
 * bigint; a sum of smallint, integer or bigint values also into numeric;
 * a sum of numeric values, which must have a declared scale, only into
 * numeric of at least that scale.  Reports a mismatch at elevel (ERROR in
 * add_counter and for DDL that would break a counter), or with elevel 0
 * only returns false.
 */
bool
cf_check_counter_types(Oid parent, AttrNumber counter_attnum, Oid child,
					   AttrNumber sum_attnum, int elevel)
{
	char	   *column = get_attname(parent, counter_attnum, false);
	Oid			type;
	int32		typmod;
	Oid			collation;
	Oid			sum_type;
	int32		sum_typmod;
	char	   *sum_column;

	get_atttypetypmodcoll(parent, counter_attnum, &type, &typmod, &collation);
	if (sum_attnum == InvalidAttrNumber)
	{
		if (CF_COUNTER_TYPE(type))
			return true;
		if (elevel > 0)
			ereport(elevel,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("counter column \"%s\" must be of type smallint, integer or bigint, not %s",
							column, format_type_be(type))));
		return false;
	}

	sum_column = get_attname(child, sum_attnum, false);
	get_atttypetypmodcoll(child, sum_attnum, &sum_type, &sum_typmod, &collation);
	if (!CF_COUNTER_TYPE(type) && type != NUMERICOID)
	{
		if (elevel > 0)
			ereport(elevel,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("counter column \"%s\" of a sum must be of type smallint, integer, bigint or numeric, not %s",
							column, format_type_be(type))));
		return false;
	}
	if (!CF_COUNTER_TYPE(sum_type) && sum_type != NUMERICOID)
	{
		if (elevel > 0)
			ereport(elevel,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("sum column \"%s\" must be of type smallint, integer, bigint or numeric, not %s",
							sum_column, format_type_be(sum_type))));
		return false;
	}
	if (sum_type == NUMERICOID && type != NUMERICOID)
	{
		if (elevel > 0)
			ereport(elevel,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("numeric sum column \"%s\" cannot be summed into counter column \"%s\" of type %s",
							sum_column, column, format_type_be(type)),
					 errhint("Make the counter column numeric.")));
		return false;
	}
	if (sum_type == NUMERICOID &&
		(typmod_scale(sum_typmod) == NO_SCALE || typmod_scale(sum_typmod) > MAX_SUM_SCALE))
	{
		if (elevel > 0)
			ereport(elevel,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("numeric sum column \"%s\" must have a declared scale of at most %d",
							sum_column, MAX_SUM_SCALE),
					 errdetail("Numeric sums are kept exactly as whole units of the column's scale."),
					 errhint("Declare the column with a precision and scale, such as numeric(12,2).")));
		return false;
	}
	if (type == NUMERICOID && typmod_scale(typmod) != NO_SCALE &&
		typmod_scale(typmod) < (sum_type == NUMERICOID ? unit_scale(sum_typmod) : 0))
	{
		if (elevel > 0)
			ereport(elevel,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("counter column \"%s\" has a scale of %d, too small for the sums of column \"%s\"",
							column, typmod_scale(typmod), sum_column),
					 errdetail("Its values would be rounded."),
					 errhint("Give the counter column a scale of at least %d, or none.",
							 sum_type == NUMERICOID ? unit_scale(sum_typmod) : 0)));
		return false;
	}
	return true;
}

/* "1000" for 10^3, or "0.001" for 10^-3, as SQL's numeric literals are. */
static char *
power_of_ten(int scale, bool down)
{
	StringInfoData str;

	initStringInfo(&str);
	appendStringInfoString(&str, down && scale > 0 ? "0." : "1");
	for (int i = 0; i < scale - (down ? 1 : 0); i++)
		appendStringInfoChar(&str, '0');
	if (down && scale > 0)
		appendStringInfoChar(&str, '1');
	return str.data;
}

/*
 * Sets up a loaded counter's sum: the sum column's type, and for numeric
 * its scale and the factors between units and values, in the counter's
 * memory context.  Types were checked by cf_check_counter_types.
 */
void
cf_sum_prepare(CounterDef *def)
{
	int32		typmod;
	Oid			collation;
	MemoryContext oldcxt;

	def->counter_type = get_atttype(def->parent_relid, def->counter_attnum);
	if (def->sum_attnum == InvalidAttrNumber)
		return;
	get_atttypetypmodcoll(def->child_relid, def->sum_attnum, &def->sum_type, &typmod,
						  &collation);
	if (def->sum_type != NUMERICOID)
		return;
	def->sum_scale = unit_scale(typmod);
	oldcxt = MemoryContextSwitchTo(def->cxt);
	def->sum_up = DirectFunctionCall3(numeric_in,
									  CStringGetDatum(power_of_ten(def->sum_scale, false)),
									  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	def->sum_down = DirectFunctionCall3(numeric_in,
										CStringGetDatum(power_of_ten(def->sum_scale, true)),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Refuses a numeric value of a sum column (or a sum of them) that is NaN or
 * infinite: no later delta could take it back out of the parent's sum.
 */
void
cf_check_finite(CounterDef *def, Datum value)
{
	Numeric		num = DatumGetNumeric(value);

	if (numeric_is_nan(num) || numeric_is_inf(num))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sum column \"%s\" cannot hold %s",
						get_attname(def->child_relid, def->sum_attnum, false),
						numeric_is_nan(num) ? "NaN" : "infinity"),
				 errdetail("counterfield sums only finite values."),
				 errhint("Add a CHECK constraint that keeps such values out of the column.")));
}

/*
 * What one row adds to its parent key, with sign 1 for a new row and -1
 * for an old one: sign for a count; for a sum, the row's value in units,
 * times sign.  Returns false if the row adds nothing (its value is NULL or
 * zero).  A numeric NaN or infinity cannot be taken back by a later delta
 * and is refused.
 */
bool
cf_row_amount(CounterDef *def, TupleTableSlot *row, int64 sign, int64 *amount)
{
	Datum		value;
	bool		isnull;
	int64		units;

	if (def->sum_attnum == InvalidAttrNumber)
	{
		*amount = sign;
		return true;
	}
	value = slot_getattr(row, def->sum_attnum, &isnull);
	if (isnull)
		return false;
	switch (def->sum_type)
	{
		case INT2OID:
			units = DatumGetInt16(value);
			break;
		case INT4OID:
			units = DatumGetInt32(value);
			break;
		case INT8OID:
			units = DatumGetInt64(value);
			break;
		case NUMERICOID:
			{
				cf_check_finite(def, value);
				if (def->sum_scale > 0)
					value = DirectFunctionCall2(numeric_mul, value, def->sum_up);
				units = DatumGetInt64(DirectFunctionCall1(numeric_int8, value));
				break;
			}
		default:
			elog(ERROR, "sum column of counter %d has unexpected type %s", def->id,
				 format_type_be(def->sum_type));
	}
	if (units == 0)
		return false;
	/* Its negation would not fit: it could get in, but never out again. */
	if (units == PG_INT64_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sum column \"%s\" cannot hold %s",
						get_attname(def->child_relid, def->sum_attnum, false),
						"-9223372036854775808"),
				 errdetail("counterfield sums values whose negation fits in a bigint.")));
	*amount = sign < 0 ? -units : units;
	return true;
}

/* A delta in units as a numeric value of the counter's column. */
Datum
cf_units_numeric(CounterDef *def, int64 units)
{
	Datum		value = DirectFunctionCall1(int8_numeric, Int64GetDatum(units));

	if (def->sum_scale > 0)
		value = DirectFunctionCall2(numeric_mul, value, def->sum_down);
	return value;
}

/*
 * A counter's value in units as a datum of the counter column's type,
 * refusing a value that the type cannot hold as storing it would.
 */
Datum
cf_units_datum(CounterDef *def, int64 units, Oid type)
{
	const char *column = get_attname(def->parent_relid, def->counter_attnum, false);

	if ((type == INT2OID && (units < PG_INT16_MIN || units > PG_INT16_MAX)) ||
		(type == INT4OID && (units < PG_INT32_MIN || units > PG_INT32_MAX)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s " INT64_FORMAT " is out of range for counter column \"%s\" of type %s",
						def->sum_attnum == InvalidAttrNumber ? "count" : "sum",
						units, column, format_type_be(type)),
				 errhint("Change the column to a wider integer type.")));
	switch (type)
	{
		case INT2OID:
			return Int16GetDatum((int16) units);
		case INT4OID:
			return Int32GetDatum((int32) units);
		case INT8OID:
			return Int64GetDatum(units);
		case NUMERICOID:
			{
				Oid			typid;
				int32		typmod;
				Oid			collation;

				get_atttypetypmodcoll(def->parent_relid, def->counter_attnum, &typid, &typmod,
									  &collation);

				/* numeric() checks the precision, as storing the value would */
				return DirectFunctionCall2(numeric, cf_units_numeric(def, units),
										   Int32GetDatum(typmod));
			}
		default:
			elog(ERROR, "counter column \"%s\" has unexpected type %s", column,
				 format_type_be(type));
	}
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * SQL for what a counter's counted rows add up to, as a value of the
 * parent's column (an aggregate over the child): count(*), or the sum of
 * the sum column, 0 where every value is NULL.
 */
char *
cf_aggregate_sql(CounterDef *def)
{
	if (def->sum_attnum == InvalidAttrNumber)
		return "pg_catalog.count(*)";
	return psprintf("COALESCE(pg_catalog.sum(%s), 0)",
					cf_column_sql(def->child_relid, def->sum_attnum));
}

/* SQL that turns a value of the counter (SQL expression) into bigint units. */
char *
cf_units_sql(CounterDef *def, const char *value)
{
	if (def->sum_scale == 0)
		return psprintf("CAST(%s AS pg_catalog.int8)", value);
	return psprintf("CAST((%s) OPERATOR(pg_catalog.*) %s AS pg_catalog.int8)", value,
					power_of_ten(def->sum_scale, false));
}

/* SQL that turns bigint units (SQL expression) into a value of the counter. */
char *
cf_value_sql(CounterDef *def, const char *units)
{
	if (def->sum_scale == 0)
		return pstrdup(units);
	return psprintf("(%s OPERATOR(pg_catalog.*) %s)", units, power_of_ten(def->sum_scale, true));
}
