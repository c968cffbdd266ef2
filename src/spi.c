/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  Running SQL through SPI: connecting, running a statement, and the
 *	  plans that counterfield prepares once and keeps for the life of the
 *	  backend (in its definitions, which free them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "counterfield.h"

/* Column column (from 1) of row row of the result of the last SPI query. */
Datum
cf_spi_value(uint64 row, int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, isnull);
}

/* Connects to SPI or fails. */
void
cf_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* Runs a query with parameters; checks the result code. */
void
cf_spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
		   bool read_only, int expected)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);

	if (ret != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}

/* Returns whether a kept plan is still valid; frees an invalidated one. */
bool
cf_plan_is_current(SPIPlanPtr *plan)
{
	if (*plan != NULL && SPI_plan_is_valid(*plan))
		return true;
	if (*plan != NULL)
		SPI_freeplan(*plan);
	*plan = NULL;
	return false;
}

/* Prepares a plan with cursor options, keeps it and stores it. */
SPIPlanPtr
cf_keep_plan_options(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes, int options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	*slot = plan;
	return plan;
}

/* Prepares a plan, keeps it for the life of the backend, and stores it. */
SPIPlanPtr
cf_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	return cf_keep_plan_options(slot, sql, nargs, argtypes, 0);
}
